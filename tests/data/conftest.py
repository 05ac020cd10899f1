"""Fixtures of the data-versioning tests: the contract-checking lakeFS server, and ``data``,
one ``lab.data`` per backend (local, lakefs against the test server, live lakeFS with -m live)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lakefs_server import LakeFSServer

import mlops_lab
from mlops_lab.lab import Lab

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# Read before the autouse fixture clears endpoint variables: the live lakeFS to test against.
_LIVE = {
    "endpoint": os.environ.get("LAKECTL_SERVER_ENDPOINT_URL")
    or os.environ.get("LAKEFS_ENDPOINT", ""),
    "key": os.environ.get("LAKECTL_CREDENTIALS_ACCESS_KEY_ID")
    or os.environ.get("LAKEFS_ACCESS_KEY_ID", ""),
    "secret": os.environ.get("LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY")
    or os.environ.get("LAKEFS_SECRET_ACCESS_KEY", ""),
    "namespace": os.environ.get("MLOPS_LIVE_LAKEFS_NAMESPACE", ""),
}


@pytest.fixture(scope="session")
def lakefs_contract(specs_dir: Path) -> Path:
    return specs_dir / "lakefs" / "swagger.yml"


@pytest.fixture(scope="session")
def _lakefs_session(lakefs_contract: Path) -> Iterator[LakeFSServer]:
    with LakeFSServer(lakefs_contract, ACCESS_KEY, SECRET_KEY) as server:
        yield server


@pytest.fixture
def lakefs_server(_lakefs_session: LakeFSServer) -> Iterator[LakeFSServer]:
    """The session's server; the test fails if it saw anything outside the contract."""
    server = _lakefs_session
    seen = len(server.violations)
    server.fail_next.clear()
    yield server
    server.fail_next.clear()
    new = server.violations[seen:]
    del server.violations[seen:]
    assert not new, "lakeFS contract violations:\n" + "\n".join(new)


def lakefs_env(
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    repository: str,
    key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
) -> None:
    monkeypatch.setenv("LAKECTL_SERVER_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("LAKECTL_CREDENTIALS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("MLOPS_DATA_BACKEND", "lakefs")
    monkeypatch.setenv("MLOPS_DATA_REPOSITORY", repository)


@pytest.fixture
def lakefs_lab(project: Lab, lakefs_server: LakeFSServer, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """A project whose data backend is a fresh repository on the test lakeFS server."""
    name = f"repo-{uuid.uuid4().hex[:10]}"
    lakefs_server.create_repository(name)
    lakefs_env(monkeypatch, lakefs_server.endpoint, name)
    return mlops_lab.connect(project.root)


@pytest.fixture
def live_lab(project: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """A fresh repository on the real lakeFS named by LAKECTL_* (or LAKEFS_*) variables and
    MLOPS_LIVE_LAKEFS_NAMESPACE (a storage namespace such as s3://bucket/prefix)."""
    if not (_LIVE["endpoint"] and _LIVE["key"] and _LIVE["secret"] and _LIVE["namespace"]):
        pytest.skip(
            "live lakeFS not configured: set LAKECTL_SERVER_ENDPOINT_URL, "
            "LAKECTL_CREDENTIALS_ACCESS_KEY_ID, LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY and "
            "MLOPS_LIVE_LAKEFS_NAMESPACE"
        )
    import lakefs_sdk

    name = f"mlops-live-{uuid.uuid4().hex[:8]}"
    lakefs_env(monkeypatch, _LIVE["endpoint"], name, _LIVE["key"], _LIVE["secret"])
    lab = mlops_lab.connect(project.root)
    sdk = lab.data.backend.sdk  # type: ignore[attr-defined]
    sdk.repositories_api.create_repository(
        lakefs_sdk.RepositoryCreation(
            name=name,
            storage_namespace=f"{_LIVE['namespace'].rstrip('/')}/{name}",
            default_branch="main",
        )
    )
    yield lab
    sdk.repositories_api.delete_repository(name)


@pytest.fixture(
    params=["local", "lakefs", pytest.param("live", marks=pytest.mark.live)],
)
def data(request: pytest.FixtureRequest, project: Lab) -> Any:
    """``lab.data`` on each backend: the same behavioural suite runs against all of them."""
    if request.param == "local":
        return project.data
    if request.param == "lakefs":
        return request.getfixturevalue("lakefs_lab").data
    return request.getfixturevalue("live_lab").data


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            # openapi-core warns on each use of the lakeFS contract's allowEmptyValue.
            item.add_marker(
                pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning")
            )
