"""The REST API over a real in-process Jupyter server: routes, shapes, the error mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from mlops_lab.errors import BackendError
from mlops_lab.lab import Lab
from mlops_lab.server.routes import ROUTES, URL_PREFIX


def body(response: Any) -> Any:
    return json.loads(response.body)


def write_notebook(path: Path, parameters: str, code: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(code or "pass")]
    nb.metadata["kernelspec"] = {
        "name": "mlops",
        "display_name": "Python 3 (MLOps)",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_the_handler_table_is_the_extension_routes() -> None:
    from mlops_lab.server.app import MLOpsExtension

    assert URL_PREFIX == "mlops-lab/api"
    assert {r.pattern for r in ROUTES} >= {"status", "notebooks/parameters", "notebooks/runs"}
    for route in ROUTES:
        assert route.methods, f"{route.pattern} answers no method"
    assert MLOpsExtension.name == "mlops_lab"


async def test_status_answers_each_backend_of_the_project(api: Any, jp_root_dir: Path) -> None:
    response = await api("status")
    assert response.code == 200
    status = body(response)
    assert status["root"] == str(jp_root_dir.resolve())
    assert status["config_file"] == str(jp_root_dir.resolve() / "mlops.toml")
    concerns = {b["concern"]: b for b in status["backends"]}
    assert {"data", "tracking", "training"} <= set(concerns)
    assert concerns["tracking"]["kind"] == "mlflow"
    assert isinstance(concerns["data"]["reachable"], bool)


async def test_a_user_mistake_is_a_4xx_with_one_line(api: Any) -> None:
    response = await api("status?timeout=soon")
    assert response.code == 400
    assert body(response) == {
        "error": {
            "kind": "UsageError",
            "message": "timeout must be a number of seconds, got 'soon'",
        }
    }


async def test_an_invalid_request_body_names_the_fields(api: Any) -> None:
    response = await api("notebooks/runs", "POST", body={"notebook": "a.ipynb"})
    assert response.code == 400
    error = body(response)["error"]
    assert error["kind"] == "UsageError"
    assert "path: Field required" in error["message"]
    assert "notebook: Extra inputs are not permitted" in error["message"]
    assert "\n" not in error["message"]


async def test_a_missing_notebook_is_a_404(api: Any) -> None:
    response = await api("notebooks/parameters?path=nowhere.ipynb")
    assert response.code == 404
    assert body(response)["error"]["kind"] == "NotFoundError"


async def test_paths_outside_the_root_directory_are_refused(api: Any, tmp_path: Path) -> None:
    outside = write_notebook(tmp_path / "outside.ipynb", "x = 1")
    response = await api(f"notebooks/parameters?path=../{outside.name}")
    assert response.code == 400
    assert "outside the server's root directory" in body(response)["error"]["message"]


async def test_parameters_come_from_the_notebook_service(api: Any, jp_root_dir: Path) -> None:
    write_notebook(
        jp_root_dir / "train.ipynb", 'rows = 200\nlr: float = 0.1  # learning rate\nname = "x"'
    )
    response = await api("notebooks/parameters?path=train.ipynb")
    assert response.code == 200, response.body
    got = {p["name"]: p for p in body(response)["parameters"]}
    assert got["rows"] == {"name": "rows", "type": "int", "default": "200", "help": ""}
    assert got["lr"]["type"] == "float"
    assert got["lr"]["help"] == "learning rate"
    assert got["name"]["type"] == "str"


async def test_a_run_with_a_wrong_parameter_is_refused_before_it_starts(
    api: Any, jp_root_dir: Path, jp_serverapp: Any
) -> None:
    write_notebook(jp_root_dir / "train.ipynb", "rows = 200")
    typo = await api(
        "notebooks/runs", "POST", body={"path": "train.ipynb", "parameters": {"rowz": "5"}}
    )
    assert typo.code == 400
    assert "has no parameter 'rowz'; did you mean 'rows'?" in body(typo)["error"]["message"]
    wrong_type = await api(
        "notebooks/runs", "POST", body={"path": "train.ipynb", "parameters": {"rows": "many"}}
    )
    assert wrong_type.code == 400
    assert "parameter 'rows' of train.ipynb is int" in body(wrong_type)["error"]["message"]
    listed = await api("notebooks/runs")
    assert body(listed) == {"runs": []}


async def test_an_unknown_run_is_a_404(api: Any) -> None:
    response = await api("notebooks/runs/0123456789ab")
    assert response.code == 404
    assert "no notebook run '0123456789ab'" in body(response)["error"]["message"]


class _FailingLab(Lab):
    def status(self, timeout: float = 2.5) -> Any:
        raise RuntimeError("database is locked at /secret/path")


class TestUnexpectedErrors:
    @pytest.fixture
    def lab_factory(self) -> Any:
        import mlops_lab.config

        return lambda root: _FailingLab(mlops_lab.config.load(root))

    async def test_an_unexpected_failure_is_a_500_without_internals(self, api: Any) -> None:
        response = await api("status")
        assert response.code == 500
        error = body(response)["error"]
        assert error["kind"] == "InternalError"
        assert "RuntimeError" in error["message"]
        assert "/secret/path" not in response.body.decode()
        assert "Traceback" not in response.body.decode()


class _UnreachableLab(Lab):
    def status(self, timeout: float = 2.5) -> Any:
        raise BackendError("MLflow answered HTTP 503; check the tracking server")


class TestBackendErrors:
    @pytest.fixture
    def lab_factory(self) -> Any:
        import mlops_lab.config

        return lambda root: _UnreachableLab(mlops_lab.config.load(root))

    async def test_a_backend_failure_keeps_its_5xx_status_and_line(self, api: Any) -> None:
        response = await api("status")
        assert response.code == 502
        assert body(response)["error"] == {
            "kind": "BackendError",
            "message": "MLflow answered HTTP 503; check the tracking server",
        }


async def test_data_branches_log_and_diff_come_from_lab_data(api: Any, jp_root_dir: Path) -> None:
    import pandas as pd

    import mlops_lab

    data = mlops_lab.connect(jp_root_dir).data
    data.write_table(pd.DataFrame({"amount": [1.0, 2.0]}), "tx.parquet")
    first = data.commit(message="first transactions")
    data.create_branch("exp")
    data.write_table(pd.DataFrame({"amount": [3.0]}), "more.parquet", branch="exp")

    branches = body(await api("data/branches"))
    assert branches["default_branch"] == "main"
    assert branches["backend"] == "local"
    assert {b["name"]: b["commit"] for b in branches["branches"]} == {"main": first, "exp": first}

    log = body(await api("data/log?limit=5"))
    assert log["ref"] == "main"
    assert log["commits"][0]["id"] == first
    assert log["commits"][0]["message"] == "first transactions"

    diff = body(await api("data/diff?left=exp"))
    assert diff == {
        "left": "exp",
        "right": None,
        "changes": [{"path": "more.parquet", "kind": "added", "size": diff["changes"][0]["size"]}],
    }
    assert diff["changes"][0]["size"] > 0


async def test_data_errors_map_to_4xx(api: Any) -> None:
    missing = await api("data/log?ref=no-such-branch")
    assert 400 <= missing.code < 500
    assert body(missing)["error"]["kind"] in ("NotFoundError", "UsageError")
    limit = await api("data/log?limit=0")
    assert limit.code == 400
    assert body(limit)["error"]["message"] == "limit must be between 1 and 1000, got 0"


@pytest.mark.slow
async def test_runs_models_versions_aliases_and_lineage(api: Any, jp_root_dir: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import mlops_lab

    lab = mlops_lab.connect(jp_root_dir)
    x = np.random.default_rng(0).random((30, 2))
    y = (x[:, 0] > 0.5).astype(int)
    with lab.tracking.start_run("baseline") as run:
        run.log_metrics({"auc": 0.91})
        run.log_model(LogisticRegression().fit(x, y))
    lab.models.register(run, "fraud", alias="champion")
    lab.models.register(run, "fraud")

    runs = body(await api("runs?limit=5"))
    assert runs["experiment"] == "default"
    assert [(r["run_id"], r["name"], r["metrics"]) for r in runs["runs"]] == [
        (run.id, "baseline", {"auc": 0.91})
    ]

    listed = body(await api("models"))["models"]
    assert [(m["name"], m["latest_version"], m["aliases"]) for m in listed] == [
        ("fraud", 2, {"champion": 1})
    ]

    versions = body(await api("models/fraud/versions"))
    assert [(v["version"], v["aliases"], v["run_id"]) for v in versions["versions"]] == [
        (2, [], run.id),
        (1, ["champion"], run.id),
    ]
    assert versions["versions"][1]["metrics"] == {"auc": 0.91}

    walked = body(await api("lineage?target=fraud@champion"))
    steps = {s["step"]: s for s in walked["steps"]}
    assert steps["model"]["id"] == "fraud/1"
    assert "@champion" in steps["model"]["detail"]
    assert steps["run"]["id"] == run.id

    unknown = await api("models/nope/versions")
    assert unknown.code == 404
    alias = await api("lineage?target=fraud@nope")
    assert alias.code == 404
    assert "has no alias 'nope'" in body(alias)["error"]["message"]


async def test_lineage_needs_a_target(api: Any) -> None:
    response = await api("lineage")
    assert response.code == 400
    assert body(response)["error"]["message"].startswith("lineage needs a target")


async def test_jobs_listing_does_not_start_a_local_ray_head(api: Any, jp_root_dir: Path) -> None:
    listed = body(await api("jobs"))
    assert listed["backend"] == "ray-local"
    assert listed["jobs"] == []
    assert "not running" in listed["notice"]
    logs = await api("jobs/raysubmit_abc/logs")
    assert logs.code == 404
    stop = await api("jobs/raysubmit_abc/stop", "POST")
    assert stop.code == 404
    assert not (jp_root_dir / ".mlops" / "ray" / "head.json").exists()


async def test_a_schedule_is_checked_and_previewed_by_the_notebook_service(
    api: Any, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "train.ipynb", "rows = 200")
    bad_cron = await api(
        "notebooks/schedules",
        "POST",
        body={"path": "train.ipynb", "cron": "every day", "image": "mlops:1", "dry_run": True},
    )
    assert bad_cron.code == 400
    assert body(bad_cron)["error"]["kind"] == "UsageError"
    no_image = await api(
        "notebooks/schedules",
        "POST",
        body={"path": "train.ipynb", "cron": "@daily", "dry_run": True},
    )
    assert no_image.code == 400
    assert "no image to run the notebook in" in body(no_image)["error"]["message"]
    preview = await api(
        "notebooks/schedules",
        "POST",
        body={
            "path": "train.ipynb",
            "cron": "0 2 * * *",
            "image": "registry.example/mlops:1",
            "parameters": {"rows": "50"},
            "dry_run": True,
        },
    )
    assert preview.code == 200, preview.body
    got = body(preview)
    assert got["name"] == "train"
    assert got["created"] is False
    assert got["cron"] == "0 2 * * *"
    assert "kind: CronJob" in got["yaml"]
    assert "registry.example/mlops:1" in got["yaml"]
