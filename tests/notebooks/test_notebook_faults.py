"""The fault matrix: however a cell ends the job (exception, sys.exit(1), a failing %mlops
magic, the kernel SIGKILLed, a cell past --timeout), the job fails within timeout + 30 s,
names the failing cell in one line, and leaves a valid output notebook that records it.

One run per case here (through the Python API, sharing one project), and the exit status of
`mlops-lab run` for one case; benchmarks/notebooks_fault_matrix.py runs every case 20 times
through the CLI and counts hangs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

import mlops_lab
from mlops_lab.services.notebooks import NotebookRunError

pytestmark = pytest.mark.slow

TIMEOUT = 5
FAULTS = {
    "exception": ("raise RuntimeError('boom')", "RuntimeError: boom"),
    "sys-exit": ("import sys\nsys.exit(1)", "SystemExit: 1"),
    "magic": ("%mlops run missing.ipynb", "NotFoundError"),
    "sigkill": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "DeadKernelError"),
    "timeout": ("import time\ntime.sleep(600)", "CellTimeoutError"),
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("faults")
    lab = mlops_lab.connect(root)
    lab.init()
    return lab


def fault_notebook(make_notebook: Any, root: Path, case: str) -> tuple[Path, str]:
    code, _ = FAULTS[case]
    path = make_notebook(root / f"{case}.ipynb", "n = 1", "print('first')", code, "print('never')")
    return path, code


def check_output(out: Path, code: str) -> None:
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    (failing,) = [c for c in nb.cells if c.get("source") == code]
    assert failing.metadata.papermill["status"] == "failed"
    assert failing.metadata.papermill["exception"] is True
    assert any(o.get("output_type") == "error" for o in failing.outputs)
    assert nb.metadata.papermill["exception"] is True
    shown = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "first" in shown and "never" not in shown


@pytest.mark.parametrize("case", list(FAULTS))
def test_fault_fails_the_job_cleanly(shared: Any, make_notebook: Any, case: str) -> None:
    source, code = fault_notebook(make_notebook, shared.root, case)
    out = shared.root / f"{case}.out.ipynb"
    started = time.monotonic()
    with pytest.raises(NotebookRunError) as info:
        shared.notebooks.run(source, output=out, timeout=TIMEOUT, cwd=shared.root)
    assert time.monotonic() - started < TIMEOUT + 30
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{case}.ipynb: cell 2 failed: "), message
    assert FAULTS[case][1] in message
    assert f"executed notebook kept at {out}" in message
    check_output(out, code)
    run = shared.tracking.client.get_run(info.value.fields["run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["mlops.job.failed_cell"] == "2"


def test_cli_exits_non_zero(shared: Any, make_notebook: Any) -> None:
    source, code = fault_notebook(make_notebook, shared.root, "sigkill")
    out = shared.root / "cli.out.ipynb"
    started = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "mlops-lab"),
            "run",
            str(source),
            "--output",
            str(out),
            "--timeout",
            str(TIMEOUT),
        ],
        capture_output=True,
        text=True,
        cwd=shared.root,
        timeout=TIMEOUT + 60,
    )
    assert time.monotonic() - started < TIMEOUT + 30
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cell 2 failed: DeadKernelError" in errors[0], done.stderr
    check_output(out, code)
