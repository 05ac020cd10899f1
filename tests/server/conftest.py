"""An in-process Jupyter server per test with the mlops-lab extension and a fresh project
(pytest-jupyter's fixtures, imported here so they apply to this folder only)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403
from pytest_jupyter.pytest_tornasync import *  # noqa: F403
from tornado.httpclient import HTTPResponse

import mlops_lab

Fetch = Callable[..., Awaitable[HTTPResponse]]


@pytest.fixture
def lab_factory() -> Callable[[Path], Any] | None:
    """What MLOpsExtension.lab_factory is set to (None: mlops_lab.connect)."""
    return None


@pytest.fixture
def jp_server_config(jp_root_dir: Path, lab_factory: Any) -> Any:
    from traitlets.config import Config

    mlops_lab.connect(jp_root_dir).init()
    extension: dict[str, Any] = {"service_threads": 2}
    if lab_factory is not None:
        extension["lab_factory"] = lab_factory
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"mlops_lab.server": True}},
            "MLOpsExtension": extension,
        }
    )


@pytest.fixture
def api(jp_serverapp: Any, http_server_client: Any, jp_base_url: str) -> Fetch:
    """fetch(path, method=, headers=, body=, token=True): one request to the API, never raising
    on an HTTP error status. ``path`` is below /<base_url>/mlops-lab/api/."""
    token = jp_serverapp.identity_provider.token

    async def fetch(
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: Any = None,
        token_auth: bool = True,
    ) -> HTTPResponse:
        sent = dict(headers or {})
        if token_auth:
            sent.setdefault("Authorization", f"token {token}")
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if method in ("POST", "PUT", "PATCH") and body is None:
            body = "{}"
        response: HTTPResponse = await http_server_client.fetch(
            f"{jp_base_url}mlops-lab/api/{path}",
            method=method,
            headers=sent,
            body=body,
            raise_error=False,
            follow_redirects=False,
            allow_nonstandard_methods=True,
        )
        return response

    return fetch
