"""Real jobs on the session's Ray head: a Ray Train run that loses a worker and resumes,
registers its model with lineage; failures told apart; reattaching after a restart.

Jobs are tiny (a linear model, a few steps); the plain-Python failure jobs run side by side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab import lineage
from mlops_lab.backends.training import base
from mlops_lab.backends.training.ray_jobs import SubmissionFailedError
from mlops_lab.lab import Lab
from mlops_lab.services.training import TrainingFailedError
from mlops_lab.widgets.job import JobMonitor

pytestmark = pytest.mark.slow

TRAIN = """
import os
import time
import torch
from mlops_lab import train_helpers as th

frame = lab.data.read_table("tiny.parquet", ref=data_commit)
x = torch.tensor(frame[["a", "b"]].values, dtype=torch.float32)
y = torch.tensor(frame[["y"]].values, dtype=torch.float32)

def loop(config):
    model = th.prepare_model(torch.nn.Linear(2, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = th.resume(model)
    for epoch in range(start, config["epochs"]):
        if epoch == 2 and th.rank() == 0 and not os.path.exists(config["marker"]):
            # Ray Train's controller collects reported checkpoints when it polls the workers
            # (every 2 s): a worker dying sooner after its last report loses it
            time.sleep(6)
            open(config["marker"], "w").close()
            os._exit(1)  # a worker dies mid-training; --max-failures 1 resumes it
        loss = torch.nn.functional.mse_loss(model(config["x"]), config["y"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        th.report({"epoch": epoch, "loss": loss.item()}, model=model)

result = th.fit_torch(loop, {"epochs": 4, "x": x, "y": y, "marker": marker})
model = th.load_model(result, torch.nn.Linear(2, 1))
th.log_model(model, input_example=x[:2])
"""


def test_train_cell_resumes_registers_and_records_lineage(
    lab_on_head: Lab,
    ipython: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pandas as pd

    lab = lab_on_head
    lab.data.write_table(
        pd.DataFrame(
            {"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0], "y": [1.0, 1.0, 3.0, 3.0]}
        ),
        "tiny.parquet",
    )
    commit = lab.data.commit(message="tiny training data")
    notebook = tmp_path / "train.ipynb"
    monkeypatch.setenv("MLOPS_NOTEBOOK_PATH", str(notebook))  # as papermill runs set it
    ipython.user_ns.update(data_commit=commit, marker=str(tmp_path / "crashed-once"))
    ipython.magics_manager.registry["MLOps"].project = str(lab.root)

    ipython.run_cell_magic(
        "mlops",
        "train --name tiny --workers 2 --max-failures 1 --register tiny --with data_commit,marker",
        TRAIN,
    )

    out = capsys.readouterr().out
    assert ": succeeded, " in out and "epoch=3" in out
    job_id = out.split(": succeeded")[0].split()[-1]
    job = lab.training.job(job_id)
    assert job.status == base.SUCCEEDED
    logs = job.logs()
    # Restarted from the last checkpoint it had persisted (0 or 1), not from scratch.
    assert "[mlops] resumed from checkpoint at epoch=" in logs
    epochs = [m["epoch"] for m in job.metrics]
    assert epochs[:2] == [0, 1] and epochs[-1] == 3 and set(epochs) == {0, 1, 2, 3}
    assert "registered tiny version 1 as tiny@challenger" in logs

    version = lab.models.get("tiny@challenger")
    assert version.version == 1
    run = lab.tracking.get_run(version.run_id)
    tags = run.lineage
    assert tags[lineage.RAY_JOB_ID] == job_id
    assert tags[lineage.DATA_COMMIT] == commit
    assert tags[lineage.NOTEBOOK_PATH] == str(notebook)
    assert tags[lineage.CODE_HASH] == job.info.metadata["mlops.code.hash"]
    assert version.lineage[lineage.RAY_JOB_ID] == job_id
    assert run.metrics["loss"] > 0


FAIL = "raise ValueError('boom in the training script')\n"
SLOW = "import time\nprint('working', flush=True)\ntime.sleep(60)\n"


def test_failures_are_told_apart_and_reattach(
    lab_on_head: Lab, ipython: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = lab_on_head
    training = lab.training
    deadline = training.submit(SLOW, name="late", workers=1, deadline=3)
    stopped = training.submit(SLOW, name="stopme", workers=1)
    ipython.magics_manager.registry["MLOps"].project = str(lab.root)

    # An application failure fails the cell with one line (papermill: a failed cell).
    with pytest.raises(TrainingFailedError) as caught:
        ipython.run_cell_magic("mlops", "train --name broken --workers 1", FAIL)
    message = str(caught.value)
    assert "application failed" in message and "ValueError: boom in the training script" in message
    assert "%mlops logs broken-" in message and "\n" not in message

    # Stop a running job.
    for _ in range(60):
        if stopped.status == base.RUNNING and "working" in stopped.logs():
            break
        time.sleep(0.5)
    assert stopped.stop()
    with pytest.raises(TrainingFailedError) as caught:
        stopped.wait(timeout=60, poll=0.5)
    assert caught.value.fields["failure"] == base.STOPPED_BY_USER
    assert stopped.status == base.STOPPED

    # The deadline: the job is ended and says so.
    info = deadline.wait(timeout=90, poll=0.5, raise_on_failure=False)
    assert (info.state, info.failure) == (base.FAILED, base.DEADLINE_EXCEEDED)
    assert "deadline of 3 s" in info.reason

    # A later kernel finds them all again, with their outcomes.
    later = mlops_lab.connect(lab.root)
    outcomes = {s.name: (s.state, s.failure) for s in later.training.jobs()}
    assert outcomes == {
        "late": (base.FAILED, base.DEADLINE_EXCEEDED),
        "stopme": (base.STOPPED, base.STOPPED_BY_USER),
        "broken": (base.FAILED, base.APPLICATION_FAILED),
    }
    ipython.magics_manager.registry["MLOps"].reset()
    table = ipython.run_line_magic("mlops", "jobs")
    assert "deadline exceeded" in repr(table) and "stopme" in repr(table)
    capsys.readouterr()
    ipython.run_line_magic("mlops", f"logs {deadline.id} --tail 3")
    assert "[mlops] deadline exceeded after 3 s" in capsys.readouterr().out

    # The monitor of a finished job shows its state, failure and bounded logs.
    monitor = JobMonitor(later.training.job(stopped.id))
    final = monitor.run()
    assert final.state == base.STOPPED and monitor.stop_button.disabled
    assert "stopped" in monitor.header.value and "working" in monitor.log_box.value


def test_running_job_reattaches_in_a_new_kernel(lab_on_head: Lab, ipython: Any) -> None:
    ipython.magics_manager.registry["MLOps"].project = str(lab_on_head.root)
    ipython.run_cell_magic("mlops", "train --name longrun --workers 1 --no-wait", SLOW)
    (status,) = [s for s in lab_on_head.training.jobs() if s.name == "longrun"]
    try:
        ipython.magics_manager.registry["MLOps"].reset()  # a restarted kernel
        ipython.run_line_magic("mlops", "jobs")  # displays a live monitor for it
        later = mlops_lab.connect(lab_on_head.root).training.job(status.job_id)
        assert later.name == "longrun" and later.status in (base.PENDING, base.RUNNING)

        # The reattached monitor's Stop button stops the job.
        monitor = JobMonitor(later, wait=False).start()
        monitor.stop_button.click()
        monitor.join(60)
        assert monitor.status is not None and monitor.status.state == base.STOPPED
        assert monitor.stop_button.disabled and "stopped" in monitor.header.value
    finally:
        lab_on_head.training.job(status.job_id).stop()


def test_runtime_env_failure_is_a_submission_failure(lab_on_head: Lab, tmp_path: Path) -> None:
    backend = lab_on_head.training.backend()
    spec = base.JobSpec(
        name="nocode",
        working_dir="s3://mlops-lab-no-such-bucket/code.zip",
        entrypoint="python main.py",
        env={},
        metadata={base.META_PROJECT: str(lab_on_head.root)},
        submission_id=f"nocode-{int(time.time())}",
    )
    job_id = backend.submit(spec)
    from mlops_lab.services.training import Job

    info = Job(backend, job_id).wait(timeout=120, poll=0.5, raise_on_failure=False)
    assert (info.state, info.failure) == (base.FAILED, base.SUBMISSION_FAILED)

    spec.working_dir = tmp_path / "missing"
    with pytest.raises(SubmissionFailedError, match=r"submitting 'nocode' to .* failed"):
        backend.submit(spec)
