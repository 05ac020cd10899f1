"""The `mlops-lab` twins of the magics, run as a user runs them: the installed console
script in a subprocess, in a project made through the Python API (data commits, a run that
read them, a registered model). No Ray: training runs only as a Kubernetes dry run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab import lineage
from mlops_lab.lab import Lab

SCRIPT = str(Path(sys.executable).parent / "mlops-lab")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """A project with a committed table, a run that read it and fraud@champion from it."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("cli") / "project"
    root.mkdir()
    lab = mlops_lab.connect(root)
    lab.init()
    rows = "\n".join(f"{i},{i % 7},{int(i % 7 > 3)}" for i in range(40))
    lab.data.write_file(f"card_id,amount,is_fraud\n{rows}\n".encode(), "fraud/train.csv")
    lab.data.commit("main", "first table")
    with lab.tracking.start_run("baseline") as run:
        frame = lab.data.read_table("fraud/train.csv")
        model = LogisticRegression().fit(frame[["amount"]], frame["is_fraud"])
        run.log_metrics({"auc": 0.9})
        run.log_model(model)
    lab.models.register(run, "fraud", alias="champion")
    return lab


def cli(lab: Lab, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_DEBUG"}
    return subprocess.run(
        [SCRIPT, *argv],
        cwd=lab.root,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_data_branch_commit_log_diff(lab: Lab) -> None:
    head = lab.data.resolve("main")
    branched = cli(lab, "data", "branch", "dev")
    assert branched.returncode == 0, branched.stderr
    assert branched.stdout.strip() == f"branch dev at {head[:12]}"
    (lab.root / "extra.csv").write_text("card_id,amount\n1,2\n")
    staged = cli(lab, "data", "write", "extra.csv", "fraud/extra.csv", "--branch", "dev")
    assert staged.returncode == 0, staged.stderr
    # The notebook's hint, given as the terminal's command.
    assert "mlops-lab data commit dev -m '...' to commit" in staged.stdout
    committed = cli(lab, "data", "commit", "dev", "-m", "more rows")
    assert committed.returncode == 0, committed.stderr
    dev_head = lab.data.resolve("dev")
    assert committed.stdout.strip() == f"committed dev at {dev_head[:12]}"
    # Made from the terminal: no notebook wrote it (not the console script's own path).
    assert lineage.NOTEBOOK_PATH not in lab.data.get_commit("dev").metadata
    log = cli(lab, "--max-rows", "1", "data", "log", "dev").stdout.splitlines()
    assert log[0] == "log of dev"
    assert log[3].split()[:3] == [dev_head[:12], "more", "rows"]
    assert log[-1] == "... 2 more rows (mlops-lab --max-rows N to show more)"
    diff = cli(lab, "data", "diff", "main", "dev")
    assert diff.returncode == 0, diff.stderr
    assert any(
        line.split()[:2] == ["added", "fraud/extra.csv"] for line in diff.stdout.splitlines()
    ), diff.stdout
    frame = cli(lab, "--max-rows", "4", "data", "read", "fraud/train.csv", "--ref", "main")
    assert frame.returncode == 0, frame.stderr
    lines = frame.stdout.splitlines()
    assert lines[0].split() == ["card_id", "amount", "is_fraud"]
    assert lines[1].split() == ["0", "0", "0", "0"] and lines[-1].split() == ["39", "39", "4", "1"]
    assert len(lines) == 6 and lines[3].split()[0] == ".."  # 4 of 40 rows
    check = cli(lab, "data", "check")
    assert check.returncode == 0 and "no problems" in check.stdout, check.stderr


def test_models_and_versions(lab: Lab) -> None:
    listed = cli(lab, "models")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "registered models"
    assert lines[3].split()[:3] == ["fraud", "1", "@champion=v1"]
    versions = cli(lab, "models", "fraud")
    assert versions.returncode == 0, versions.stderr
    run_id = lab.models.get("fraud@champion").run_id
    assert run_id[:12] in versions.stdout and "champion" in versions.stdout


def test_lineage_of_the_champion(lab: Lab) -> None:
    version = lab.models.get("fraud@champion")
    result = cli(lab, "lineage", "fraud@champion")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "lineage of fraud@champion"
    assert version.run_id in result.stdout
    assert lab.data.resolve("main") in result.stdout  # the data commit the run read
    assert "fraud/1" in result.stdout


def test_jobs_and_endpoints_list_empty_tables(lab: Lab) -> None:
    jobs = cli(lab, "jobs")
    assert jobs.returncode == 0, jobs.stderr
    assert jobs.stdout.splitlines()[:2] == [
        f"training jobs of {lab.root}",
        "job  name  state  failure  reason  started  elapsed",
    ]
    endpoints = cli(lab, "endpoints")
    assert endpoints.returncode == 0, endpoints.stderr
    assert endpoints.stdout.splitlines()[1].split() == [
        "endpoint", "state", "version", "variant", "weight", "gate", "rate", "errors",
        "p50/p99", "ms", "url",
    ]  # fmt: skip


def test_usage_errors_exit_2_with_one_line(lab: Lab) -> None:
    unknown = cli(lab, "models", "fraud", "--colour")
    assert unknown.returncode == 2
    assert one_error_line(unknown) == (
        "error: mlops-lab models: unrecognized arguments: --colour; see mlops-lab models --help"
    )
    missing = cli(lab, "data", "branch")
    assert missing.returncode == 2
    assert one_error_line(missing).startswith(
        "error: mlops-lab data branch: the following arguments are required: name"
    )
    widget = cli(lab, "endpoints", "--widget")
    assert widget.returncode == 2
    assert "needs a notebook" in one_error_line(widget)
    no_body = cli(lab, "train", "--name", "t")
    assert no_body.returncode == 2
    assert "--file" in one_error_line(no_body)
    helped = cli(lab, "data", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: mlops-lab data")


def test_lab_errors_exit_1_with_one_line(lab: Lab) -> None:
    model = cli(lab, "lineage", "nosuch@champion")
    assert model.returncode == 1
    assert model.stdout == ""
    assert one_error_line(model).startswith("error: no registered model named 'nosuch'")
    endpoint = cli(lab, "endpoints", "nosuch")
    assert endpoint.returncode == 1
    assert "nosuch" in one_error_line(endpoint)
    rows = cli(lab, "predict", "nosuch", "rows.json")
    assert rows.returncode == 2
    assert "'rows.json' is not a file" in one_error_line(rows)


def test_train_reads_the_body_from_a_file(lab: Lab, tmp_path: Path) -> None:
    body = tmp_path / "body.py"
    body.write_text("print('training')\n")
    config = lab.root / "mlops.toml"
    original = config.read_text()
    config.write_text(
        original.replace("[kubernetes]\n", '[kubernetes]\nimage = "example.org/lab:1"\n', 1)
    )
    try:
        result = cli(
            lab, "train", "--name", "cli-train", "--file", str(body), "--on", "kubernetes",
            "--dry-run", "--workers", "3",
        )  # fmt: skip
    finally:
        config.write_text(original)
    assert result.returncode == 0, result.stderr
    assert "kind: RayJob" in result.stdout
    assert "MLOPS_WORKERS: '3'" in result.stdout
    assert f"MLOPS_NOTEBOOK_PATH: {body}" in result.stdout  # the script is the run's origin
    from_stdin = cli(
        lab, "train", "--name", "cli-train", "--file", "-", "--on", "kubernetes", "--dry-run",
        stdin="",
    )  # fmt: skip
    assert from_stdin.returncode == 2
    assert "needs the training script" in one_error_line(from_stdin)


def test_help_lists_every_command(lab: Any) -> None:
    from mlops_lab import magics
    from mlops_lab.cli import magics as twins

    result = cli(lab, "--help")
    assert result.returncode == 0, result.stderr
    listed = {
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    }
    expected = set(magics.command_names()) - set(twins.KERNEL_ONLY)
    expected |= {"demo", "pipeline", "schedules", "unschedule"}
    assert listed == expected
