"""`lab.status()`: which backend each concern uses, where it points, and whether it answers.

Probes use only the standard library (no SDK imports) and run in parallel threads under
one deadline, so the whole call stays bounded even when an endpoint hangs.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_lab.config import Config
from mlops_lab.display import Table


@dataclass(frozen=True)
class BackendStatus:
    concern: str
    kind: str
    target: str
    reachable: bool
    reason: str


@dataclass(frozen=True)
class StatusReport:
    root: Path
    config_file: Path | None
    notice: str | None
    backends: tuple[BackendStatus, ...]

    def __getitem__(self, concern: str) -> BackendStatus:
        for backend in self.backends:
            if backend.concern == concern:
                return backend
        raise KeyError(concern)

    def table(self, max_rows: int = 50) -> Table:
        rows = [
            [b.concern, b.kind, b.target, "yes" if b.reachable else "no", b.reason]
            for b in self.backends
        ]
        source = self.config_file or "embedded defaults"
        return Table(
            ["concern", "backend", "target", "reachable", "detail"],
            rows,
            title=f"mlops-lab project {self.root} ({source})",
            notes=[self.notice] if self.notice else [],
            max_rows=max_rows,
            style=lambda col, val: (
                ("color:#1a7f37" if val == "yes" else "color:#cf222e") if col == "reachable" else ""
            ),
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


Probe = Callable[[float], tuple[bool, str]]


def probe_all(config: Config, timeout: float = 2.5) -> StatusReport:
    plans = _plans(config)
    results: dict[int, tuple[bool, str]] = {}
    threads = []
    for index, (_, _, _, probe) in enumerate(plans):
        thread = threading.Thread(target=_run, args=(probe, timeout, results, index), daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    backends = []
    for index, (concern, kind, target, _) in enumerate(plans):
        reachable, reason = results.get(index, (False, f"no answer within {timeout:g} s"))
        backends.append(BackendStatus(concern, kind, target, reachable, reason))
    return StatusReport(config.root, config.file, config.notice(), tuple(backends))


def _run(probe: Probe, timeout: float, results: dict[int, tuple[bool, str]], index: int) -> None:
    try:
        results[index] = probe(timeout)
    except Exception as exc:  # a probe must never break status
        results[index] = (False, f"probe failed: {exc}")


def _plans(config: Config) -> list[tuple[str, str, str, Probe]]:
    plans: list[tuple[str, str, str, Probe]] = []
    data = config.data
    if data.backend == "lakefs":
        endpoint = data.endpoint.rstrip("/")
        url = f"{endpoint}/api/v1/healthcheck" if endpoint else ""
        target = f"{endpoint or '(no endpoint)'} repo={data.repository or '(unset)'}"
        plans.append(("data", "lakefs", target, _http(url, "set LAKECTL_SERVER_ENDPOINT_URL")))
    else:
        path = config.resolve(data.path)
        plans.append(("data", data.backend, str(path), _local_dir(path)))

    repo = config.resolve(config.features.repo)
    plans.append(("features", "feast", str(repo), _feast_repo(repo)))

    uri = config.tracking.uri
    plans.append(("tracking", "mlflow", uri, _tracking(config, uri)))

    training = config.training
    if training.backend == "ray-local":
        state = config.state_dir / "ray" / "head.json"
        plans.append(("training", "ray-local", str(state.parent), _ray_local(state)))
    elif training.backend == "kubernetes":
        plans.append(("training", "kubernetes", config.kubernetes.namespace, _kubernetes(config)))
    else:
        address = training.address
        url = f"{_http_address(address)}/api/version" if address else ""
        plans.append(
            ("training", training.backend, address or "(unset)", _http(url, "set RAY_ADDRESS"))
        )

    port = config.serving.http_port
    plans.append(("serving", config.serving.backend, f"http://127.0.0.1:{port}", _serve(port)))
    plans.append(
        (
            "drift",
            "reports",
            str(config.resolve(config.drift.reports)),
            _local_dir(config.resolve(config.drift.reports)),
        )
    )
    kubeconfig = _kubeconfig_path(config)
    if training.backend != "kubernetes" and kubeconfig.is_file():
        plans.append(("kubernetes", "kubernetes", str(kubeconfig), _kubernetes(config)))
    return plans


def _http_address(address: str) -> str:
    """Job Submission speaks HTTP to the dashboard; ray://host:10001 means host:8265 there."""
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    if address.startswith("ray://"):
        host = address.removeprefix("ray://").split("/")[0].rsplit(":", 1)[0]
        return f"http://{host}:8265"
    return f"http://{address.rstrip('/')}"


def _get(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return True, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return True, f"answers (HTTP {exc.code}: check credentials)"
        return False, f"HTTP {exc.code} from {url}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"cannot connect to {url}: {reason}"


def _http(url: str, hint: str) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        if not url:
            return False, f"no endpoint configured; {hint}"
        return _get(url, timeout)

    return probe


def _local_dir(path: Path) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        if path.is_dir():
            ok = os.access(path, os.W_OK)
            return ok, "ready" if ok else "not writable"
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and os.access(parent, os.W_OK):
            return True, "created on first use"
        return False, f"cannot create {path}"

    return probe


def _feast_repo(repo: Path) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        if (repo / "feature_store.yaml").is_file():
            return True, "feature_store.yaml found"
        return False, f"no feature_store.yaml in {repo}; run `mlops-lab init`"

    return probe


def _tracking(config: Config, uri: str) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        if uri.startswith("sqlite:///"):
            db = Path(uri.removeprefix("sqlite:///"))
            db = db if db.is_absolute() else config.root / db
            if db.exists():
                return True, "database found"
            return _local_dir(db.parent)(timeout)
        if uri.startswith(("http://", "https://")):
            return _get(uri.rstrip("/") + "/health", timeout)
        if uri.startswith("file:") or "://" not in uri:
            return _local_dir(config.resolve(uri.removeprefix("file://")))(timeout)
        return True, "not probed (scheme handled by MLflow)"

    return probe


def _ray_local(state: Path) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        try:
            head = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True, "not running; starts on first job (%mlops ray up)"
        url = head.get("dashboard_url", "")
        ok, reason = _get(f"{url}/api/version", timeout)
        return (
            (True, f"head running at {url}") if ok else (False, f"head recorded but down: {reason}")
        )

    return probe


def _serve(port: int) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        ok, _ = _get(f"http://127.0.0.1:{port}/-/healthz", timeout)
        return True, "Serve proxy answers" if ok else "no deployment running"

    return probe


def _kubeconfig_path(config: Config) -> Path:
    raw = config.kubernetes.kubeconfig or "~/.kube/config"
    return Path(raw.split(os.pathsep)[0]).expanduser()


def _kubernetes(config: Config) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        path = _kubeconfig_path(config)
        if not path.is_file():
            return False, f"no kubeconfig at {path}; set KUBECONFIG"
        from mlops_lab.errors import LabError
        from mlops_lab.k8s import version_probe

        try:
            return True, version_probe(config, timeout)
        except LabError as exc:
            return False, str(exc)

    return probe
