"""The local Ray head the lab manages, and the bad inputs refused before anything is
submitted (one line each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab.backends.training.local_head import LocalHead
from mlops_lab.errors import LabError, NotFoundError, UnreachableError, UsageError
from mlops_lab.lab import Lab
from mlops_lab.services.training import local_modules


def _sleeper(marker: str, new_session: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker],
                            start_new_session=new_session)


def test_down_stops_only_the_head_the_lab_started(tmp_path: Path) -> None:
    head = LocalHead(tmp_path / ".mlops" / "ray")
    ours = _sleeper(str(head.temp_dir), new_session=True)
    other = _sleeper("/tmp/ray/another-users-head", new_session=True)
    try:
        head.state_dir.mkdir(parents=True)
        head.state_file.write_text(json.dumps({
            "dashboard_url": "http://127.0.0.1:9", "sid": ours.pid, "temp_dir": str(head.temp_dir),
        }))
        assert head.down() is True
        assert ours.wait(10) is not None
        assert other.poll() is None, "down() must not touch Ray processes it did not start"
        assert not head.state_file.exists()
        assert head.down() is False
    finally:
        for proc in (ours, other):
            proc.kill()
            proc.wait()


def test_no_head_yet_is_reported_not_started(project: Lab) -> None:
    info = project.training.cluster.info()
    assert not info.running and "not started" in info.detail


def test_later_kernel_reuses_the_running_head(lab_on_head: Lab, ray_head: dict[str, Any],
                                             ipython: Any) -> None:
    started = time.monotonic()
    info = lab_on_head.training.up()
    assert time.monotonic() - started < 5, "a running head must be reused, not restarted"
    assert info.running and info.dashboard_url == ray_head["dashboard_url"]
    assert info.dashboard_url.startswith("http://127.0.0.1:")
    assert info.resources["CPU"] == 4 and info.gpus == 0
    assert lab_on_head.status()["training"].reachable
    ipython.magics_manager.registry["MLOps"].project = str(lab_on_head.root)
    table = ipython.run_line_magic("mlops", "ray status")
    assert ray_head["dashboard_url"] in repr(table) and "CPU=4" in repr(table)


def test_gpus_on_a_head_without_gpus_is_refused_before_submitting(lab_on_head: Lab) -> None:
    with pytest.raises(UsageError) as caught:
        lab_on_head.training.submit("print('x')\n", name="gpu", workers=1, gpus=1)
    message = str(caught.value)
    assert "--gpus 1 asked but the Ray head" in message and "has 0 GPU" in message
    assert "nothing was submitted" in message and "\n" not in message
    assert lab_on_head.training.jobs() == []


def test_more_cpus_than_the_head_has_is_refused(lab_on_head: Lab) -> None:
    with pytest.raises(UsageError, match=r"need 12 CPUs but the Ray head .* has 4"):
        lab_on_head.training.submit("print('x')\n", name="big", workers=6, cpus=2)


def test_syntax_error_reported_with_line_before_submission(project: Lab, ipython: Any) -> None:
    ipython.magics_manager.registry["MLOps"].project = str(project.root)
    body = "import os\n\nfor i in range(3)\n    print(i)\n"
    with pytest.raises(UsageError) as caught:
        ipython.run_cell_magic("mlops", "train --name broken", body)
    assert str(caught.value) == ("syntax error in the training script at line 3: expected ':'; "
                                 "fix it and rerun (nothing was submitted)")
    # Nothing was started for it either.
    assert not (project.root / ".mlops" / "ray" / "head.json").exists()


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("train --name x --nodes 2", "unrecognized arguments: --nodes 2"),
        ("train", "the following arguments are required: --name"),
        ("train --name Bad_Name", "invalid job name 'Bad_Name'"),
        ("train --name x --workers 0", "--workers must be at least 1"),
        ("train --name x --on mars", "invalid choice: 'mars'"),
    ],
)
def test_bad_flags_are_one_line(project: Lab, ipython: Any, line: str, words: str) -> None:
    ipython.magics_manager.registry["MLOps"].project = str(project.root)
    with pytest.raises(UsageError) as caught:
        ipython.run_cell_magic("mlops", line, "print('x')\n")
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_empty_cell_is_refused(project: Lab, ipython: Any) -> None:
    ipython.magics_manager.registry["MLOps"].project = str(project.root)
    with pytest.raises(UsageError, match="needs the training script as the cell body"):
        ipython.run_cell_magic("mlops", "train --name x", "\n")


@pytest.mark.parametrize("address", ["http://127.0.0.1:9", "http://10.255.255.1:8265"])
def test_unreachable_head_within_five_seconds(project: Lab, monkeypatch: pytest.MonkeyPatch,
                                              address: str) -> None:
    monkeypatch.setenv("RAY_ADDRESS", address)
    lab = mlops_lab.connect(project.root)
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        lab.training.submit("print('x')\n", name="x")
    assert time.monotonic() - started <= 5.0
    assert f"Ray head at {address} did not answer" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_job_is_not_found(lab_on_head: Lab) -> None:
    with pytest.raises(NotFoundError, match="no job 'nope-123' on"):
        lab_on_head.training.job("nope-123")


def test_local_modules_ship_with_the_code(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("import features\nVALUE = 1\n")
    (tmp_path / "features.py").write_text("X = 2\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "data.parquet").write_bytes(b"0" * 100)
    source = "import helpers\nfrom pkg import thing\nimport numpy\n"
    shipped = [p.name for p in local_modules(source, tmp_path)]
    assert shipped == ["features.py", "helpers.py", "pkg"]


def test_code_too_big_is_refused(project: Lab, tmp_path: Path, ray_head: dict[str, Any]) -> None:
    (tmp_path / "blob.py").write_text("DATA = '" + "x" * 6_000_000 + "'\n")
    with pytest.raises(UsageError, match=r"ship code only and read data through lab\.data"):
        project.training.submit("import blob\n", name="big", source_dir=tmp_path)


def test_errors_survive_pickling() -> None:
    import pickle

    from mlops_lab.services.training import TrainingFailedError

    error = TrainingFailedError("job x application failed", job_id="x", failure="application failed")
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, LabError) and again.fields["failure"] == "application failed"
    assert os.fspath(str(again)) == "job x application failed"


def test_head_leaves_kernel_only_settings_behind() -> None:
    from mlops_lab.backends.training.local_head import head_environment

    env = head_environment({
        "PATH": "/usr/bin", "PROMETHEUS_MULTIPROC_DIR": "/tmp/gone", "JPY_SESSION_NAME": "a.ipynb",
        "MLOPS_TRACKING_URI": "sqlite:///x.db", "RAY_ADDRESS": "http://x:8265", "HOME": "/root",
    })
    assert env == {"PATH": "/usr/bin", "HOME": "/root", "RAY_USAGE_STATS_ENABLED": "0"}


def test_remote_head_through_ray_address(project: Lab, ray_head: dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_head["dashboard_url"])
    lab = mlops_lab.connect(project.root)
    backend = lab.training.backend()
    assert (backend.kind, backend.target) == ("ray-remote", ray_head["dashboard_url"])
    assert lab.training.jobs() == []
    with pytest.raises(UsageError, match=r"--gpus 2 asked but the Ray head at http://127\.0\.0\.1"):
        lab.training.submit("print('x')\n", name="remote", gpus=2)
    assert not (project.root / ".mlops" / "ray" / "head.json").exists()


@pytest.mark.slow
def test_a_second_project_head_runs_jobs_beside_the_first(
    tmp_path: Path, ray_head: dict[str, Any]
) -> None:
    """Ray's fixed default ports (dashboard agent 52365, client 10001) must not be shared:
    with them, the second head accepts jobs it can never run ("No available agent")."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    second = LocalHead(tmp_path / ".mlops" / "ray", dashboard_port=0)
    try:
        info = second.up(num_cpus=1)
        assert info.dashboard_url != ray_head["dashboard_url"]
        client = JobSubmissionClient(info.dashboard_url)
        job_id = client.submit_job(entrypoint="python -c \"print('second head ran me')\"")
        deadline = time.monotonic() + 90
        while not client.get_job_status(job_id).is_terminal() and time.monotonic() < deadline:
            time.sleep(1)
        assert client.get_job_status(job_id) == JobStatus.SUCCEEDED
        assert "second head ran me" in client.get_job_logs(job_id)
    finally:
        second.down()
