"""Every route the extension registers refuses requests without credentials (403, no handler
body runs); cookie-authenticated writes need the XSRF token and a same-origin request.

The list of routes is the extension's own handler table, so a new route is covered here
without touching this file.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from tornado import web

from mlops_lab.errors import NotAvailableError
from mlops_lab.lab import Lab
from mlops_lab.server.routes import ROUTES

ROUTE_METHODS = [(route, method) for route in ROUTES for method in route.methods]
IDS = [f"{method} {route.pattern}" for route, method in ROUTE_METHODS]
WRITES = [(r, m) for r, m in ROUTE_METHODS if m != "GET"]


class _BackendlessLab(Lab):
    """Every service call fails at once: these tests only watch whether a body starts."""

    def __getattr__(self, name: str) -> Any:
        raise NotAvailableError(f"lab.{name} is switched off in this test")

    def status(self, timeout: float = 2.5) -> Any:
        raise NotAvailableError("status is switched off in this test")

    def lineage(self, target: str) -> Any:
        raise NotAvailableError("lineage is switched off in this test")


@pytest.fixture
def lab_factory() -> Any:
    import mlops_lab.config

    return lambda root: _BackendlessLab(mlops_lab.config.load(root))


@pytest.fixture
def bodies_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each handler body that starts. Each method is rebuilt as exactly what it is,
    ``web.authenticated(body)``, with the body wrapped to record itself first."""
    calls: list[str] = []

    def spy(body: Any, name: str) -> Any:
        @functools.wraps(body)
        def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return body(self, *args, **kwargs)

        return recorded

    for route, method in ROUTE_METHODS:
        decorated = getattr(route.handler, method.lower())
        name = f"{method} {route.pattern}"
        monkeypatch.setattr(
            route.handler, method.lower(), web.authenticated(spy(decorated.__wrapped__, name))
        )
    return calls


def test_there_are_routes_to_check() -> None:
    assert len(ROUTE_METHODS) >= 4
    assert any(m == "POST" for _, m in ROUTE_METHODS)


@pytest.mark.parametrize(("route", "method"), ROUTE_METHODS, ids=IDS)
def test_every_route_is_wrapped_in_tornado_authenticated(route: Any, method: str) -> None:
    decorated = getattr(route.handler, method.lower())
    probe = web.authenticated(lambda self: None)
    assert decorated.__code__ is probe.__code__, f"{method} {route.pattern} is not @authenticated"
    assert callable(decorated.__wrapped__)


@pytest.mark.parametrize(("route", "method"), ROUTE_METHODS, ids=IDS)
async def test_no_token_is_a_403_and_runs_no_handler_body(
    api: Any, bodies_run: list[str], route: Any, method: str
) -> None:
    refused = await api(
        route.example, method, body="{}" if method != "GET" else None, token_auth=False
    )
    assert refused.code == 403
    assert bodies_run == []
    # the spy does see a body run once the same request carries the token
    await api(route.example, method, body="{}" if method != "GET" else None)
    assert bodies_run == [f"{method} {route.pattern}"]


async def login_cookie(api: Any) -> str:
    """The login cookie the server sets on a token-authenticated request (as a browser has)."""
    response = await api("status?timeout=0.5")
    cookies = [c.split(";")[0] for c in response.headers.get_list("Set-Cookie")]
    login = [c for c in cookies if c.startswith("username-")]
    assert login, f"no login cookie in {cookies}"
    return login[0]


@pytest.mark.parametrize(("route", "method"), WRITES, ids=[f"{m} {r.pattern}" for r, m in WRITES])
async def test_a_cookie_write_without_the_xsrf_token_is_refused(
    api: Any, bodies_run: list[str], route: Any, method: str
) -> None:
    cookie = await login_cookie(api)
    bodies_run.clear()
    refused = await api(route.example, method, headers={"Cookie": cookie}, token_auth=False)
    assert refused.code == 403
    assert bodies_run == []
    # with the XSRF token in both cookie and header, the same request reaches the handler
    xsrf = "2f4e6a8c0b1d3f5a7c9e"
    allowed = await api(
        route.example,
        method,
        headers={"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf},
        token_auth=False,
    )
    assert allowed.code != 403
    assert bodies_run == [f"{method} {route.pattern}"]


@pytest.mark.parametrize(("route", "method"), WRITES, ids=[f"{m} {r.pattern}" for r, m in WRITES])
async def test_a_cross_origin_write_is_refused(
    api: Any, bodies_run: list[str], route: Any, method: str, jp_http_port: int
) -> None:
    cookie = await login_cookie(api)
    bodies_run.clear()
    xsrf = "2f4e6a8c0b1d3f5a7c9e"
    headers = {"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    refused = await api(
        route.example,
        method,
        headers={**headers, "Origin": "http://evil.example"},
        token_auth=False,
    )
    assert refused.code in (403, 404)
    assert bodies_run == []
    same_origin = await api(
        route.example,
        method,
        headers={**headers, "Origin": f"http://127.0.0.1:{jp_http_port}"},
        token_auth=False,
    )
    assert same_origin.code != 403
    assert bodies_run == [f"{method} {route.pattern}"]
