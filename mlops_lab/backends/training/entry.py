"""The job's driver: ``python -m mlops_lab.backends.training.entry main.py``.

Runs inside the Ray job. It connects to the same project as the notebook, opens one
MLflow run stamped with the lineage (Ray job id, code hash, notebook, and whatever data
and features the script reads), enforces the deadline, runs the script with ``lab`` and
the notebook's passed variables in its globals, and registers the model when asked.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mlops_lab import lineage
from mlops_lab.backends.training import base
from mlops_lab.jobenv import JobEnv


def _deadline(seconds: int) -> None:
    def expire() -> None:
        print(f"{base.DEADLINE_LINE} after {seconds} s; stopping the job", flush=True)
        os._exit(base.DEADLINE_EXIT)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def main(argv: list[str]) -> int:
    from mlops_lab.lab import connect

    script = Path(argv[1] if len(argv) > 1 else "main.py").resolve()
    job = JobEnv.current()
    if job.deadline_s:
        _deadline(int(job.deadline_s))
    project = job.project
    lab = connect(project if project and Path(project).is_dir() else None)
    name = job.job_name or script.stem
    tags = {
        lineage.RAY_JOB_ID: job.ray_job_id,
        "mlops.ray.workers": job.workers,
        "mlops.ray.gpus": job.gpus or "0",
    }
    params: dict[str, Any] = {}
    params_file = script.parent / base.PARAMS_FILE
    if params_file.is_file():
        params = json.loads(params_file.read_text(encoding="utf-8"))
    started = time.monotonic()
    # The code that ran is the submitted script and the notebook the one that submitted it,
    # both recorded by the kernel; this entry process is neither.
    origin = json.loads(job.origin_tags or "{}")
    if job.code_hash:
        origin[lineage.CODE_HASH] = job.code_hash
    run_tags = {k: v for k, v in tags.items() if v}
    with lab.tracking.start_run(name, tags=run_tags, origin=origin) as run:
        os.environ.update(JobEnv(run_id=run.id, tracking_uri=lab.tracking.uri).to_env())
        print(f"{base.MARK} run {run.id} job {job.ray_job_id}", flush=True)
        sys.path.insert(0, str(script.parent))
        runpy.run_path(str(script), init_globals={"lab": lab, **params}, run_name="__main__")
    model = job.register
    if model:
        source = JobEnv.current().model_uri or f"runs:/{run.id}/model"
        print(f"{base.MARK} registering {model}", flush=True)
        version = lab.models.register(source, model, alias="challenger")
        print(
            f"{base.MARK} registered {model} version {version.version} as {model}@challenger",
            flush=True,
        )
    print(f"{base.MARK} done in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
