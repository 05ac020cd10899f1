"""The quickstart, unchanged, on the team profile: `mlops-lab run` against an MLflow tracking
server (PostgreSQL backend, artifacts served through it), Feast with its registry in
PostgreSQL and its online store in Redis, and a remote Ray head. The results are read back
with MLflow's own client over HTTP and Feast's own FeatureStore, not through the lab."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from shared_servers import TeamServers, free_port, owned_environment, stop_tagged

from mlops_lab import lineage, resources
from mlops_lab.errors import LabError
from mlops_lab.lab import Lab, connect

# the quickstart alone takes 6-8 min on a busy 2-core machine; its checks share that one run
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REGISTER = """
import sys, mlops_lab
lab = mlops_lab.connect(sys.argv[1])
print(lab.models.register(sys.argv[2], "fraud-team-processes").version)
"""


def lab_environment(servers: TeamServers, serve_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLOPS_") and k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")
    }
    return {**env, **servers.environment(), "MLOPS_SERVING_HTTP_PORT": str(serve_port)}


@pytest.fixture(scope="module")
def quickstart(
    team_ray: TeamServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    team_servers = team_ray
    root = tmp_path_factory.mktemp("team") / "quickstart"
    team_servers.project(root)
    env = lab_environment(team_servers, free_port())
    notebook = root / "quickstart.ipynb"
    notebook.write_bytes(resources.notebook("quickstart.ipynb").read_bytes())
    tag = f"quickstart-{os.getpid()}-{free_port()}"
    started = time.monotonic()
    try:
        # tagged: the kernel runs in its own session, so a failed or timed-out run's kernel
        # and whatever it started are found by the tag, not by the process tree
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "mlops-lab"),
                "run",
                str(notebook),
                "--output",
                str(root / "quickstart.out.ipynb"),
            ],
            cwd=root,
            env=owned_environment(tag, env),
            capture_output=True,
            text=True,
            timeout=1500,
        )
        yield {
            "root": root,
            "result": result,
            "env": env,
            "seconds": time.monotonic() - started,
        }
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            with contextlib.suppress(LabError):
                connect(root).serving.undeploy("fraud")
    finally:
        stop_tagged(tag)


@pytest.fixture
def team_lab(quickstart: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Lab:
    for name, value in quickstart["env"].items():
        if name.startswith(("MLOPS_", "RAY_")):
            monkeypatch.setenv(name, value)
    return connect(quickstart["root"])


def errors_in(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(nb.cells)
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def test_quickstart_runs_unchanged_on_the_team_servers(quickstart: dict[str, Any]) -> None:
    executed = quickstart["root"] / "quickstart.out.ipynb"
    result = quickstart["result"]
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert errors_in(executed) == []
    assert "succeeded" in result.stdout
    # every artifact went through the server: nothing landed in the embedded artifact root
    assert not (quickstart["root"] / ".mlops" / "mlartifacts").exists()
    assert not (quickstart["root"] / ".mlops" / "mlflow.db").exists()
    print(f"team quickstart: {quickstart['seconds']:.0f} s")


def test_champion_read_back_with_mlflow_over_http(
    quickstart: dict[str, Any], team_servers: TeamServers, tmp_path: Path
) -> None:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=team_servers.mlflow.url)
    champion = client.get_model_version_by_alias("fraud", "champion")
    tags = champion.tags
    assert tags[lineage.DATA_COMMIT]
    assert tags[lineage.FEATURES_SERVICE] == "fraud_v1"
    assert tags[lineage.RUN_ID] == champion.run_id
    run = client.get_run(champion.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    mlflow.set_tracking_uri(team_servers.mlflow.url)
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri="models:/fraud@champion", dst_path=str(tmp_path)
        )
    finally:
        mlflow.set_tracking_uri(None)
    assert (Path(local) / "MLmodel").is_file()
    # the notebook job itself is a run with the executed notebook as its artifact
    job_runs = client.search_runs(
        [run.info.experiment_id],
        filter_string="tags.`mlops.notebook.path` LIKE '%quickstart%' "
        "AND tags.`mlops.job.kind` = 'notebook'",
    )
    assert job_runs, "the notebook job's run is missing"
    for job in job_runs:
        assert job.info.status == "FINISHED"
        assert [a.path for a in client.list_artifacts(job.info.run_id, "notebook")] == [
            "notebook/quickstart.out.ipynb"
        ]


def test_online_features_from_redis_equal_feasts_own(
    team_lab: Lab, team_servers: TeamServers
) -> None:
    import feast
    import pandas as pd

    team_lab.features.materialize("2020-01-01", pd.Timestamp.now(tz="UTC"))
    rows = [{"card_id": card} for card in range(1, 40)]
    ours = team_lab.features.online(rows, "fraud_v1")
    settings = {
        "project": "mlops_lab",
        "provider": "local",
        "registry": {
            "registry_type": "sql",
            "path": team_servers.postgres.url("feast").replace(
                "postgresql://", "postgresql+psycopg://"
            ),
        },
        "online_store": {
            "type": "redis",
            "connection_string": f"127.0.0.1:{team_servers.redis.port}",
        },
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    store = feast.FeatureStore(config=feast.RepoConfig(**settings))
    theirs = store.get_online_features(
        features=store.get_feature_service("fraud_v1"), entity_rows=rows
    ).to_df()
    assert ours["spend_7d"].notna().sum() > 10
    columns = sorted(theirs.columns)
    pd.testing.assert_frame_equal(
        ours[columns].sort_values("card_id").reset_index(drop=True),
        theirs[columns].sort_values("card_id").reset_index(drop=True),
    )


def test_eight_processes_register_distinct_versions(
    team_lab: Lab, team_servers: TeamServers
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=team_servers.mlflow.url)
    run_id = client.get_model_version_by_alias("fraud", "champion").run_id
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER, str(team_lab.root), run_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    versions = sorted(int(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert versions == list(range(1, 9))
    registered = client.search_model_versions("name='fraud-team-processes'")
    assert sorted(int(v.version) for v in registered) == versions
    assert all(v.run_id == run_id and v.tags.get(lineage.RUN_ID) == run_id for v in registered)
    assert client.get_run(run_id).info.status == "FINISHED"


def test_redis_down_during_online_reads_fails_in_one_line(
    team_lab: Lab, team_servers: TeamServers
) -> None:
    rows = [{"card_id": 1}]
    team_lab.features.online(rows, "fraud_v1")  # the store is open and warm
    team_servers.redis.stop()
    try:
        started = time.monotonic()
        with pytest.raises(LabError) as failure:
            team_lab.features.online(rows, "fraud_v1")
        elapsed = time.monotonic() - started
    finally:
        team_servers.redis.start()
    message = str(failure.value)
    assert "\n" not in message
    assert f"127.0.0.1:{team_servers.redis.port}" in message
    assert elapsed < 3 * team_lab.config.features.online_timeout_s
