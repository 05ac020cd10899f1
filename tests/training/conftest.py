"""Fixtures of the training tests: a project on the session's Ray head. The Kubernetes API
mock (``kube``) is shared from tests/conftest.py."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

import mlops_lab
from mlops_lab.lab import Lab


@pytest.fixture
def lab_on_head(project: Lab, ray_head: dict[str, Any]) -> Lab:
    """A fresh project whose lab reuses the session's head, as a later kernel would."""
    state = project.root / ".mlops" / "ray"
    state.mkdir(parents=True, exist_ok=True)
    shutil.copy(ray_head["state_file"], state / "head.json")
    return mlops_lab.connect(project.root)
