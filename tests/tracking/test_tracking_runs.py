"""Tracked runs: lineage stamping, FAILED on exceptions, cooperation with mlflow's own
active run, the project-relative store, and a run spanning notebook cells."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from mlops_lab import lineage
from mlops_lab.errors import ConflictError
from mlops_lab.lab import Lab


def test_tracking_uri_is_resolved_against_the_project_root(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    assert lab.tracking.uri == f"sqlite:///{lab.root / '.mlops' / 'mlflow.db'}"
    with lab.tracking.start_run("where") as run:
        pass
    assert (lab.root / ".mlops" / "mlflow.db").is_file()
    assert not (tmp_path / ".mlops").exists()
    artifacts = lab.tracking.client.get_run(run.id).info.artifact_uri
    assert artifacts.startswith((lab.root / ".mlops" / "mlartifacts").as_uri())


def test_run_stamps_lineage(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = lab.root / "train.ipynb"
    notebook.write_text("{}", encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=lab.root, check=True)
    subprocess.run(["git", "add", "train.ipynb"], cwd=lab.root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "nb"], cwd=lab.root, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=lab.root, check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setenv("MLOPS_NOTEBOOK_PATH", str(notebook))

    lab.data.write_table(pd.DataFrame({"a": [1, 2]}), "t/a.parquet")
    commit = lab.data.commit(message="a")
    with lab.tracking.start_run("stamped", tags={lineage.RAY_JOB_ID: "raysubmit_1"}) as run:
        lab.data.read_table("t/a.parquet", commit)
    tags = lab.tracking.client.get_run(run.id).data.tags
    assert tags[lineage.NOTEBOOK_PATH] == str(notebook.resolve())
    assert tags[lineage.NOTEBOOK_GIT_SHA] == sha
    assert tags[lineage.NOTEBOOK_GIT_DIRTY] == "false"
    assert tags[lineage.RAY_JOB_ID] == "raysubmit_1"
    assert tags[lineage.DATA_COMMIT] == commit
    assert tags[lineage.DATA_PATHS] == "t/a.parquet"
    assert len(tags.get(lineage.CODE_HASH, "")) in (0, 64)

    notebook.write_text('{"changed": 1}', encoding="utf-8")
    with lab.tracking.start_run("dirty") as run:
        pass
    assert lab.tracking.client.get_run(run.id).data.tags[lineage.NOTEBOOK_GIT_DIRTY] == "true"
    assert run.stamp_seconds < 0.5


def test_exception_ends_run_failed_registers_nothing_moves_no_alias(
    lab: Lab, trained: dict[str, Any]
) -> None:
    before = {v.version: v.aliases for v in lab.models.versions("fraud")}
    with pytest.raises(ZeroDivisionError), lab.tracking.start_run("broken") as run:
        run.log_model(_model())
        1 / 0  # noqa: B018
    assert lab.tracking.client.get_run(run.id).info.status == "FAILED"
    assert mlflow.active_run() is None
    with pytest.raises(ConflictError, match=f"run {run.id} ended FAILED"):
        lab.models.register(run, "fraud", alias="champion")
    assert {v.version: v.aliases for v in lab.models.versions("fraud")} == before
    assert lab.models.get("fraud@champion").version == trained["version"].version


def test_cooperates_with_mlflow_active_run(lab: Lab) -> None:
    previous = mlflow.get_tracking_uri()
    with lab.tracking.start_run("outer") as outer:
        assert mlflow.active_run().info.run_id == outer.id
        mlflow.log_metric("fluent", 1.5)  # the user's own mlflow calls land in the lab run
        with pytest.raises(ConflictError, match="already active"):
            lab.tracking.start_run("second")
        with lab.tracking.start_run("child", nested=True) as child:
            assert mlflow.active_run().info.run_id == child.id
        assert mlflow.active_run().info.run_id == outer.id
    assert mlflow.active_run() is None
    assert mlflow.get_tracking_uri() == previous  # global state put back
    got = lab.tracking.get_run(outer.id)
    assert got.metrics == {"fluent": 1.5}
    assert lab.tracking.get_run(child.id).parent_run_id == outer.id
    assert os.environ.get("MLFLOW_TRACKING_URI") != lab.tracking.uri


def test_run_opened_in_one_cell_collects_reads_of_another(lab: Lab, ipython: Any) -> None:
    lab.data.write_table(pd.DataFrame({"b": [1]}), "t/b.parquet")
    commit = lab.data.commit(message="b")
    ipython.user_ns["lab"] = lab
    ipython.user_ns["commit"] = commit
    for code in (
        "run = lab.tracking.start_run('cells')",
        "frame = lab.data.read_table('t/b.parquet', commit)",
        "run.end()",
    ):
        assert ipython.run_cell(code, store_history=True).success  # as a kernel runs cells
    run = ipython.user_ns["run"]
    tags = lab.tracking.client.get_run(run.id).data.tags
    assert tags[lineage.DATA_COMMIT] == commit
    assert len(tags[lineage.CODE_HASH]) == 64
    # Reads after the run ended are not stamped on it.
    lineage.note(lineage.DATA_COMMIT, "after")
    assert "after" not in lab.tracking.client.get_run(run.id).data.tags[lineage.DATA_COMMIT]


def test_log_artifact(lab: Lab, tmp_path: Path) -> None:
    report = tmp_path / "executed.ipynb"
    report.write_text("{}", encoding="utf-8")
    with lab.tracking.start_run("job") as run:
        uri = lab.tracking.log_artifact(report, artifact_path="notebooks")
    assert uri.endswith("/notebooks/executed.ipynb")
    names = [a.path for a in lab.tracking.client.list_artifacts(run.id, "notebooks")]
    assert names == ["notebooks/executed.ipynb"]


def _model() -> Any:
    import numpy as np
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])


def test_long_lineage_values_fit_in_a_tag(lab: Lab) -> None:
    with lab.tracking.start_run("many paths") as run:
        for i in range(400):
            lineage.note(lineage.DATA_PATHS, f"tables/part-{i:05d}.parquet")
    value = lab.tracking.client.get_run(run.id).data.tags[lineage.DATA_PATHS]
    assert len(value) <= 5000
    assert value.startswith("tables/part-00000.parquet,")
    kept = value.count(",")
    assert value.endswith(f",...(+{400 - kept} more)")
