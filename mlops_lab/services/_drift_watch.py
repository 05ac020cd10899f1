"""``[serving] rollback_on_drift`` between looks: a Ray job on the lab's head that checks an
endpoint's canary every ``[serving] drift_check_interval`` and rolls it back, the revision
saying why, when its drift reaches the policy.

The job is started when a canary is deployed (or its weight changed, or its drift looked at)
while the policy is on, one per canary (keyed by the revision that brought it). It runs
without the notebook, so it outlives the kernel, and ends by itself once the canary is
promoted, rolled back or replaced, the endpoint undeployed, or the policy switched off.
Each check covers the canary's traffic since it was deployed, at most the last hour.

The job is ``python -m mlops_lab.cli._drift_check ENDPOINT SINCE`` with the project in
``MLOPS_PROJECT``; it prints one ``[mlops]`` line per check (``ray job logs`` shows them).
"""

from __future__ import annotations

import secrets
import shlex
import sys
from typing import TYPE_CHECKING, Any

from mlops_lab.errors import LabError
from mlops_lab.services.endpoint_http import request_json

if TYPE_CHECKING:
    from mlops_lab.lab import Lab
    from mlops_lab.services.drift import CanaryDrift
    from mlops_lab.services.endpoint_state import Revision

JOB_MODULE = "mlops_lab.cli._drift_check"
META_ENDPOINT = "mlops.drift.endpoint"
META_SINCE = "mlops.drift.since"
"""The revision that brought the watched canary."""
TIMEOUT_S = 10.0
JOB_API = "the Ray head's Job API"


def check(lab: Lab, endpoint: str, window: str, limit: float) -> CanaryDrift:
    """The canary's drift over ``window``; rolled back, the revision saying why, when its
    share of drifted input columns reaches ``limit`` (0: never)."""
    from mlops_lab.services.endpoint_state import version_ref
    from mlops_lab.services.rollout import drift_reason

    drift = lab.drift.for_canary(endpoint, window)
    reason = drift_reason(drift, limit)
    if reason and version_ref(lab.serving.revisions(endpoint)[-1].canary) == drift.canary:
        drift.rolled_back = lab.serving.rollback(endpoint, note=reason)
    return drift


def canary_since(revisions: list[Revision]) -> Revision | None:
    """The revision that brought the current canary (weight changes keep it)."""
    from mlops_lab.services.endpoint_state import same_version

    current = revisions[-1]
    if not current.live or current.canary is None:
        return None
    since = current
    for revision in reversed(revisions[:-1]):
        if revision.canary is None or not same_version(revision.canary, current.canary):
            break
        since = revision
    return since


def ensure(lab: Lab, endpoint: str) -> str | None:
    """Start the check of the canary of ``endpoint`` on the head unless it runs; its job id,
    or None when there is nothing to watch (policy off, no canary, not on a Ray head)."""
    from mlops_lab.backends.training import base
    from mlops_lab.jobenv import JobEnv

    if not lab.config.serving.rollback_on_drift:
        return None
    since = canary_since(lab.serving.revisions(endpoint))
    url = _jobs_url(lab, endpoint)
    if since is None or url is None:
        return None
    for job in jobs(lab, endpoint):
        if job["metadata"].get(META_SINCE) == str(since.number) and job.get("status") in (
            "PENDING",
            "RUNNING",
        ):
            return str(job["submission_id"])
    project = str(lab.root)
    job_id = f"mlops-drift-{endpoint}-r{since.number}-{secrets.token_hex(3)}"
    python = shlex.quote(sys.executable)
    body = {
        "entrypoint": f"{python} -m {JOB_MODULE} {shlex.quote(endpoint)} {since.number}",
        "submission_id": job_id,
        "runtime_env": {"env_vars": JobEnv(project=project).to_env()},
        "metadata": {
            base.META_PROJECT: project,
            base.META_NAME: f"drift check of {endpoint}",
            META_ENDPOINT: endpoint,
            META_SINCE: str(since.number),
        },
        "entrypoint_num_cpus": 0,
    }
    request_json("POST", url, body, TIMEOUT_S, JOB_API)
    return job_id


def watch(lab: Lab, endpoint: str) -> None:
    """:func:`ensure`, after a change that stands either way: a head that refuses is a
    notice, not an error; so is an endpoint the check cannot cover (not on a Ray head)."""
    from mlops_lab.notices import notice

    if lab.config.serving.rollback_on_drift and _jobs_url(lab, endpoint) is None:
        notice(
            f"[serving] rollback_on_drift covers endpoints on the lab's Ray head only: "
            f"'{endpoint}' runs on Kubernetes, where its requests are not logged for the lab, "
            "so its canary is not checked for drift"
        )
        return
    try:
        ensure(lab, endpoint)
    except LabError as exc:
        notice(
            f"the rollback_on_drift check of '{endpoint}' could not start on the Ray head "
            f"({exc}); its drift is checked only when looked at"
        )


def jobs(lab: Lab, endpoint: str) -> list[dict[str, Any]]:
    """The checks of ``endpoint`` on the head, as Ray's Job API describes them (status,
    metadata, start and end times), oldest first."""
    from mlops_lab.backends.training import base

    url = _jobs_url(lab, endpoint)
    found = []
    for job in (request_json("GET", url, None, TIMEOUT_S, JOB_API) if url else None) or []:
        meta = job.get("metadata") or {}
        if meta.get(base.META_PROJECT) == str(lab.root) and meta.get(META_ENDPOINT) == endpoint:
            found.append({**job, "metadata": meta})
    return sorted(found, key=lambda job: job.get("start_time") or 0)


def logs(lab: Lab, endpoint: str, job_id: str) -> str:
    url = _jobs_url(lab, endpoint)
    answer = request_json("GET", f"{url}{job_id}/logs", None, TIMEOUT_S, JOB_API) if url else None
    return str((answer or {}).get("logs") or "")


def _jobs_url(lab: Lab, endpoint: str) -> str | None:
    """The Job API of the head that serves ``endpoint``; None when it is not a Ray head."""
    backend = lab.serving.backend(lab.serving.store.read(endpoint).get("backend"))
    dashboard = getattr(backend, "dashboard", None)  # the Ray Serve backend's head
    return f"{dashboard()}/api/jobs/" if dashboard is not None else None
