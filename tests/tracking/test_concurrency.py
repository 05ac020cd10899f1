"""Registrations from separate processes (each with its own MLflow client on the same
SQLite store) still get distinct versions."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from mlops_lab.lab import Lab

SCRIPT = """
import sys, mlops_lab
lab = mlops_lab.connect(sys.argv[1])
print(lab.models.register(sys.argv[2], "fraud-processes").version)
"""


@pytest.mark.slow
def test_eight_processes_register_eight_versions(lab: Lab, trained: dict[str, Any]) -> None:
    run_id = trained["run"].id
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(lab.root), run_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    versions = sorted(int(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert versions == list(range(1, 9))
