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
import socket
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _errors(notebook: Path) -> list[str]:
    if not notebook.is_file():
        return []
    executed = nbformat.read(notebook, as_version=4)
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(executed.cells)
        for o in cell.get("outputs", [])
        if o.output_type == "error"
    ]


def _run(
    command: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "VIRTUAL_ENV"))}
    done = subprocess.run(
        ["nice", *command],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}\n"
        f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}\n"
        f"errors in {cwd / 'quickstart.out.ipynb'}: {_errors(cwd / 'quickstart.out.ipynb')}"
    )
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
    demo.mkdir()
    # free ports, so another Ray head or Serve proxy on this machine (8265, 8000) is no obstacle
    ports = {
        "MLOPS_TRAINING_DASHBOARD_PORT": str(_free_port()),
        "MLOPS_SERVING_HTTP_PORT": str(_free_port()),
    }
    shown = _run([str(venv / "bin" / "mlops-lab"), "demo", "--dir", str(demo)], demo, 1800, ports)
    assert "Executed notebook" in shown.stdout
    assert _errors(demo / "quickstart.out.ipynb") == []

    found = json.loads(_run([str(python), "-c", CHECKS, str(demo)], demo, 300, ports).stdout)
    assert found["flavors"] == ["python_function", "sklearn"]  # the scikit-learn body ran
    assert found["verdict"] == "passed"  # the quickstart validated the challenger
    assert found["refused"].startswith("the training script imports torch, which is not")
    assert "pip install 'mlops-lab[torch]'" in found["refused"]
    assert "\n" not in found["refused"]
