"""Shared fixtures. Engines that are slow to start (Ray head, Jupyter server) are
session-scoped so the whole suite shares one of each."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab.lab import Lab

# Variables that would point a test at a user's real services.
_ENDPOINT_VARIABLES = [
    "MLFLOW_TRACKING_URI",
    "LAKECTL_SERVER_ENDPOINT_URL",
    "LAKEFS_ENDPOINT",
    "RAY_ADDRESS",
    "KUBECONFIG",
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENDPOINT_VARIABLES + [
        v for v in os.environ if v.startswith("MLOPS_") and v != "MLOPS_SPECS_DIR"
    ]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """A fresh initialised project as the working directory."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    lab = mlops_lab.connect(root)
    lab.init()
    return lab


@pytest.fixture(scope="session")
def _shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mlops_lab")
    return shell


@pytest.fixture
def ipython(_shell: Any) -> Iterator[Any]:
    """An IPython shell with %mlops loaded; per-kernel state is reset for each test."""
    magics = _shell.magics_manager.registry["MLOps"]
    magics.reset()
    magics.max_rows = 50
    magics.project = ""
    yield _shell
    magics.reset()


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The official API contracts (lakeFS OpenAPI, KubeRay CRDs) kept beside the repository
    in ../shared/specs, or wherever MLOPS_SPECS_DIR points."""
    repo = Path(__file__).resolve().parents[1]
    path = Path(os.environ.get("MLOPS_SPECS_DIR") or repo.parent / "shared" / "specs")
    if not (path / "lakefs" / "swagger.yml").is_file():
        pytest.fail(f"API contracts not found in {path}; set MLOPS_SPECS_DIR")
    return path


@pytest.fixture(scope="module")
def kube() -> Iterator[Any]:
    """KMock's Kubernetes API emulator (tests/kube_mock.py), reached through a real
    kubeconfig file: ``kube.kubeconfig(path, namespace)``."""
    from kube_mock import KubeMock

    server = KubeMock().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One local Ray head for the whole test session, started the way the lab starts it
    (4 logical CPUs, dashboard on 127.0.0.1). Yields the recorded head.json: its
    ``dashboard_url``, ``gcs_address`` and ``state_file``. Copy ``state_file`` into a
    project's ``.mlops/ray/`` to make that project's lab reuse the head."""
    from mlops_lab.backends.training.local_head import LocalHead

    state_dir = tmp_path_factory.mktemp("ray-head") / ".mlops" / "ray"
    head = LocalHead(state_dir, dashboard_port=0)
    head.up(num_cpus=4)
    state = head.read_state() or {}
    yield {**state, "state_file": str(head.state_file)}
    head.down()
