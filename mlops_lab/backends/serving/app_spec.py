"""What a serving backend runs for one endpoint: a Ray Serve application and its user_config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServeApp:
    import_path: str  # "mlops_lab.backends.serving.app:app"
    route_prefix: str  # "/<endpoint>"
    user_config: dict[str, Any]  # JSON-serialisable
    num_replicas: int = 1
    ray_actor_options: dict[str, Any] = field(default_factory=dict)
