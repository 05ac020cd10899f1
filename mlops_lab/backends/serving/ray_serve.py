"""Endpoints on a Ray head through the dashboard's Serve REST API (``/api/serve/applications/``).

The kernel never becomes a Ray driver: the whole Serve config is read, this endpoint's
application replaced in it, and written back (Serve's declarative API updates a changed
``user_config`` in place, without restarting replicas). Other applications on the head,
e.g. another project's endpoints, are written back unchanged.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.training.local_head import LocalHead, port_taken
from mlops_lab.errors import BackendError, ConfigError, UnreachableError

if TYPE_CHECKING:
    from mlops_lab.backends.serving.app_spec import ServeApp
    from mlops_lab.config import Config

API = "/api/serve/applications/"
TIMEOUT_S = 30.0


class RayServeBackend:
    name = "ray-serve"

    def __init__(self, config: Config, dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run
        self._urls: dict[str, str] = {}  # endpoint -> URL, as of the last apply
        self._settled: dict[str, bool] = {}  # endpoint -> running, same replicas, before apply

    # --- where the head is ----------------------------------------------------------------

    @property
    def head(self) -> LocalHead:
        return LocalHead(
            self.config.state_dir / "ray",
            self.config.training.dashboard_port,
            self.config.serving.ingress,
        )

    def dashboard(self, start: bool = False) -> str:
        """The head's dashboard URL; ``start`` starts the lab's local head when it is down."""
        training = self.config.training
        if training.backend == "ray-remote" and training.address:
            remote = training.address.rstrip("/")
            return remote if "://" in remote else f"http://{remote}"
        address = self.head.address()
        if address is not None:
            return address
        if not start:
            raise UnreachableError(
                "the lab's Ray head is not running, so no endpoint is serving; start it with "
                "%mlops ray up (or deploy, which starts it) and deploy again"
            )
        self.head.up()
        address = self.head.address()
        if address is None:
            raise UnreachableError(
                "the lab's Ray head started but does not answer; see %mlops ray status"
            )
        return address

    def metrics_url(self) -> str | None:
        """The head's Prometheus endpoint (Ray's metrics export port), when it is known."""
        try:
            nodes = _request("GET", f"{self.dashboard()}/nodes?view=summary")
        except (BackendError, UnreachableError):
            return None
        for node in ((nodes or {}).get("data") or {}).get("summary") or []:
            raylet = node.get("raylet") or {}
            if raylet.get("isHeadNode") and raylet.get("metricsExportPort"):
                host = raylet.get("nodeManagerAddress") or node.get("ip") or "127.0.0.1"
                return f"http://{host}:{raylet['metricsExportPort']}/metrics"
        return None

    # --- the protocol -----------------------------------------------------------------------

    def instance(self, start: bool = False) -> dict[str, Any]:
        details = _request("GET", self.dashboard(start) + API)
        return details if isinstance(details, dict) else {}

    def apply(self, endpoint: str, app: ServeApp) -> None:
        dashboard = self.dashboard(start=True)
        details = self.instance()
        applications = [
            dict(detail["deployed_app_config"])
            for name, detail in (details.get("applications") or {}).items()
            if name != endpoint and detail.get("deployed_app_config")
        ]
        applications.append(app.application())
        current = (details.get("applications") or {}).get(endpoint) or {}
        deployed = (current.get("deployed_app_config") or {}).get("deployments") or [{}]
        self._settled[endpoint] = (
            current.get("status") == "RUNNING"
            and deployed[0].get("num_replicas") == app.num_replicas
        )
        self._put(dashboard, details, applications)
        self._urls[endpoint] = self._url(details, app.route_prefix)

    def delete(self, endpoint: str) -> bool:
        try:
            dashboard = self.dashboard()
        except UnreachableError:
            return False
        details = self.instance()
        current = details.get("applications") or {}
        if endpoint not in current:
            return False
        applications = [
            dict(detail["deployed_app_config"])
            for name, detail in current.items()
            if name != endpoint and detail.get("deployed_app_config")
        ]
        self._put(dashboard, details, applications)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and self.describe(endpoint) is not None:
            time.sleep(0.2)  # gone before returning, so the name can be deployed again
        return True

    def describe(self, endpoint: str) -> dict[str, Any] | None:
        details = self.instance()
        found = (details.get("applications") or {}).get(endpoint)
        if not found:
            return None
        config = found.get("deployed_app_config") or {}
        deployments = config.get("deployments") or [{}]
        return {
            "status": found.get("status"),
            "message": found.get("message") or "",
            "route_prefix": found.get("route_prefix"),
            "user_config": deployments[0].get("user_config"),
            "deployments": {
                name: d.get("status") for name, d in (found.get("deployments") or {}).items()
            },
            "url": self._url(details, found.get("route_prefix") or f"/{endpoint}"),
        }

    def url(self, endpoint: str) -> str:
        details = self.instance()
        found = (details.get("applications") or {}).get(endpoint) or {}
        return self._url(details, found.get("route_prefix") or f"/{endpoint}")

    def wait_running(self, endpoint: str, timeout: float = 120.0) -> dict[str, Any]:
        """Block until the application is RUNNING; raises with Serve's message if it fails."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            state = self.describe(endpoint)
            status = (state or {}).get("status")
            if status == "RUNNING":
                return state or {}
            if status in ("DEPLOY_FAILED", "UNHEALTHY"):
                message = " ".join(str(state.get("message", "")).split())[:300] if state else ""
                raise BackendError(f"endpoint '{endpoint}' failed to start: {message}")
            time.sleep(0.25)
        raise UnreachableError(
            f"endpoint '{endpoint}' did not start in {timeout:.0f} s (status "
            f"{(state or {}).get('status')}); see the Ray dashboard's Serve page"
        )

    def wait_revision(self, endpoint: str, revision: int, timeout: float) -> None:
        """Block until the replica serves ``revision``; raises with the replica's reason when
        it could not (e.g. the model failed to load: it keeps serving what it had).

        A new endpoint, or one whose replica count changes, first waits for Serve to report
        it RUNNING. Otherwise (a change of versions or weights on a running endpoint) the
        replica is asked directly (``-/revision``, every 50 ms) and Serve's own status only
        once a second: under load the dashboard answers slowly, and the change is in effect
        well before Serve reports the application RUNNING again."""
        deadline = time.monotonic() + timeout
        if not self._settled.pop(endpoint, False):  # new, or replicas change: all must run
            self.wait_running(endpoint, timeout)
        url = self._urls.get(endpoint) or self.url(endpoint)
        next_check = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                seen = _request("GET", f"{url}/-/revision", timeout=5)
            except (BackendError, UnreachableError):
                seen = None
            if isinstance(seen, dict):
                failure = seen.get("failure") or {}
                if failure.get("revision") == revision:
                    raise BackendError(f"endpoint '{endpoint}': {failure.get('error')}")
                if seen.get("revision") == revision:
                    return
            if time.monotonic() >= next_check:
                state = self.describe(endpoint) or {}
                if state.get("status") in ("DEPLOY_FAILED", "UNHEALTHY"):
                    message = " ".join(str(state.get("message", "")).split())[:300]
                    raise BackendError(f"endpoint '{endpoint}' failed to start: {message}")
                url = state.get("url") or url
                next_check = time.monotonic() + 1.0
            time.sleep(0.05)
        raise UnreachableError(
            f"endpoint '{endpoint}' did not take revision {revision} within {timeout:.0f} s "
            f"(Serve status {(self.describe(endpoint) or {}).get('status')}); see the Ray "
            "dashboard's Serve page"
        )

    # --- helpers ----------------------------------------------------------------------------

    def _http_options(self, details: dict[str, Any]) -> dict[str, Any]:
        running = details.get("http_options") or {}
        if (details.get("controller_info") or {}).get("actor_id") and running.get("port"):
            return {"host": running.get("host") or "127.0.0.1", "port": int(running["port"])}
        return {"host": "127.0.0.1", "port": self.config.serving.http_port}

    def _url(self, details: dict[str, Any], prefix: str) -> str:
        options = self._http_options(details)
        host = options["host"]
        host = "127.0.0.1" if host in ("0.0.0.0", "", None) else host
        return f"http://{host}:{options['port']}{prefix.rstrip('/')}"

    def _put(
        self, dashboard: str, details: dict[str, Any], applications: list[dict[str, Any]]
    ) -> None:
        options = self._http_options(details)
        starting = not (details.get("controller_info") or {}).get("actor_id")
        local = urllib.parse.urlsplit(dashboard).hostname in ("127.0.0.1", "localhost")
        if starting and local and port_taken(options["port"]):
            # Serve would fail with its HTTP server's own error (HAProxy's "Some protocols
            # failed to start their listeners")
            raise ConfigError(
                f"port {options['port']} ([serving] http_port) is taken by another process on "
                "this machine; set [serving] http_port (or MLOPS_SERVING_HTTP_PORT) to a free "
                "port and deploy again (nothing was deployed)"
            )
        body = {"proxy_location": "HeadOnly", "http_options": options, "applications": applications}
        _request("PUT", dashboard + API, body)


def _request(method: str, url: str, body: Any = None, timeout: float = TIMEOUT_S) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace").strip().splitlines()
        message = " ".join(detail[-1:])[:300] if detail else exc.reason
        raise BackendError(f"Ray Serve refused {method} {API} ({exc.code}): {message}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise UnreachableError(
            f"the Ray head at {url.split('/api/')[0]} did not answer ({exc}); "
            "check it with %mlops ray status"
        ) from None
    return json.loads(text) if text.strip() else None
