"""Serving backends: where an endpoint's Ray Serve application runs."""

from __future__ import annotations

from typing import Any, Protocol

from mlops_lab.backends.serving.app_spec import ServeApp


class ServingBackend(Protocol):
    name: str

    def apply(
        self, endpoint: str, app: ServeApp
    ) -> None: ...  # create, or update user_config in place

    def delete(self, endpoint: str) -> bool: ...  # False when there was nothing

    def describe(self, endpoint: str) -> dict[str, Any] | None: ...  # None when absent

    def url(self, endpoint: str) -> str: ...  # base URL; POST {url}/invocations
