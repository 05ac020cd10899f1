"""The job's driver: ``python -m mlops_lab.backends.training.entry main.py``.

Runs inside the Ray job. It connects to the same project as the notebook, opens one
MLflow run stamped with the lineage (Ray job id, code hash, notebook, and whatever data
and features the script reads), enforces the deadline, runs the script with ``lab`` and
the notebook's passed variables in its globals, and registers the model when asked.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
import threading
import time
from collections.abc import Iterator
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
    """The project's tracking URI with a relative sqlite path made absolute."""
    uri = str(lab.config.tracking.uri)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(lab.config.resolve(uri.removeprefix("sqlite:///")))
    return uri


@contextlib.contextmanager
def _run(lab: Any, name: str, tags: dict[str, str]) -> Iterator[str]:
    """An MLflow run through lab.tracking when it is there, else MLflow directly."""
    import mlflow

    tracking = None
    with contextlib.suppress(Exception):
        tracking = lab.tracking
    if tracking is not None and hasattr(tracking, "start_run"):
        with tracking.start_run(name, tags=tags) as run:
            active = mlflow.active_run()
            run_id = getattr(getattr(run, "info", None), "run_id", "") or (
                active.info.run_id if active is not None else "")
            yield str(run_id)
        return
    mlflow.set_tracking_uri(tracking_uri(lab))
    mlflow.set_experiment(lab.config.tracking.experiment)
    with mlflow.start_run(run_name=name, tags=tags) as run, lineage.collecting() as seen:
        yield run.info.run_id
        mlflow.set_tags(seen.tags())


def _register(lab: Any, run_id: str, model: str) -> str:
    import mlflow

    uri = os.environ.get("MLOPS_MODEL_URI") or f"runs:/{run_id}/model"
    registry = None
    with contextlib.suppress(Exception):
        registry = lab.models
    if registry is not None and hasattr(registry, "register"):
        version = registry.register(uri, model)
        number = str(getattr(version, "version", version))
        registry.set_alias(model, "challenger", number)
        return number
    client = mlflow.MlflowClient(tracking_uri(lab))
    result = mlflow.register_model(uri, model, tags={lineage.RAY_JOB_ID: os.environ.get(
        "MLOPS_RAY_JOB_ID", "")})
    client.set_registered_model_alias(model, "challenger", result.version)
    return str(result.version)


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
    tags = {
        lineage.RAY_JOB_ID: job_id,
        lineage.CODE_HASH: env.get("MLOPS_CODE_HASH", ""),
        "mlops.ray.workers": env.get("MLOPS_WORKERS", ""),
        "mlops.ray.gpus": env.get("MLOPS_GPUS", "0"),
    }
    if env.get("MLOPS_NOTEBOOK"):
        tags[lineage.NOTEBOOK_PATH] = env["MLOPS_NOTEBOOK"]
    params: dict[str, Any] = {}
    params_file = script.parent / PARAMS_FILE
    if params_file.is_file():
        params = json.loads(params_file.read_text(encoding="utf-8"))
    started = time.monotonic()
    with _run(lab, name, {k: v for k, v in tags.items() if v}) as run_id:
        os.environ["MLOPS_RUN_ID"] = run_id
        os.environ["MLOPS_TRACKING_URI"] = tracking_uri(lab)
        print(f"{base.MARK} run {run_id} job {job_id}", flush=True)
        sys.path.insert(0, str(script.parent))
        runpy.run_path(str(script), init_globals={"lab": lab, **params}, run_name="__main__")
        model = env.get("MLOPS_REGISTER", "")
        if model:
            version = _register(lab, run_id, model)
            print(f"{base.MARK} registered {model} version {version} as {model}@challenger",
                  flush=True)
    print(f"{base.MARK} done in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
