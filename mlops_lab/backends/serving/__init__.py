"""Serving backends: where an endpoint's Ray Serve application runs.

"ray-serve" puts it on the lab's Ray head (or the remote head of ``[training] address``)
through the dashboard's Serve REST API; "rayservice" renders it as a KubeRay RayService.
Both take the same :class:`~mlops_lab.backends.serving.app_spec.ServeApp`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from mlops_lab.errors import NotAvailableError, UsageError

if TYPE_CHECKING:
    from mlops_lab.backends.serving.app_spec import ServeApp
    from mlops_lab.config import Config


class ServingBackend(Protocol):
    name: str

    def apply(self, endpoint: str, app: ServeApp) -> None:
        """Create the application, or update its user_config in place."""

    def delete(self, endpoint: str) -> bool:
        """Remove the application; False when there was nothing."""

    def describe(self, endpoint: str) -> dict[str, Any] | None:
        """Its status as the platform reports it; None when absent."""

    def url(self, endpoint: str) -> str:
        """Base URL; clients POST {url}/invocations."""


# name -> "module:Class"; each is constructed as Class(config, dry_run=...).
BACKENDS: dict[str, str] = {
    "ray-serve": "mlops_lab.backends.serving.ray_serve:RayServeBackend",
    "rayservice": "mlops_lab.backends.serving.rayservice:RayServiceBackend",
}
ALIASES = {
    "local": "ray-serve",
    "ray": "ray-serve",
    "kubernetes": "rayservice",
    "k8s": "rayservice",
}


def backend_name(raw: str) -> str:
    name = ALIASES.get(raw, raw)
    if name not in BACKENDS:
        raise UsageError(
            f"unknown serving backend '{raw}'; use one of {', '.join(BACKENDS)} "
            "(or local / kubernetes)"
        )
    return name


def make(config: Config, name: str | None = None, dry_run: bool = False) -> ServingBackend:
    """The backend ``name`` (default: ``[serving] backend``), imported on first use."""
    chosen = backend_name(name or config.serving.backend)
    module_name, _, cls_name = BACKENDS[chosen].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NotAvailableError(
            f"the '{chosen}' serving backend is not part of this version of mlops-lab"
        ) from None
    backend: ServingBackend = getattr(module, cls_name)(config, dry_run=dry_run)
    return backend
