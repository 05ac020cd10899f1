"""Shared servers for the team profile, started for real and stopped at the end of the
session: PostgreSQL, Redis, an `mlflow server` with a PostgreSQL backend store serving
artifacts, and a second Ray head (the team's remote cluster, reached through RAY_ADDRESS)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from shared_servers import MlflowServer, Postgres, Redis, TeamServers, free_port


@pytest.fixture(scope="session")
def team_servers() -> Iterator[TeamServers]:
    from mlops_lab.backends.training.local_head import LocalHead

    root = Path(tempfile.mkdtemp(prefix="mlops-team-"))
    os.chmod(root, 0o755)  # the postgres user reaches its directory through this one
    postgres = Postgres(root / "pg")
    redis = Redis(root / "redis")
    head = LocalHead(root / "ray" / ".mlops" / "ray", dashboard_port=0)
    mlflow = MlflowServer(root / "mlflow", "")
    try:
        postgres.init(["mlflow", "feast", "feast_faults"])
        mlflow.backend = postgres.url("mlflow").replace("postgresql:", "postgresql+psycopg:")
        mlflow.start()
        redis.start()
        info = head.up(num_cpus=4)
        yield TeamServers(root, postgres, redis, mlflow, info.dashboard_url)
    finally:
        head.down()
        mlflow.stop()
        redis.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def team_env(team_servers: TeamServers, monkeypatch: pytest.MonkeyPatch) -> TeamServers:
    for name, value in team_servers.environment().items():
        monkeypatch.setenv(name, value)
    # Serve's proxy on its own port: the session's other head may hold the default one.
    monkeypatch.setenv("MLOPS_SERVING_HTTP_PORT", str(free_port()))
    return team_servers
