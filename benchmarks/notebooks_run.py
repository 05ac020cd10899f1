"""`mlops-lab run` against the plain `papermill` CLI: the same notebook, the same kernel.

    python benchmarks/notebooks_run.py [--repeat 5] [--notebook PATH]

The default notebook does a second or so of real work (fits a model on the quickstart's
fraud data), like a small production job. Both commands run as subprocesses, alternating,
in the same project; prints the median wall time of each and the ratio (goal <= 1.1).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

WORK = """\
from sklearn.linear_model import LogisticRegression
from mlops_lab.examples import fraud
tx = fraud.make_transactions(rows=rows, seed=7)
X = tx[["amount"]].assign(online=(tx.merchant_category == "online").astype(float))
model = LogisticRegression(max_iter=1000).fit(X, tx.is_fraud)
print(round(model.score(X, tx.is_fraud), 3))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--notebook", type=Path)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mlops-bench-run-"))
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "mlops-lab"), "init", str(root)], check=True, capture_output=True)
    source = args.notebook.resolve() if args.notebook else root / "job.ipynb"
    if not args.notebook:
        nb = nbformat.v4.new_notebook()
        nb.metadata = {
            "kernelspec": {
                "name": "mlops",
                "language": "python",
                "display_name": "Python 3 (MLOps)",
            }
        }
        nb.cells = [
            nbformat.v4.new_code_cell("rows = 20000", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(WORK),
        ]
        nbformat.write(nb, source)
    commands = {
        "mlops-lab run": [
            str(bin_dir / "mlops-lab"),
            "run",
            str(source),
            "-p",
            "rows",
            "20000",
            "--output",
            str(root / "lab.out.ipynb"),
        ],
        "papermill": [
            str(bin_dir / "papermill"),
            str(source),
            str(root / "pm.out.ipynb"),
            "-k",
            "mlops",
            "-p",
            "rows",
            "20000",
            "--cwd",
            str(root),
            "--no-progress-bar",
        ],
    }
    # one untimed run each: the tracking database and caches exist before timing starts
    for argv in commands.values():
        subprocess.run(argv, check=True, capture_output=True, cwd=root)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, argv in commands.items():
            started = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, cwd=root)
            times[name].append(time.perf_counter() - started)
    lab = statistics.median(times["mlops-lab run"])
    raw = statistics.median(times["papermill"])
    for name, values in times.items():
        print(
            f"{name:<14} median {statistics.median(values):6.2f} s  "
            f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
        )
    print(f"ratio lab/raw = {lab / raw:.2f} (goal <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
