"""`mlops-lab run` records its job in a process of its own (services/notebooks/recorder.py):
the same calls as the in-process recorder, answered over a pipe, with the child's failures
as one line. Read back with MLflow's own client."""

from __future__ import annotations

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
