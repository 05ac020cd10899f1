"""What every training backend speaks: a job spec in, job states and logs out."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
STOPPED = "stopped"
TERMINAL = (SUCCEEDED, FAILED, STOPPED)

# Why a job did not succeed: distinct kinds, each with the reason the backend gave.
SUBMISSION_FAILED = "submission failed"
APPLICATION_FAILED = "application failed"
DEADLINE_EXCEEDED = "deadline exceeded"
STOPPED_BY_USER = "stopped"

# Lines the job prints so any monitor (lab, plain `ray job logs`) can follow it.
MARK = "[mlops]"
PARAMS_FILE = "mlops_params.json"
"""The job parameters (JSON) shipped beside the script in its working directory."""
METRICS_RE = re.compile(r"\[mlops\] metrics (\{.*\})\s*$")
DEADLINE_EXIT = 124
DEADLINE_LINE = f"{MARK} deadline exceeded"

# Job metadata keys (Ray job metadata, RayJob annotations).
META_NAME = "mlops.name"
META_PROJECT = "mlops.project"
META_CODE_HASH = "mlops.code.hash"
META_DEADLINE = "mlops.deadline"


@dataclass
class JobSpec:
    """A training job, as every backend receives it."""

    name: str
    working_dir: Path | str
    """A local folder, or a URI Ray downloads (s3://, gs://, https:// zip)."""
    entrypoint: str
    env: dict[str, str]
    metadata: dict[str, str]
    workers: int = 2
    cpus: float = 1.0
    gpus: float = 0.0
    deadline_s: int | None = None
    submission_id: str = ""


@dataclass
class JobStatus:
    """One observation of a job."""

    job_id: str
    name: str
    state: str
    failure: str | None = None
    reason: str = ""
    start_time: float | None = None
    end_time: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


class TrainingBackend(Protocol):
    kind: str
    target: str

    def submit(self, spec: JobSpec) -> str: ...

    def status(self, job_id: str) -> JobStatus: ...

    def logs(self, job_id: str) -> str: ...

    def stop(self, job_id: str) -> bool: ...

    def list(self, project: str) -> list[JobStatus]: ...


def parse_metrics(logs: str) -> list[dict[str, Any]]:
    """Every metrics line the job printed, in order (Ray may echo a worker's line twice)."""
    out: list[dict[str, Any]] = []
    for line in logs.splitlines():
        match = METRICS_RE.search(line)
        if match:
            try:
                value = json.loads(match.group(1))
            except ValueError:
                continue
            if isinstance(value, dict) and value not in out[-3:]:
                out.append(value)
    return out
