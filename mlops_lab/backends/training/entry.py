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

PARAMS_FILE = "mlops_params.json"


def _deadline(seconds: int) -> None:
    def expire() -> None:
        print(f"{base.DEADLINE_LINE} after {seconds} s; stopping the job", flush=True)
        os._exit(base.DEADLINE_EXIT)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def tracking_uri(lab: Any) -> str:
    """The project's tracking URI, relative local paths made absolute."""
    return str(lab.tracking.uri)


def main(argv: list[str]) -> int:
    import mlops_lab

    script = Path(argv[1] if len(argv) > 1 else "main.py").resolve()
    env = os.environ
    if env.get("MLOPS_DEADLINE_S"):
        _deadline(int(env["MLOPS_DEADLINE_S"]))
    project = env.get("MLOPS_PROJECT", "")
    lab = mlops_lab.connect(project if project and Path(project).is_dir() else None)
    name = env.get("MLOPS_JOB_NAME", script.stem)
    job_id = env.get("MLOPS_RAY_JOB_ID", "")
    code_hash = env.get("MLOPS_CODE_HASH", "")
    tags = {
        lineage.RAY_JOB_ID: job_id,
        "mlops.ray.workers": env.get("MLOPS_WORKERS", ""),
        "mlops.ray.gpus": env.get("MLOPS_GPUS", "0"),
    }
    params: dict[str, Any] = {}
    params_file = script.parent / PARAMS_FILE
    if params_file.is_file():
        params = json.loads(params_file.read_text(encoding="utf-8"))
    started = time.monotonic()
    # The code that ran is the submitted script and the notebook the one that submitted it,
    # both recorded by the kernel; this entry process is neither.
    origin = json.loads(env.get("MLOPS_ORIGIN_TAGS") or "{}")
    if code_hash:
        origin[lineage.CODE_HASH] = code_hash
    run_tags = {k: v for k, v in tags.items() if v}
    with lab.tracking.start_run(name, tags=run_tags, origin=origin) as run:
        os.environ["MLOPS_RUN_ID"] = run.id
        os.environ["MLOPS_TRACKING_URI"] = tracking_uri(lab)
        print(f"{base.MARK} run {run.id} job {job_id}", flush=True)
        sys.path.insert(0, str(script.parent))
        runpy.run_path(str(script), init_globals={"lab": lab, **params}, run_name="__main__")
    model = env.get("MLOPS_REGISTER", "")
    if model:
        source = env.get("MLOPS_MODEL_URI") or f"runs:/{run.id}/model"
        version = lab.models.register(source, model, alias="challenger")
        print(f"{base.MARK} registered {model} version {version.version} as "
              f"{model}@challenger", flush=True)
    print(f"{base.MARK} done in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
