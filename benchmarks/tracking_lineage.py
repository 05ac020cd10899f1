"""Lineage stamping cost per tracked run, and a lab run vs a plain MLflow run.

Run: python benchmarks/tracking_lineage.py
Stamping = reading the notebook path, git commit + dirty flag, the code hash, and writing
the collected lineage tags when the run ends (goal <= 50 ms per run).
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd

import mlops_lab

RUNS = 15


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        lab = mlops_lab.connect(root)
        lab.init()
        lab.data.write_table(pd.DataFrame({"a": range(100)}), "t/a.parquet")
        commit = lab.data.commit(message="bench")
        experiment_id = lab.tracking.experiment_id()
        with lab.tracking.start_run("warm"):
            pass

        stamps, lab_runs, plain_runs = [], [], []
        for i in range(RUNS):
            start = time.perf_counter()
            with lab.tracking.start_run(f"lab-{i}") as run:
                lab.data.read_table("t/a.parquet", commit)
            lab_runs.append(time.perf_counter() - start)
            stamps.append(run.stamp_seconds)

            previous = mlflow.get_tracking_uri()
            mlflow.set_tracking_uri(lab.tracking.uri)
            start = time.perf_counter()
            with mlflow.start_run(run_name=f"plain-{i}", experiment_id=experiment_id):
                lab.data.read_table("t/a.parquet", commit)
            plain_runs.append(time.perf_counter() - start)
            mlflow.set_tracking_uri(previous)

        stamp = statistics.median(stamps) * 1000
        lab_ms = statistics.median(lab_runs) * 1000
        plain_ms = statistics.median(plain_runs) * 1000
        tags = lab.tracking.client.get_run(run.id).data.tags
        stamped = sorted(k for k in tags if k.startswith("mlops."))
        print(f"tags stamped: {', '.join(stamped)}")
        print(f"lineage stamping: {stamp:.1f} ms per run (goal <= 50 ms)")
        print(
            f"run open+close: lab {lab_ms:.1f} ms, plain mlflow {plain_ms:.1f} ms; "
            f"ratio lab/raw = {lab_ms / plain_ms:.2f}; "
            f"difference {lab_ms - plain_ms:.1f} ms per run"
        )


if __name__ == "__main__":
    main()
