"""Throwaway PostgreSQL, Redis and `mlflow server` instances on free ports under a temp dir
(PostgreSQL runs as the unprivileged `postgres` user when the suite runs as root: it refuses
root). `make test` installs PostgreSQL and Redis with scripts/install-servers.sh."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops_lab.lab import Lab, connect

OWNER_VARIABLE = "MLOPS_TEST_OWNER"


def owned_environment(tag: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment with a tag every descendant inherits, so that what a server or a
    notebook started (a kernel in its own session, a job driver) is found and stopped by
    `stop_tagged` even when its parent died first."""
    return {**(os.environ if base is None else base), OWNER_VARIABLE: tag}


def tagged_pids(tag: str) -> list[int]:
    """Live processes whose environment carries `OWNER_VARIABLE=tag`."""
    needle = f"{OWNER_VARIABLE}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def stop_tagged(tag: str, grace_s: float = 15.0) -> None:
    """SIGTERM every process carrying the tag, then SIGKILL what is left after `grace_s`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        pids = tagged_pids(tag)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while pids and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = tagged_pids(tag)
        if not pids:
            return


def stop_group(process: Any, grace_s: float = 30.0) -> None:
    """Stop a process started with `start_new_session=True` and its whole process group,
    whether or not its leader is still alive (a leader that crashed leaves its children)."""
    if process is None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(process):
            time.sleep(0.2)
        if not _group_alive(process):
            return


def _group_alive(process: Any) -> bool:
    process.poll()  # reaps the leader once it exits
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Any, what: str, timeout: float = 120.0, process: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} not found; run scripts/install-servers.sh")
    return found[-1]


@dataclass
class Postgres:
    """A throwaway cluster; the superuser `mlops` logs in without a password (trust)."""

    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, password: str = "") -> str:
        user = f"mlops:{password}" if password else "mlops"
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() != 0:
            return list(command)
        return ["runuser", "-u", "postgres", "--", *command]

    def init(self, databases: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            self._as_owner(
                _postgres_bin("initdb"), "-D", str(self.data), "-U", "mlops", "-A", "trust"
            ),
            check=True,
            capture_output=True,
        )
        self.start()
        for name in databases:
            subprocess.run(
                self._as_owner(
                    _postgres_bin("createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "mlops",
                    name,
                ),
                check=True,
                capture_output=True,
            )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            self._as_owner(
                _postgres_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "postgres.log"),
                "-w",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        """Stop the cluster, its backends included; `immediate` when a fast stop hangs."""
        if not (self.data / "postmaster.pid").exists():
            return
        for mode in ("fast", "immediate"):
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    self._as_owner(
                        _postgres_bin("pg_ctl"),
                        "-D",
                        str(self.data),
                        "-m",
                        mode,
                        "-t",
                        "30",
                        "-w",
                        "stop",
                    ),
                    capture_output=True,
                    timeout=40,
                )
            if not (self.data / "postmaster.pid").exists():
                return


@dataclass
class Redis:
    root: Path
    port: int = field(default_factory=free_port)
    process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        server = shutil.which("redis-server")
        if not server:
            pytest.fail("redis-server not found; run scripts/install-servers.sh")
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=open(self.root / "redis.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() or True,
            "redis-server",
            process=self.process,
        )

    def stop(self) -> None:
        stop_group(self.process)
        self.process = None


@dataclass
class MlflowServer:
    root: Path
    backend: str
    port: int = field(default_factory=free_port)
    process: Any = None
    tag: str = field(default_factory=lambda: f"mlflow-{uuid.uuid4().hex}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            self.backend,
            "--serve-artifacts",
            "--artifacts-destination",
            str(self.root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        # MLflow's job runner (huey consumers) is not needed by the lab: off, so a server
        # is only its uvicorn worker
        env = {**owned_environment(self.tag), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen(
            command,
            stdout=open(self.root / "mlflow.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        wait_until(self._healthy, "mlflow server", timeout=300, process=self.process)

    def _healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
            return bool(response.status == 200)

    def stop(self) -> None:
        """The server's process group, then anything it started elsewhere (by its tag)."""
        stop_group(self.process)
        stop_tagged(self.tag)
        self.process = None


@dataclass
class TeamServers:
    root: Path
    postgres: Postgres
    redis: Redis
    mlflow: MlflowServer
    ray_address: str = ""

    def environment(self) -> dict[str, str]:
        """What a team member exports (the Ray head through RAY_ADDRESS)."""
        return {"RAY_ADDRESS": self.ray_address} if self.ray_address else {}

    def project(self, directory: Path, registry_db: str = "feast") -> Lab:
        """A project initialised with `mlops-lab init --team` against these servers."""
        from click.testing import CliRunner

        from mlops_lab.cli import main

        result = CliRunner().invoke(
            main,
            [
                "init",
                str(directory),
                "--team",
                "--tracking-uri",
                self.mlflow.url,
                "--registry",
                self.postgres.url(registry_db),
                "--online-store",
                self.redis.url,
            ],
        )
        assert result.exit_code == 0, result.output
        return connect(directory)
