"""Ray's Job Submission API against any head: the lab's local one, a remote cluster
(``RAY_ADDRESS``), or a KubeRay head service."""

from __future__ import annotations

import contextlib
import logging
import urllib.error
from collections.abc import Iterator
from typing import Any

from mlops_lab.backends.training import base
from mlops_lab.backends.training.local_head import cluster_resources, http_get_json
from mlops_lab.errors import BackendError, LabError, NotFoundError, UnreachableError, require

PROBE_TIMEOUT_S = 4.0

_SUBMISSION_ERRORS = {
    "RUNTIME_ENV_SETUP_FAILURE",
    "JOB_SUPERVISOR_ACTOR_START_TIMEOUT",
    "JOB_SUPERVISOR_ACTOR_START_FAILURE",
    "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE",
    "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE",
    "JOB_ENTRYPOINT_COMMAND_START_ERROR",
}

_STATES = {
    "PENDING": base.PENDING,
    "RUNNING": base.RUNNING,
    "SUCCEEDED": base.SUCCEEDED,
    "FAILED": base.FAILED,
    "STOPPED": base.STOPPED,
}


def probe(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise UnreachableError within ``timeout`` when the head does not answer."""
    try:
        http_get_json(f"{address}/api/version", timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnreachableError(
            f"Ray head at {address} did not answer within {timeout:g} s ({reason}); start it "
            "with %mlops ray up, or check RAY_ADDRESS (e.g. kubectl port-forward svc/HEAD 8265)"
        ) from None


class RayJobSubmission:
    """Jobs on one Ray head through ``JobSubmissionClient``."""

    def __init__(self, address: str, kind: str = "ray-local") -> None:
        self.address = address.rstrip("/")
        self.kind = kind
        self.target = self.address
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            probe(self.address)
            job_submission = require("ray.job_submission", "ray")
            try:
                self._client = job_submission.JobSubmissionClient(self.address)
            except (ConnectionError, RuntimeError) as exc:
                raise UnreachableError(
                    f"Ray Job API at {self.address} refused the connection: {exc}"
                ) from None
        return self._client

    def resources(self) -> dict[str, float]:
        return cluster_resources(self.address)

    def submit(self, spec: base.JobSpec) -> str:
        runtime_env: dict[str, Any] = {"working_dir": str(spec.working_dir), "env_vars": spec.env}
        client = self.client  # importing Ray's SDK resets its loggers: import first
        try:
            with _quiet():
                return str(
                    client.submit_job(
                        entrypoint=spec.entrypoint,
                        submission_id=spec.submission_id or None,
                        runtime_env=runtime_env,
                        metadata=spec.metadata,
                    )
                )
        except LabError:
            raise
        except Exception as exc:  # the client raises RuntimeError with the HTTP body
            raise SubmissionFailedError(
                f"submitting '{spec.name}' to {self.address} failed: {_first_line(exc)}"
            ) from None

    def _info(self, job_id: str) -> Any:
        try:
            return self.client.get_job_info(job_id)
        except LabError:
            raise
        except Exception as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                raise NotFoundError(
                    f"no job '{job_id}' on {self.address}; %mlops jobs lists the jobs"
                ) from None
            raise BackendError(f"Ray Job API at {self.address}: {_first_line(exc)}") from None

    def status(self, job_id: str) -> base.JobStatus:
        return self._to_status(self._info(job_id))

    def _to_status(self, info: Any) -> base.JobStatus:
        raw = str(getattr(info.status, "value", info.status))
        state = _STATES.get(raw, base.PENDING)
        metadata = dict(info.metadata or {})
        job_id = str(info.submission_id or info.job_id)
        failure = None
        reason = str(info.message or "")
        if state == base.FAILED:
            error_type = str(getattr(info.error_type, "value", info.error_type) or "")
            if error_type in _SUBMISSION_ERRORS:
                failure = base.SUBMISSION_FAILED
            elif info.driver_exit_code == base.DEADLINE_EXIT and base.META_DEADLINE in metadata:
                failure = base.DEADLINE_EXCEEDED
                reason = f"the job ran past its deadline of {metadata[base.META_DEADLINE]} s"
            else:
                failure = base.APPLICATION_FAILED
                reason = _app_reason(reason)
        elif state == base.STOPPED:
            failure = base.STOPPED_BY_USER
            reason = reason or "stopped on request"
        return base.JobStatus(
            job_id=job_id,
            name=metadata.get(base.META_NAME, job_id),
            state=state,
            failure=failure,
            reason=reason,
            start_time=(info.start_time / 1000) if info.start_time else None,
            end_time=(info.end_time / 1000) if info.end_time else None,
            metadata=metadata,
        )

    def logs(self, job_id: str) -> str:
        try:
            return str(self.client.get_job_logs(job_id))
        except Exception as exc:
            raise BackendError(f"cannot read the logs of {job_id}: {_first_line(exc)}") from None

    def stop(self, job_id: str) -> bool:
        try:
            return bool(self.client.stop_job(job_id))
        except Exception as exc:
            raise BackendError(f"cannot stop {job_id}: {_first_line(exc)}") from None

    def list(self, project: str) -> list[base.JobStatus]:
        try:
            infos = self.client.list_jobs()
        except Exception as exc:
            raise BackendError(f"cannot list jobs on {self.address}: {_first_line(exc)}") from None
        out = [self._to_status(i) for i in infos
               if (i.metadata or {}).get(base.META_PROJECT) == project and i.submission_id]
        return sorted(out, key=lambda s: s.start_time or 0.0, reverse=True)


class SubmissionFailedError(BackendError):
    """The backend refused or could not start the job."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Ray logs each package upload at INFO; the monitor says what matters."""
    loggers = [logging.getLogger(n) for n in (
        "ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _app_reason(message: str) -> str:
    """Ray's message is "...failed with exit code N, last available logs ...": keep the
    exit code and the last traceback line."""
    head = message.split(", last available logs", 1)[0].strip()
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    last = next((ln for ln in reversed(lines) if ("Error" in ln or "Exception" in ln)
                 and not ln.startswith("File ")), "")
    return f"{head}: {last}" if last and last not in head else head
