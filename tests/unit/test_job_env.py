"""What a training job's environment carries: Ray's dashboard shows it to whoever can open
the dashboard, so a tracking URL with credentials is left to the head's own environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlops_lab
from mlops_lab.backends.training.base import JobSpec


def job_env(tmp_path: Path, kind: str) -> dict[str, str]:
    lab = mlops_lab.connect(tmp_path)
    spec = JobSpec(name="train", working_dir=tmp_path, entrypoint="", env={}, metadata={})
    return lab.training._job_env(spec, "hash", 0, None, None, kind)


def test_a_tracking_url_with_credentials_is_not_sent_to_a_ray_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:s3cret@mlflow.example.com")
    env = job_env(tmp_path, "ray-local")
    assert "s3cret" not in json.dumps(env)
    assert "MLFLOW_TRACKING_URI" not in env


def test_a_plain_tracking_url_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    assert job_env(tmp_path, "ray-local")["MLFLOW_TRACKING_URI"] == "https://mlflow.example.com"
