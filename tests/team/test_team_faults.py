"""Faults on the shared servers: the tracking server restarting during a run, PostgreSQL down
under the Feast registry, each surfacing as one line or riding it out, never half-written."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from shared_servers import TeamServers

from mlops_lab.cli import main
from mlops_lab.errors import LabError
from mlops_lab.lab import connect

pytestmark = pytest.mark.slow


def test_tracking_server_restart_during_a_run_resumes(
    team_servers: TeamServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    lab = team_servers.project(tmp_path / "p")
    x = np.random.default_rng(0).random((40, 2))
    y = (x[:, 0] > 0.5).astype(int)
    with lab.tracking.start_run("restarted") as run:
        run.log_metrics({"auc": 0.5})
        team_servers.mlflow.stop()
        # MLflow's client retries with backoff while the server is away
        restart = threading.Timer(3.0, team_servers.mlflow.start)
        restart.start()
        try:
            run.log_metrics({"auc": 0.9})
            run.log_model(LogisticRegression().fit(x, y))
        finally:
            restart.join()
    version = lab.models.register(run, "fraud-restart")
    client = MlflowClient(tracking_uri=team_servers.mlflow.url)
    finished = client.get_run(run.id)
    assert finished.info.status == "FINISHED"
    assert finished.data.metrics["auc"] == 0.9
    assert [v.version for v in client.search_model_versions("name='fraud-restart'")] == [
        str(version.version)
    ]


def test_tracking_server_down_fails_registration_in_one_line_and_registers_nothing(
    team_servers: TeamServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    lab = team_servers.project(tmp_path / "p")
    with lab.tracking.start_run("down") as run:
        run.log_metrics({"auc": 0.7})
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    team_servers.mlflow.stop()
    try:
        with pytest.raises(LabError) as failure:
            lab.models.register(run, "fraud-down", alias="champion")
    finally:
        team_servers.mlflow.start()
    message = str(failure.value)
    assert "\n" not in message and f"127.0.0.1:{team_servers.mlflow.port}" in message, message
    client = MlflowClient(tracking_uri=team_servers.mlflow.url)
    assert client.search_model_versions("name='fraud-down'") == []


def test_postgres_down_is_one_line_naming_the_server(
    team_servers: TeamServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team_servers.project(tmp_path / "p", registry_db="feast_faults")
    monkeypatch.chdir(tmp_path / "p")
    team_servers.postgres.stop()
    try:
        with pytest.raises(LabError) as failure:
            connect(tmp_path / "p").features.list()
        status = CliRunner().invoke(main, ["status", "--timeout", "5"])
    finally:
        team_servers.postgres.start()
    message = str(failure.value)
    assert "\n" not in message
    assert f"127.0.0.1:{team_servers.postgres.port}/feast_faults" in message
    assert "PostgreSQL" in message
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{team_servers.postgres.port}" in (
        status.output
    )


def test_postgres_stopping_mid_session_is_one_line_naming_the_server(
    team_servers: TeamServers, tmp_path: Path
) -> None:
    lab = team_servers.project(tmp_path / "p", registry_db="feast_mid_session")
    assert lab.features.list().views == ()  # the registry answers
    team_servers.postgres.stop()
    try:
        with pytest.raises(LabError) as failure:
            lab.features.list()
    finally:
        team_servers.postgres.start()
    message = str(failure.value)
    assert "\n" not in message and "Traceback" not in message
    assert "Feast registry postgresql://" in message
    assert f"127.0.0.1:{team_servers.postgres.port}/feast_mid_session" in message
    assert "start the PostgreSQL server" in message
