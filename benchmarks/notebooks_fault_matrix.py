"""Fault matrix under repetition: each way a cell can end a notebook job (exception,
sys.exit(1), a failing %mlops magic, the kernel SIGKILLed, a cell past --timeout) run N
times; counts runs that did not fail cleanly within timeout + 30 s (hangs) or left no valid
output notebook naming the failing cell.

    python benchmarks/notebooks_fault_matrix.py [--repeat 20] [--via cli|api] [--timeout 5]

``--via cli`` runs `mlops-lab run` as a subprocess (the exit status is checked);
``--via api`` calls lab.notebooks.run in this process (faster: MLflow is imported once).
Prints per case: runs, clean failures, hangs, slowest seconds; and "hangs = 0 (goal 0)".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

FAULTS = {
    "exception": "raise RuntimeError('boom')",
    "sys-exit": "import sys\nsys.exit(1)",
    "magic": "%mlops run missing.ipynb",
    "sigkill": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "timeout": "import time\ntime.sleep(600)",
}


def write(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "mlops", "language": "python", "display_name": "Python 3 (MLOps)"}
    }
    nb.cells = [
        nbformat.v4.new_code_cell("n = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('first')"),
        nbformat.v4.new_code_cell(code),
        nbformat.v4.new_code_cell("print('never')"),
    ]
    nbformat.write(nb, path)


def recorded(out: Path, code: str) -> bool:
    try:
        nb = nbformat.read(out, as_version=4)
        nbformat.validate(nb)
    except Exception:
        return False
    failing = [c for c in nb.cells if c.get("source") == code]
    if len(failing) != 1 or failing[0].metadata.get("papermill", {}).get("status") != "failed":
        return False
    shown = json.dumps([c.get("outputs", []) for c in nb.cells])
    return "first" in shown and "never" not in shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--via", choices=["cli", "api"], default="cli")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--cases", default=",".join(FAULTS))
    args = parser.parse_args()

    import mlops_lab
    from mlops_lab.errors import LabError

    root = Path(tempfile.mkdtemp(prefix="mlops-faults-"))
    lab = mlops_lab.connect(root)
    lab.init()
    cli = Path(sys.executable).parent / "mlops-lab"
    limit = args.timeout + 30
    total_hangs = total_bad = 0
    print(f"{'case':<10} {'runs':>4} {'clean':>5} {'hangs':>5} {'bad':>4} {'slowest s':>9}")
    for case in args.cases.split(","):
        code = FAULTS[case]
        source = root / f"{case}.ipynb"
        write(source, code)
        clean = hangs = bad = 0
        slowest = 0.0
        for i in range(args.repeat):
            out = root / f"{case}-{i}.out.ipynb"
            started = time.monotonic()
            if args.via == "cli":
                try:
                    done = subprocess.run(
                        [
                            str(cli),
                            "run",
                            str(source),
                            "--output",
                            str(out),
                            "--timeout",
                            f"{args.timeout:g}",
                        ],
                        capture_output=True,
                        text=True,
                        cwd=root,
                        timeout=limit + 30,
                    )
                    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
                    failed_ok = done.returncode == 1 and len(errors) == 1 and "cell 2" in errors[0]
                except subprocess.TimeoutExpired:
                    failed_ok = False
            else:
                try:
                    lab.notebooks.run(source, output=out, timeout=args.timeout, cwd=root)
                    failed_ok = False
                except LabError as exc:
                    failed_ok = str(exc).startswith(f"{case}.ipynb: cell 2 failed")
            elapsed = time.monotonic() - started
            slowest = max(slowest, elapsed)
            if elapsed >= limit:
                hangs += 1
            elif failed_ok and recorded(out, code):
                clean += 1
            else:
                bad += 1
        total_hangs += hangs
        total_bad += bad
        print(f"{case:<10} {args.repeat:>4} {clean:>5} {hangs:>5} {bad:>4} {slowest:>9.1f}")
    print(f"via {args.via}, --timeout {args.timeout:g} s, limit {limit:g} s")
    print(f"hangs = {total_hangs} (goal 0); not clean = {total_bad} (goal 0)")
    return 0 if total_hangs == 0 and total_bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
