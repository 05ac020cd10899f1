"""`mlops-lab run` records its job in a process of its own (services/notebooks/recorder.py):
the same calls as the in-process recorder, answered over a pipe, with the child's failures
as one line. Read back with MLflow's own client."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlops_lab
from mlops_lab.services.notebooks.recorder import RecorderProcess, RecordingFailed


def test_the_recorder_process_opens_collects_and_finishes_the_job_run(tmp_path: Path) -> None:
    lab = mlops_lab.connect(tmp_path)
    lab.init()
    executed = tmp_path / "job.out.ipynb"
    executed.write_text("{}")
    recorder = RecorderProcess(lab.config)
    try:
        started = time.time()
        run_id = recorder.start("job", {"mlops.job.kind": "notebook"}, {"n": 2, "xs": [1]}, None)
        produced, _, params, tags = recorder.collect(run_id, "job.ipynb", started, "job-1")
        assert produced == {}
        assert params == {"n": "2", "xs": "[1]"}
        assert tags["mlops.job.kind"] == "notebook"
        recorder.finish(run_id, executed, "FAILED", {"mlops.job.status": "failed"})
        with pytest.raises(RecordingFailed, match=r"^MlflowException: Run .*not found$"):
            recorder.finish("no-such-run", None, "FAILED", {})
    finally:
        recorder.close()
    client = lab.tracking.client
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["mlops.job.status"] == "failed"
    assert [a.path for a in client.list_artifacts(run_id, "notebook")] == ["notebook/job.out.ipynb"]


def test_a_recorder_asked_nothing_stops_at_once_and_creates_no_store(tmp_path: Path) -> None:
    """What `mlops-lab run` does on bad input: it started its recorder first thing, and
    closes it before any call. The child has only imported modules: no tracking store."""
    lab = mlops_lab.connect(tmp_path)
    recorder = RecorderProcess(lab.config)
    time.sleep(0.5)  # the child is importing MLflow
    started = time.perf_counter()
    recorder.close()
    assert time.perf_counter() - started < 2
    assert list(tmp_path.rglob("*.db")) == []


def test_the_recorder_reaches_a_tracking_server_without_importing_feast() -> None:
    """MLflow loads request-header plugins at its first request to a server; Feast's
    imports all of Feast (seconds). The recorder loads MLflow's own providers, not it."""
    check = (
        "import sys\n"
        "from mlops_lab.cli._job_recorder import import_mlflow\n"
        "import_mlflow('http://127.0.0.1:5000')\n"
        "from mlflow.tracking.request_header.registry import _request_header_provider_registry\n"
        "names = [type(p).__name__ for p in _request_header_provider_registry]\n"
        "assert 'DefaultRequestHeaderProvider' in names, names\n"
        "assert not any(n.startswith('Feast') for n in names), names\n"
        "assert 'feast' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=120)
