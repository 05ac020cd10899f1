"""Schedules: manifests valid against the Kubernetes schemas, created / listed / deleted on
a local Kubernetes API through the real client, and every bad input refused up front."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

import mlops_lab
from mlops_lab.backends.k8s import cron
from mlops_lab.backends.k8s.credentials import CREDENTIAL_VARIABLES
from mlops_lab.backends.k8s.cronjob import CONFIGMAP_LIMIT
from mlops_lab.backends.k8s.validation import KUBERNETES_VERSION
from mlops_lab.cli import main
from mlops_lab.errors import ConfigError, LabError, NotFoundError, UsageError
from mlops_lab.services.notebooks import schedules

PARAMS = "rows = 100\nthreshold = 0.5\nlabel = 'x'"


@pytest.fixture
def job(notebook: Any) -> Path:
    return notebook("train.ipynb", PARAMS, "print(rows, threshold, label)")


def lab_for(project: Any) -> Any:
    return mlops_lab.connect(project.root)  # reread the environment (KUBECONFIG)


def test_manifests_are_valid_and_complete(project: Any, job: Path) -> None:
    lab = lab_for(project)
    spec = lab.notebooks.schedule_spec(
        job,
        "0 2 * * *",
        "registry.example.com/mlops:1",
        {"rows": "500"},
        gpus=2,
        text_parameters=True,
    )
    docs = schedules.manifests(lab, spec)
    config_map, cron_job = docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert config_map["kind"] == "ConfigMap"
    shipped = json.loads(config_map["data"]["notebook.ipynb"])
    assert "parameters" in shipped["cells"][0]["metadata"]["tags"]
    assert config_map["data"]["mlops.toml"] == (project.root / "mlops.toml").read_text()
    spec_ = cron_job["spec"]
    assert spec_["schedule"] == "0 2 * * *"
    assert spec_["concurrencyPolicy"] == "Forbid"
    assert spec_["startingDeadlineSeconds"] > 0
    assert spec_["successfulJobsHistoryLimit"] == 3 and spec_["failedJobsHistoryLimit"] == 3
    job_spec = spec_["jobTemplate"]["spec"]
    assert job_spec["backoffLimit"] == 1 and job_spec["activeDeadlineSeconds"] == 6 * 3600
    container = job_spec["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/mlops:1"
    assert container["command"][:3] == ["mlops-lab", "run", "/mlops/notebook/train.ipynb"]
    assert container["command"][-3:] == ["-p", "rows", "500"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    # credentials only by reference
    for env in container["env"]:
        if env["name"] in CREDENTIAL_VARIABLES:
            assert set(env) == {"name", "valueFrom"}
            assert env["valueFrom"]["secretKeyRef"]["name"] == "mlops-lab-credentials"
    assert {e["name"] for e in container["env"]} >= set(CREDENTIAL_VARIABLES)


def test_no_gpu_no_gpu_request(project: Any, job: Path) -> None:
    lab = lab_for(project)
    spec = lab.notebooks.schedule_spec(job, "@daily", "img:1")
    cron_job = schedules.manifests(lab, spec)[-1]
    resources = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
        "resources"
    ]
    assert "nvidia.com/gpu" not in resources["limits"]
    assert "tolerations" not in cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_dry_run_prints_yaml_and_creates_nothing(project: Any, job: Path, kube: Any) -> None:
    result = CliRunner().invoke(
        main,
        [
            "schedule",
            str(job),
            "--cron",
            "0 2 * * *",
            "--image",
            "img:1",
            "-p",
            "rows",
            "7",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert [d["kind"] for d in docs] == ["ConfigMap", "CronJob"]
    assert kube.objects() == []


def test_dry_run_in_a_cell_is_a_summary_with_the_yaml_folded(
    project: Any, job: Path, ipython: Any
) -> None:
    ipython.magics_manager.registry["MLOps"].project = str(project.root)
    shown = ipython.run_line_magic(
        "mlops", f"schedule {job} --cron '0 2 * * *' --image img:1 -p rows 7 --dry-run"
    )
    page = shown._repr_html_()
    summary, folded = page.split("<details", 1)
    assert ">0 2 * * * (UTC)<" in summary and ">rows=7<" in summary
    assert ">ConfigMap, CronJob<" in summary and "apiVersion" not in summary
    assert "<summary" in folded and "apiVersion: batch/v1" in folded
    docs = list(yaml.safe_load_all(repr(shown)))  # as text: the YAML itself
    assert [d["kind"] for d in docs] == ["ConfigMap", "CronJob"]


def test_create_list_delete_on_the_api(project: Any, job: Path, kube: Any) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "schedule",
            str(job),
            "--cron",
            "30 1 * * *",
            "--image",
            "img:1",
            "--name",
            "nightly",
            "--secret-env",
            "DB_URL=warehouse:url",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "schedule nightly created" in result.output
    kinds = sorted(o["kind"] for o in kube.objects())
    assert kinds == ["ConfigMap", "CronJob"]
    for obj in kube.objects():  # what reached the server is a valid object
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    (cron_job,) = kube.objects("CronJob")
    env = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "DB_URL",
        "valueFrom": {"secretKeyRef": {"name": "warehouse", "key": "url"}},
    } in env

    # a second one of the same name is refused, and nothing changes
    again = runner.invoke(
        main, ["schedule", str(job), "--cron", "@hourly", "--image", "img:2", "--name", "nightly"]
    )
    assert again.exit_code == 1
    assert again.output.startswith("error: schedule nightly already exists")
    assert kube.objects("CronJob")[0]["spec"]["schedule"] == "30 1 * * *"

    kube.set_status(
        "cronjobs",
        "default",
        "nightly",
        {"lastScheduleTime": "2026-01-01T01:30:00Z", "lastSuccessfulTime": "2026-01-01T01:31:10Z"},
    )
    listed = lab_for(project).notebooks.schedules()
    (row,) = listed.schedules
    assert row.name == "nightly" and row.cron == "30 1 * * *" and row.image == "img:1"
    assert row.notebook == "train.ipynb"
    assert row.last_run == dt.datetime(2026, 1, 1, 1, 30, tzinfo=dt.UTC)
    assert row.next_run is not None and row.next_run > dt.datetime.now(dt.UTC)
    assert (row.next_run.hour, row.next_run.minute) == (1, 30)
    shown = runner.invoke(main, ["schedules"])
    assert shown.exit_code == 0 and "nightly" in shown.output and "2026-01-01 01:30" in shown.output

    gone = runner.invoke(main, ["unschedule", "nightly"])
    assert gone.exit_code == 0, gone.output
    assert kube.objects() == []
    missing = runner.invoke(main, ["unschedule", "nightly"])
    assert missing.exit_code == 1
    assert missing.output.strip() == (
        "error: no schedule nightly in namespace default; see mlops-lab schedules"
    )


def test_magic_schedule(ipython: Any, project: Any, job: Path, kube: Any) -> None:
    created = ipython.run_line_magic("mlops", f"schedule {job} --cron @daily --image img:1")
    assert "created" in repr(created)
    table = ipython.run_line_magic("mlops", "schedule --list")
    assert [r[0] for r in table.rows] == ["train"]
    ipython.run_line_magic("mlops", "schedule --delete train")
    assert kube.objects() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--cron", "0 25 * * *", "--image", "i"],
            "error: invalid cron expression '0 25 * * *': hour field '25' has 25, outside 0-23",
        ),
        (["--cron", "* * *", "--image", "i"], "error: invalid cron expression '* * *': 3 fields"),
        (["--cron", "@sometimes", "--image", "i"], "error: invalid cron expression '@sometimes'"),
        (["--cron", "*/0 * * * *", "--image", "i"], "error: invalid cron expression"),
        (["--cron", "@daily"], "error: no image to run the notebook in; pass --image IMAGE"),
        (
            ["--cron", "@daily", "--image", "i", "-p", "rowz", "1"],
            "error: train.ipynb has no parameter 'rowz'; did you mean 'rows'?",
        ),
        (
            ["--cron", "@daily", "--image", "i", "-p", "rows", "many"],
            "error: parameter 'rows' of train.ipynb is int",
        ),
        (
            ["--cron", "@daily", "--image", "i", "-p", "db_password", "hunter2"],
            "error: parameter 'db_password' looks like a secret",
        ),
        (
            ["--cron", "@daily", "--image", "i", "--name", "Bad_Name"],
            "error: schedule name 'Bad_Name' is not a valid Kubernetes name",
        ),
        (
            ["--cron", "@daily", "--image", "i", "--timezone", "Mars/Olympus"],
            "error: unknown time zone 'Mars/Olympus'",
        ),
        (
            ["--cron", "@daily", "--image", "i", "--secret-env", "TOKEN"],
            "error: --secret-env 'TOKEN' must look like NAME=SECRET:KEY",
        ),
    ],
)
def test_bad_input_one_line_nothing_created(
    project: Any, job: Path, kube: Any, argv: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["schedule", str(job), *argv])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert kube.objects() == []
    assert "db_password" not in str(kube.objects()) and "hunter2" not in result.output


def test_missing_notebook(project: Any, kube: Any) -> None:
    result = CliRunner().invoke(
        main, ["schedule", "nope.ipynb", "--cron", "@daily", "--image", "i"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == "error: notebook nope.ipynb not found; check the path"
    assert kube.objects() == []


def test_large_notebook_needs_a_reachable_data_store(project: Any, notebook: Any) -> None:
    big = notebook("big.ipynb", "n = 1", "blob = '" + "x" * (CONFIGMAP_LIMIT + 10) + "'")
    lab = lab_for(project)
    spec = lab.notebooks.schedule_spec(big, "@daily", "img:1")
    with pytest.raises(UsageError, match="more than a ConfigMap holds"):
        lab.notebooks.schedule_yaml(spec)


def test_unreachable_cluster_is_one_line(
    project: Any, job: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "down"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(LabError, match="Kubernetes API unreachable") as info:
        lab_for(project).notebooks.schedules()
    assert "\n" not in str(info.value)


def test_no_kubeconfig(
    project: Any, job: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="no kubeconfig at"):
        lab_for(project).notebooks.schedules()
    with pytest.raises(NotFoundError):
        lab_for(project).notebooks.schedule("absent.ipynb", "@daily", "i")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 2 * * *", "2026-03-01T02:00", "2026-03-02T02:00"),
        ("*/15 * * * *", "2026-03-01T10:07", "2026-03-01T10:15"),
        ("0 9 * * mon-fri", "2026-03-06T09:00", "2026-03-09T09:00"),  # Fri -> Mon
        ("0 0 29 2 *", "2026-03-01T00:00", "2028-02-29T00:00"),
        ("0 12 1 * 0", "2026-03-01T13:00", "2026-03-08T12:00"),  # day-of-month OR Sunday
        ("@hourly", "2026-03-01T10:59", "2026-03-01T11:00"),
        ("0 0 * * 7", "2026-03-01T00:00", "2026-03-08T00:00"),  # 7 is Sunday
    ],
)
def test_cron_next(expression: str, after: str, expected: str) -> None:
    parsed = cron.parse(expression)
    assert parsed.next_after(dt.datetime.fromisoformat(after)) == dt.datetime.fromisoformat(
        expected
    )


@pytest.mark.slow
def test_large_notebook_ships_through_lakefs_and_runs_from_there(
    project: Any, notebook: Any, kube: Any, specs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
    from lakefs_server import LakeFSServer

    key, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    blob = "x" * (CONFIGMAP_LIMIT + 10)
    big = notebook("big.ipynb", "n = 1", f"blob = '{blob}'\nprint('size', len(blob) * n)")
    with LakeFSServer(specs_dir / "lakefs" / "swagger.yml", key, secret) as server:
        server.create_repository("notebooks")
        monkeypatch.setenv("LAKECTL_SERVER_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("LAKECTL_CREDENTIALS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY", secret)
        monkeypatch.setenv("MLOPS_DATA_BACKEND", "lakefs")
        monkeypatch.setenv("MLOPS_DATA_REPOSITORY", "notebooks")
        lab = lab_for(project)
        created = lab.notebooks.schedule(big, "@daily", "img:1", {"n": 2})
        assert created.notebook_uri.startswith("lakefs://notebooks/")
        (config_map,) = kube.objects("ConfigMap")
        assert "notebook.ipynb" not in config_map["data"]  # too big: only mlops.toml travels
        (cron_job,) = kube.objects("CronJob")
        container = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][2] == created.notebook_uri
        plain = {e["name"]: e.get("value") for e in container["env"] if "value" in e}
        assert plain["MLOPS_DATA_BACKEND"] == "lakefs"
        assert plain["LAKECTL_SERVER_ENDPOINT_URL"] == server.endpoint
        assert key not in json.dumps(cron_job) and secret not in json.dumps(cron_job)

        # what the pod runs: `mlops-lab run lakefs://...` fetches the notebook and runs it
        result = lab.notebooks.execute(created.notebook_uri, {"n": "2"}, text_parameters=True)
        assert result.ok
        assert f"size {2 * len(blob)}" in result.output.read_text()
        assert not server.violations, server.violations


def test_credentials_in_urls_never_ship(project: Any, job: Path) -> None:
    (project.root / "mlops.toml").write_text(
        '[tracking]\nuri = "https://alice:hunter2@mlflow.example.com"\n'
    )
    lab = lab_for(project)
    spec = lab.notebooks.schedule_spec(job, "@daily", "img:1")
    with pytest.raises(ConfigError, match=r"\[tracking\] uri carries a password") as info:
        schedules.manifests(lab, spec)
    assert "hunter2" not in str(info.value)


def test_a_credential_value_is_refused_as_a_parameter(
    project: Any, job: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-0123456789")
    with pytest.raises(UsageError, match="holds the value of MLFLOW_TRACKING_TOKEN") as info:
        lab_for(project).notebooks.check_parameters(job, {"label": "tok-0123456789"})
    assert "tok-0123456789" not in str(info.value)
