"""A minimal Ray Serve application with a user_config, standing in for the lab's endpoint
application in the RayService manifests these tests render."""

from __future__ import annotations

from typing import Any

from ray import serve


@serve.deployment
class Endpoint:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.config = config

    async def __call__(self, request: Any) -> dict[str, Any]:
        return self.config


app = Endpoint.bind()
