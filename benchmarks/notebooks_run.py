"""`mlops-lab run` against the plain `papermill` CLI: the same notebook, the same kernel.

    python benchmarks/notebooks_run.py [--repeat 5] [--notebook train|tiny|PATH]
                                       [--tracking-uri http://HOST:PORT | --tracking-server]

``train`` (default) is the shipped pipeline's training notebook, a real production job:
it reads the quickstart's transactions at a data commit, fits, logs to MLflow and registers
the model. ``tiny`` prints one line, so its difference is the fixed cost of a tracked job
(opening the MLflow run, lineage, logging the executed notebook). Both commands run as
subprocesses, alternating, in the same project; prints the median wall time of each, the
difference, and the ratio (goal <= 1.1). ``--tracking-uri`` points both at a tracking server
(MLFLOW_TRACKING_URI) instead of the project's embedded SQLite store; ``--tracking-server``
starts a throwaway `mlflow server` (SQLite backend, artifacts served) for that, stopped at
the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--notebook", default="train")
    parser.add_argument("--tracking-uri", default="", help="an MLflow tracking server's URL")
    parser.add_argument(
        "--tracking-server", action="store_true", help="start a throwaway mlflow server"
    )
    args = parser.parse_args()
    if not args.tracking_server:
        return measure(args)
    sys.path.insert(0, str(ROOT / "tests" / "team"))
    from shared_servers import MlflowServer

    home = Path(tempfile.mkdtemp(prefix="mlops-bench-mlflow-"))
    server = MlflowServer(home, f"sqlite:///{home / 'mlflow.db'}")
    server.start()
    try:
        args.tracking_uri = server.url
        return measure(args)
    finally:
        server.stop()


def measure(args: argparse.Namespace) -> int:
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri

    import mlops_lab
    from mlops_lab.examples import fraud

    root = Path(tempfile.mkdtemp(prefix="mlops-bench-run-"))
    lab = mlops_lab.connect(root)
    lab.init()
    parameters: list[str] = []
    if args.notebook == "train":
        source = ROOT / "notebooks" / "pipeline" / "train.ipynb"
        lab.data.write_table(fraud.make_transactions(2000, 7), "fraud/transactions.parquet")
        commit = lab.data.commit(message="benchmark data")
        parameters = ["-p", "data_commit", commit, "-p", "model_name", "bench"]
    elif args.notebook == "tiny":
        source = root / "tiny.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.metadata = {
            "kernelspec": {
                "name": "mlops",
                "language": "python",
                "display_name": "Python 3 (MLOps)",
            }
        }
        nb.cells = [
            nbformat.v4.new_code_cell("n = 1", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("print(n)"),
        ]
        nbformat.write(nb, source)
        parameters = ["-p", "n", "2"]
    else:
        source = Path(args.notebook).resolve()
    bin_dir = Path(sys.executable).parent
    commands = {
        "mlops-lab run": [
            str(bin_dir / "mlops-lab"),
            "run",
            str(source),
            *parameters,
            "--output",
            str(root / "lab.out.ipynb"),
        ],
        "papermill": [
            str(bin_dir / "papermill"),
            str(source),
            str(root / "pm.out.ipynb"),
            "-k",
            "mlops",
            *parameters,
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
    lab_s = statistics.median(times["mlops-lab run"])
    raw_s = statistics.median(times["papermill"])
    print(f"notebook: {source.name}; tracking: {args.tracking_uri or 'embedded SQLite'}")
    for name, values in times.items():
        print(
            f"{name:<14} median {statistics.median(values):6.2f} s  "
            f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
        )
    print(f"difference {lab_s - raw_s:+.2f} s")
    print(f"ratio lab/raw = {lab_s / raw_s:.2f} (goal <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
