"""The secret-parameter guard, parameter and request sizes, and credentials in schedule
manifests: what a notebook job is given never carries a secret or an unbounded value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import mlops_lab
from mlops_lab.errors import ConfigError, TooLargeError, UsageError
from mlops_lab.services.notebooks import schedules

PARAMS = "rows = 100\nlabel = 'x'\nitems = []\noptions = {}"
SECRET = "pa55-very-secret-value"
IMAGE = "registry.example.com/mlops:1"


@pytest.fixture
def job(notebook: Any) -> Path:
    return notebook("train.ipynb", PARAMS, "print(rows, label)")


@pytest.fixture
def lab(project: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    return mlops_lab.connect(project.root)


@pytest.mark.parametrize(
    "values",
    [
        {"label": SECRET},
        {"label": f"  {SECRET}\n"},
        {"label": f"prefix-{SECRET}-suffix"},
        {"items": ["a", f" {SECRET} "]},
        {"options": {"nested": {"deep": [SECRET]}}},
        {"options": {SECRET: 1}},
    ],
)
def test_credential_values_refused_wherever_they_hide(
    lab: Any, job: Path, values: dict[str, Any]
) -> None:
    with pytest.raises(UsageError) as info:
        lab.notebooks.check_parameters(job, values)
    name = next(iter(values))
    assert str(info.value).startswith(
        f"parameter '{name}' holds the value of MLFLOW_TRACKING_PASSWORD, a credential;"
    )
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("passwd", "word 'passwd'"),
        ("db_pass", "word 'pass'"),
        ("credentials", "word 'credentials'"),
        ("auth_header", "word 'auth'"),
        ("api_token", "word 'token'"),
        ("aws_secret", "word 'secret'"),
        ("private_key", "word 'key'"),
    ],
)
def test_secret_names_refused_naming_the_rule(lab: Any, job: Path, name: str, rule: str) -> None:
    with pytest.raises(UsageError) as info:
        lab.notebooks.check_parameters(job, {name: "x"})
    assert str(info.value).startswith(
        f"parameter '{name}' looks like a secret (its name has the {rule})"
    )


@pytest.mark.parametrize(
    "value",
    ["postgresql://u:pw@db/x", "see https://h.example/data.csv?access_token=abc for rows"],
)
def test_urls_with_passwords_refused(lab: Any, job: Path, value: str) -> None:
    with pytest.raises(UsageError) as info:
        lab.notebooks.check_parameters(job, {"label": value})
    assert "holds a URL with a password or token" in str(info.value)
    assert "pw@" not in str(info.value) and "abc" not in str(info.value)


def test_plain_values_pass(lab: Any, job: Path) -> None:
    values = {"label": "https://h.example/data.csv", "items": ["a"], "options": {"k": 1}}
    assert lab.notebooks.check_parameters(job, values) == values


def test_guard_holds_for_schedules_too(lab: Any, job: Path) -> None:
    for values in ({"db_pass": "x"}, {"label": f" {SECRET}"}, {"label": "postgresql://u:pw@db/x"}):
        with pytest.raises(UsageError):
            lab.notebooks.schedule_spec(job, "0 2 * * *", IMAGE, values)


def test_huge_parameter_is_refused(lab: Any, job: Path) -> None:
    with pytest.raises(TooLargeError) as info:
        lab.notebooks.check_parameters(job, {"label": "x" * 50_000_000})
    assert str(info.value).startswith("parameter 'label' is 50,000,002 bytes, over the limit of")
    assert TooLargeError.http_status == 413


def test_parameter_over_the_annotation_cap_refused_at_dry_run(lab: Any, job: Path) -> None:
    spec = lab.notebooks.schedule_spec(job, "0 2 * * *", IMAGE, {"label": "x" * 1_000_000})
    with pytest.raises(TooLargeError) as info:
        schedules.manifests(lab, spec)
    assert "over Kubernetes' limit of 262,144" in str(info.value)


def test_huge_cron_is_not_echoed(lab: Any, job: Path) -> None:
    cron = "0 " * 2_500_000
    with pytest.raises(TooLargeError) as info:
        lab.notebooks.schedule_spec(job, cron, IMAGE)
    message = str(info.value)
    assert len(message) < 300 and "5,000,000 characters" in message


@pytest.mark.parametrize(
    "url",
    [
        "https://mlflow.example.com/?access_token=S3CRET-token",
        "http://user:S3CRET-pw@mlflow.example.com:5000",
    ],
)
def test_cronjob_carries_credential_urls_as_secret_refs(
    project: Any, job: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    lab = mlops_lab.connect(project.root)
    spec = lab.notebooks.schedule_spec(job, "0 2 * * *", IMAGE)
    docs = schedules.manifests(lab, spec)
    assert "S3CRET" not in yaml.safe_dump_all(docs)
    container = docs[-1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == {
        "name": "MLFLOW_TRACKING_URI",
        "valueFrom": {
            "secretKeyRef": {"name": "mlops-lab-credentials", "key": "MLFLOW_TRACKING_URI"}
        },
    }


def test_credential_url_in_shipped_mlops_toml_is_refused(project: Any, job: Path) -> None:
    file = project.root / "mlops.toml"
    file.write_text('[tracking]\nuri = "https://h.example/?token=S3CRET"\n', encoding="utf-8")
    lab = mlops_lab.connect(project.root)
    spec = lab.notebooks.schedule_spec(job, "0 2 * * *", IMAGE)
    with pytest.raises(ConfigError) as info:
        schedules.manifests(lab, spec)
    assert "S3CRET" not in str(info.value) and "token=***" in str(info.value)


@pytest.mark.slow
def test_fractional_timeout_runs(project: Any, notebook: Any) -> None:
    source = notebook("quick.ipynb", "n = 1", "print('done', n)")
    result = project.notebooks.execute(source, {}, timeout=2.5)
    assert result.status == "succeeded"
    run = project.tracking.client.get_run(result.run_id)
    assert run.info.status == "FINISHED"


@pytest.mark.slow
def test_a_notebook_that_deletes_the_store_is_one_line(project: Any, notebook: Any) -> None:
    import subprocess
    import sys

    source = notebook("wipe.ipynb", "n = 1", "import os\nos.remove('.mlops/mlflow.db')")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlops-lab"), "run", str(source)],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=300,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not be recorded in sqlite:///.mlops/mlflow.db" in errors[0]
