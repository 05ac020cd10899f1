"""A new SQLite MLflow store touched first by several processes at once: one creates it,
under a file lock, and every process can use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FIRST_TOUCH = """
import sys
from mlops_lab.backends.tracking.mlflow import open_client
client = open_client(sys.argv[1])
experiment = client.create_experiment(sys.argv[2])
client.create_run(experiment)
print(len(client.search_experiments()))
"""


def test_processes_first_touching_a_new_store_all_succeed(tmp_path: Path) -> None:
    db = tmp_path / "new" / "mlflow.db"
    uri = f"sqlite:///{db}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_TOUCH, uri, f"experiment-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        assert "Creating initial database tables" not in err
    assert db.is_file()
    assert sorted(p.name for p in db.parent.iterdir()) == [".mlflow.db.lock", "mlflow.db"]
