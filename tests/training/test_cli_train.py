"""`mlops-lab train --file BODY.py` on the session's Ray head: the terminal streams the job's
logs, ends with the monitor's summary, and a failed job exits 1 with one line; `jobs` and
`logs` find the jobs afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_lab.lab import Lab

pytestmark = pytest.mark.slow

SCRIPT = str(Path(sys.executable).parent / "mlops-lab")


def cli(lab: Lab, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *argv],
        cwd=lab.root,
        env={k: v for k, v in os.environ.items() if k != "MLOPS_DEBUG"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_from_a_file_streams_logs_and_fails_with_one_line(
    lab_on_head: Lab, tmp_path: Path
) -> None:
    good = tmp_path / "good.py"
    good.write_text("print('hello from the job', flush=True)\nprint('step 2', flush=True)\n")
    done = cli(lab_on_head, "train", "--name", "cli-good", "--workers", "1", "--file", str(good))
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("cli-good-") and "submitted to" in out[0]
    hello = next(n for n, line in enumerate(out) if "hello from the job" in line)
    assert "step 2" in "\n".join(out[hello + 1 :])  # streamed in order
    assert out[-1].startswith("cli-good-") and ": succeeded" in out[-1], done.stdout

    bad = tmp_path / "bad.py"
    bad.write_text("raise ValueError('boom in the training script')\n")
    failed = cli(lab_on_head, "train", "--name", "cli-bad", "--workers", "1", "--file", str(bad))
    assert failed.returncode == 1
    assert "ValueError: boom in the training script" in failed.stdout  # the streamed log
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert "application failed" in errors[0] and "see mlops-lab logs cli-bad-" in errors[0]

    jobs = cli(lab_on_head, "jobs")
    assert jobs.returncode == 0, jobs.stderr
    states = {line.split()[1]: line.split()[2] for line in jobs.stdout.splitlines()[3:]}
    assert states == {"cli-good": "succeeded", "cli-bad": "failed"}, jobs.stdout
    job_id = next(line.split()[0] for line in jobs.stdout.splitlines() if "cli-good" in line)
    logs = cli(lab_on_head, "logs", job_id)
    assert logs.returncode == 0, logs.stderr
    assert "hello from the job" in logs.stdout and "step 2" in logs.stdout
    last = cli(lab_on_head, "logs", job_id, "--tail", "1").stdout.splitlines()
    assert len(last) == 2 and last[0].endswith("earlier lines (--tail 0 shows all)"), last
    assert "hello from the job" not in last[1]
