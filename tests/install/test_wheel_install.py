"""The install a user does first: the built wheel, without extras, in a fresh virtual
environment, then `mlops-lab demo`.

torch comes only with the `[torch]` extra, so here the quickstart's `%%mlops train` cell
takes its scikit-learn body, and a script that imports torch is refused before anything
is submitted, with one line naming the extra. Builds and installs everything (tens of
minutes on a small machine): marked `install`, which the default run (and so CI) leaves out;
run it before a release with `pytest -m install`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.install, pytest.mark.timeout(3600)]

CHECKS = """
import json, sys
import mlops_lab
from mlops_lab.errors import LabError
lab = mlops_lab.connect(sys.argv[1])
challenger = lab.models.get("fraud@challenger")
try:
    lab.training.submit("import torch\\n", name="needs-torch")
    refused = ""
except LabError as exc:
    refused = str(exc)
print(json.dumps({
    "flavors": sorted(lab.models.load(challenger.ref).metadata.flavors),
    "verdict": challenger.lineage.get("mlops.validation.verdict"),
    "refused": refused,
}))
"""


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "VIRTUAL_ENV"))}
    done = subprocess.run(
        ["nice", *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
    return done


def test_wheel_without_extras_runs_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
         tmp_path, 900)  # fmt: skip
    (wheel,) = dist.glob("mlops_lab-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 300)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path, 1800)
    missing = subprocess.run(
        [str(python), "-c", "import torch"], capture_output=True, text=True, check=False
    )
    assert missing.returncode != 0, "torch is installed without the [torch] extra"

    demo = tmp_path / "demo"
    shown = _run([str(venv / "bin" / "mlops-lab"), "demo", "--dir", str(demo)], tmp_path, 1800)
    assert "Executed notebook" in shown.stdout
    executed = nbformat.read(demo / "quickstart.out.ipynb", as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []

    found = json.loads(_run([str(python), "-c", CHECKS, str(demo)], demo, 300).stdout)
    assert found["flavors"] == ["python_function", "sklearn"]  # the scikit-learn body ran
    assert found["verdict"] == "passed"  # the quickstart validated the challenger
    assert found["refused"].startswith("the training script imports torch, which is not")
    assert "pip install 'mlops-lab[torch]'" in found["refused"]
    assert "\n" not in found["refused"]
