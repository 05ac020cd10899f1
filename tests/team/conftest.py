"""Shared servers for the team profile, started for real and stopped at the end of the
session: PostgreSQL, Redis, an `mlflow server` with a PostgreSQL backend store serving
artifacts, and a second Ray head (the team's remote cluster, reached through RAY_ADDRESS)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shared_servers import MlflowServer, Postgres, Redis, TeamServers


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def team_servers() -> Iterator[TeamServers]:
    """PostgreSQL (databases mlflow, feast, feast_faults), Redis and the tracking server,
    started once for the whole session."""
    # A suite stopped with SIGTERM (a CI timeout) tears down as for Ctrl-C: the servers stop.
    previous = signal.signal(signal.SIGTERM, _interrupted)
    root = Path(tempfile.mkdtemp(prefix="mlops-team-"))
    os.chmod(root, 0o755)  # the postgres user reaches its directory through this one
    postgres = Postgres(root / "pg")
    redis = Redis(root / "redis")
    mlflow = MlflowServer(root / "mlflow", "")
    try:
        postgres.init(["mlflow", "feast", "feast_faults", "feast_mid_session"])
        mlflow.backend = postgres.url("mlflow").replace("postgresql:", "postgresql+psycopg:")
        mlflow.start()
        redis.start()
        yield TeamServers(root, postgres, redis, mlflow)
    finally:
        mlflow.stop()
        redis.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def team_ray(team_servers: TeamServers) -> Iterator[TeamServers]:
    """The team's remote Ray cluster: a second head, reached through RAY_ADDRESS."""
    from mlops_lab.backends.training.local_head import LocalHead

    head = LocalHead(team_servers.root / "ray" / ".mlops" / "ray", dashboard_port=0)
    try:
        # A remote job's driver runs the cluster's `python`: this cluster's is the one that has
        # mlops-lab, as a real cluster's image would.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
            team_servers.ray_address = head.up(num_cpus=4).dashboard_url
        yield team_servers
    finally:
        head.down()
        team_servers.ray_address = ""
