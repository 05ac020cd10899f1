"""Where an endpoint's changes go, for `lab.serving`: the backend it lives on, how a change is
put there, and what that backend says when the endpoint is missing or differs.

A local head's Serve application is the lab's own: a change is re-applied whatever the head
holds. A RayService is not: the cluster may hold one the project did not make, or have lost
the endpoint's, so the backend is told whether the endpoint is live (``apply_change``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_lab.errors import ConflictError, UsageError

if TYPE_CHECKING:
    from mlops_lab.backends.serving import ServingBackend
    from mlops_lab.backends.serving.app_spec import ServeApp


def choose(
    make: Callable[[str | None], ServingBackend], endpoint: str, live_on: str | None, on: str | None
) -> ServingBackend:
    """``on``, else where the live endpoint is (``live_on``), else the configured backend. A
    live endpoint stays where it is."""
    backend = make(on or live_on)
    if live_on and backend.name != live_on:
        raise ConflictError(
            f"endpoint '{endpoint}' is served by {live_on}, not {backend.name}; undeploy it "
            f"first (%mlops undeploy {endpoint}) or choose another --endpoint"
        )
    return backend


def put(backend: ServingBackend, app: ServeApp, live: bool) -> None:
    change = getattr(backend, "apply_change", None)
    if change is not None:
        change(app.name, app, live=live)
    else:
        backend.apply(app.name, app)


def show(backend: ServingBackend, app: ServeApp) -> None:
    """A dry run: print the manifest ``app`` would be sent as."""
    render = getattr(backend, "render", None)
    if render is None:
        raise UsageError("--dry-run shows a RayService manifest: add --on kubernetes")
    print(render(app.name, app), end="")


def missing(backend: ServingBackend, endpoint: str) -> str:
    if backend.name == "rayservice":
        return f"its RayService is gone from the cluster; %mlops undeploy {endpoint}, then deploy"
    return "not running on the head (was it restarted?); deploy again to restart it"


def detail(described: dict[str, Any], recorded: int) -> str:
    """What the platform says of the endpoint; first, that it holds another revision than
    the project recorded (someone changed it elsewhere)."""
    there = described.get("revision")
    if there is not None and str(there) != str(recorded):
        return f"the platform holds revision {there}, this project recorded {recorded}"
    return str(described.get("message") or "")
