"""The Ray Train helpers' scaling comes from the magic's flags (GPU paths included, on CPU)."""

from __future__ import annotations

import pytest

from mlops_lab import train_helpers as th
from mlops_lab.backends.training.base import parse_metrics


def test_gpus_turn_into_use_gpu_and_per_worker_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_WORKERS", "2")
    monkeypatch.setenv("MLOPS_GPUS", "2")
    monkeypatch.setenv("MLOPS_CPUS", "4")
    monkeypatch.setenv("MLOPS_MAX_FAILURES", "3")
    assert th.scaling() == {
        "num_workers": 2, "use_gpu": True,
        "resources_per_worker": {"CPU": 4.0, "GPU": 1.0}, "max_failures": 3,
    }


def test_cpu_only_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_WORKERS", "3")
    monkeypatch.delenv("MLOPS_GPUS", raising=False)
    scale = th.scaling()
    assert scale["use_gpu"] is False and scale["resources_per_worker"] == {"CPU": 1.0}


def test_metrics_lines_parsed_once_each() -> None:
    logs = (
        '(RayTrainWorker pid=1) [mlops] metrics {"epoch": 0, "loss": 0.5}\n'
        '(RayTrainWorker pid=1) [mlops] metrics {"epoch": 0, "loss": 0.5}\n'
        "(RayTrainWorker pid=1) Reporting training result 1\n"
        '[mlops] metrics {"epoch": 1, "loss": 0.25}\n'
        "[mlops] metrics {not json}\n"
    )
    assert parse_metrics(logs) == [{"epoch": 0, "loss": 0.5}, {"epoch": 1, "loss": 0.25}]
