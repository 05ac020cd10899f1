"""What an endpoint is, independent of where it runs: one Ray Serve application.

The same :class:`ServeApp` becomes an application in the local head's Serve config (the
"ray-serve" backend) or in a KubeRay RayService's ``serveConfigV2`` ("rayservice").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IMPORT_PATH = "mlops_lab.backends.serving.app:app"
DEPLOYMENT_NAME = "Endpoint"


@dataclass(frozen=True)
class ServeApp:
    import_path: str
    """"mlops_lab.backends.serving.app:app"."""
    route_prefix: str
    """"/<endpoint>"."""
    user_config: dict[str, Any]
    """JSON-serialisable: endpoint, revision, stable, canary, canary_weight, sticky_key,
    max_batch_size, batch_wait_timeout_s, tracking_uri, prediction_log (a directory or None)."""
    num_replicas: int = 1
    ray_actor_options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.user_config["endpoint"])

    def application(self) -> dict[str, Any]:
        """This endpoint as one entry of Serve's config ``applications`` list (the schema of
        ``serve deploy`` files and of a RayService's ``serveConfigV2``)."""
        deployment: dict[str, Any] = {
            "name": DEPLOYMENT_NAME,
            "num_replicas": self.num_replicas,
            "user_config": self.user_config,
        }
        if self.ray_actor_options:
            deployment["ray_actor_options"] = self.ray_actor_options
        return {
            "name": self.name,
            "route_prefix": self.route_prefix,
            "import_path": self.import_path,
            "deployments": [deployment],
        }
