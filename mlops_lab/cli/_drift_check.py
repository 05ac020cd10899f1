"""The Ray job that checks a canary for ``[serving] rollback_on_drift`` between looks
(started by ``mlops_lab.services._drift_watch.ensure``):
``python -m mlops_lab.cli._drift_check ENDPOINT SINCE``, the project in ``MLOPS_PROJECT``.

Every ``[serving] drift_check_interval`` (read from mlops.toml as it is now) it compares the
canary's traffic since revision SINCE brought it (at most the last hour) and rolls it back,
saying why, when the policy says so; it prints one ``[mlops]`` line per check and ends when
the canary is gone (promoted, rolled back, replaced, undeployed) or the policy is off.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import TYPE_CHECKING

from mlops_lab.errors import LabError, NotFoundError
from mlops_lab.services._drift_watch import canary_since, check

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

MARK = "[mlops]"
MAX_WINDOW_S = 3600.0
POLL_S = 2.0
"""How often the job looks whether its canary is still there (a file read)."""


def _gone(lab: Lab, endpoint: str, since: int) -> str:
    """Why the watched canary is no longer there, or ""."""
    try:
        revisions = lab.serving.revisions(endpoint)
    except NotFoundError:
        return f"endpoint '{endpoint}' is gone"
    current = canary_since(revisions)
    if current is None:
        last = revisions[-1]
        return f"revision {last.number} ({last.action}) left no canary"
    if current.number != since:
        return f"revision {current.number} brought another canary"
    return ""


def main(argv: list[str]) -> int:
    from mlops_lab import config as config_module
    from mlops_lab.jobenv import JobEnv
    from mlops_lab.lab import connect
    from mlops_lab.services.endpoint_state import age_s

    endpoint, since = argv[1], int(argv[2])
    # Ray points a job's driver at the head's GCS (RAY_ADDRESS): read as mlops.toml's
    # [training] address, it would send the endpoint's requests there instead of to the
    # dashboard that the project's head.json names, as in the kernel that deployed.
    os.environ.pop("RAY_ADDRESS", None)
    root = JobEnv.current().project or None
    lab = connect(root)
    settings = lab.config.serving
    print(f"{MARK} checking the canary of '{endpoint}' from revision {since}", flush=True)
    due = time.monotonic() + settings.drift_check_interval_s
    while True:
        try:  # the policy as mlops.toml says now
            settings = config_module.load(lab.root).serving
        except LabError as exc:
            print(f"{MARK} keeping the last settings: {exc}", flush=True)
        if not settings.rollback_on_drift:
            print(f"{MARK} stopped: [serving] rollback_on_drift is off", flush=True)
            return 0
        gone = _gone(lab, endpoint, since)
        if gone:
            print(f"{MARK} stopped: {gone}", flush=True)
            return 0
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, POLL_S))
            continue
        interval = settings.drift_check_interval_s
        due = time.monotonic() + interval
        revision = canary_since(lab.serving.revisions(endpoint))
        assert revision is not None
        age = age_s(revision)
        window = f"{math.ceil(min(max(age, interval), MAX_WINDOW_S))}s"
        started = time.perf_counter()
        try:
            drift = check(lab, endpoint, window, settings.rollback_on_drift)
        except LabError as exc:
            print(f"{MARK} check failed: {exc}", flush=True)
            continue
        except Exception as exc:  # e.g. a head that answers garbage: the next look may pass
            print(f"{MARK} check failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        took = time.perf_counter() - started
        print(
            f"{MARK} check in {took:.2f} s over {window} ({drift.canary_rows} canary rows): "
            f"{drift.summary()}",
            flush=True,
        )
        if drift.rolled_back is not None:
            back = drift.rolled_back
            print(f"{MARK} rolled back: revision {back.number}: {back.note}", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
