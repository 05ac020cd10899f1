"""Helpers that keep a Ray Train body short inside a `%%mlops train` cell.

The job sets the scaling from the magic's flags (``--workers``, ``--cpus``, ``--gpus``,
``--max-failures``) in the environment; ``fit_torch`` turns them into a ``TorchTrainer``
with ``ScalingConfig`` (``use_gpu`` when GPUs were asked) and ``FailureConfig``, so a
body is just a training loop::

    from mlops_lab import train_helpers as th

    def loop(config):
        model = th.prepare_model(Net())
        start = th.resume(model)              # epoch to start from after a restart
        for epoch in range(start, config["epochs"]):
            ...
            th.report({"epoch": epoch, "loss": loss}, model=model)

    result = th.fit_torch(loop, {"epochs": 5, "data": frame})
    th.log_model(result)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_lab.backends.training.base import MARK
from mlops_lab.errors import UsageError, require
from mlops_lab.jobenv import JobEnv, variable

_MODEL_FILE = "model.pt"
_STATE_FILE = "state.json"


def scaling() -> dict[str, Any]:
    """The scaling the job was submitted with."""
    job = JobEnv.current()
    workers = int(job.workers or 1)
    gpus = float(job.gpus or 0)
    cpus = float(job.cpus or 1)
    return {
        "num_workers": workers,
        "use_gpu": gpus > 0,
        "resources_per_worker": {"CPU": cpus, **({"GPU": gpus / workers} if gpus else {})},
        "max_failures": int(job.max_failures or 0),
    }


def _storage() -> str:
    root = JobEnv.current().project
    if root and Path(root).is_dir():
        path = Path(root) / ".mlops" / "ray" / "results"
    else:
        path = Path(tempfile.gettempdir()) / "mlops-ray-results"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _run_config(name: str | None, max_failures: int) -> Any:
    train = require("ray.train", "ray[train]")
    return train.RunConfig(
        name=name or JobEnv.current().ray_job_id or JobEnv.current().job_name or None,
        storage_path=_storage(),
        failure_config=train.FailureConfig(max_failures=max_failures),
        checkpoint_config=train.CheckpointConfig(num_to_keep=2),
    )


def _run_loop(loop: Callable[..., Any], carried: dict[str, str], config: dict[str, Any]) -> Any:
    os.environ.update(carried)
    try:
        return loop(config)
    finally:
        _metrics_logger.flush()


def _with_env(loop: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
    # Actors do not see variables the driver set after it started: carry them. A partial of
    # a module function pickles by reference (the logger's thread state stays out of it).
    carried = {
        k: v
        for k, v in os.environ.items()
        if k in (variable("run_id"), variable("tracking_uri"), variable("project"))
    }
    return functools.partial(_run_loop, loop, carried)


def fit_torch(
    loop: Callable[..., Any], config: dict[str, Any] | None = None, name: str | None = None
) -> Any:
    """Run ``loop(config)`` on the job's workers with ``TorchTrainer``; returns the Result.

    A failed run raises (so the job fails); with ``--max-failures K`` Ray Train restarts
    the workers up to K times and ``resume`` hands the loop its last checkpoint.
    """
    require("torch", "mlops-lab[torch]")
    trainer_class = require("ray.train.torch", "ray[train]").TorchTrainer
    return _fit(trainer_class, loop, config, name)


def fit_xgboost(
    loop: Callable[..., Any], config: dict[str, Any] | None = None, name: str | None = None
) -> Any:
    """``XGBoostTrainer`` with the job's scaling (needs ``pip install xgboost``)."""
    require("xgboost")
    trainer_class = require("ray.train.xgboost", "ray[train]").XGBoostTrainer
    return _fit(trainer_class, loop, config, name)


def _fit(
    trainer_class: Any, loop: Callable[..., Any], config: dict[str, Any] | None, name: str | None
) -> Any:
    train = require("ray.train", "ray[train]")
    scale = scaling()
    epochs = (config or {}).get("epochs")
    if isinstance(epochs, int):
        print(f"{MARK} epochs {epochs}", flush=True)  # the monitor's "epoch k/N"
    trainer = trainer_class(
        _with_env(loop),
        train_loop_config=config or {},
        scaling_config=train.ScalingConfig(
            num_workers=scale["num_workers"],
            use_gpu=scale["use_gpu"],
            resources_per_worker=scale["resources_per_worker"],
        ),
        run_config=_run_config(name, scale["max_failures"]),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return result


def prepare_model(model: Any) -> Any:
    """Move the model to the worker's device and wrap it for distributed training."""
    return require("ray.train.torch", "ray[train]").prepare_model(model)


def device() -> Any:
    return require("ray.train.torch", "ray[train]").get_device()


def rank() -> int:
    return int(require("ray.train", "ray[train]").get_context().get_world_rank())


def world_size() -> int:
    return int(require("ray.train", "ray[train]").get_context().get_world_size())


def shard(rows: Any) -> Any:
    """This worker's share of ``rows`` (every world_size-th row from its rank)."""
    return rows[rank() :: world_size()]


def log_metrics(metrics: dict[str, Any]) -> None:
    """Metrics computed in the script itself (e.g. a test AUC after ``fit_torch``): shown by
    the monitor and logged to the job's MLflow run."""
    clean = {k: _plain(v) for k, v in metrics.items()}
    print(f"{MARK} metrics {json.dumps(clean)}", flush=True)
    _log_metrics(clean)
    _metrics_logger.flush()


def _unwrap(model: Any) -> Any:
    return getattr(model, "module", model)


def report(metrics: dict[str, Any], model: Any = None) -> None:
    """Report metrics (and checkpoint ``model`` when given) from every worker.

    Rank 0 also prints one ``[mlops] metrics {...}`` line for the monitor and logs the
    metrics to the job's MLflow run.
    """
    train = require("ray.train", "ray[train]")
    clean = {k: _plain(v) for k, v in metrics.items()}
    is_zero = rank() == 0
    if is_zero:
        print(f"{MARK} metrics {json.dumps(clean)}", flush=True)
        _log_metrics(clean)
    if model is None:
        # Metrics alone reach the monitor and MLflow above; ray.train.report is a barrier
        # across workers costing ~0.5 s a call on Ray 2.60, half a GPU epoch's throughput.
        return
    torch = require("torch")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if is_zero:
            torch.save(_unwrap(model).state_dict(), Path(tmp) / _MODEL_FILE)
            (Path(tmp) / _STATE_FILE).write_text(json.dumps(clean), encoding="utf-8")
            checkpoint = train.Checkpoint.from_directory(tmp)
        train.report(clean, checkpoint=checkpoint)


def resume(model: Any, key: str = "epoch") -> int:
    """Load the last checkpoint into ``model`` after a restart; returns ``metrics[key] + 1``
    from that checkpoint (0 on a fresh start)."""
    train = require("ray.train", "ray[train]")
    checkpoint = train.get_checkpoint()
    if checkpoint is None:
        return 0
    torch = require("torch")
    with checkpoint.as_directory() as path:
        state = torch.load(Path(path) / _MODEL_FILE, map_location="cpu", weights_only=True)
        _unwrap(model).load_state_dict(state)
        saved = json.loads((Path(path) / _STATE_FILE).read_text(encoding="utf-8"))
    print(f"{MARK} resumed from checkpoint at {key}={saved.get(key)}", flush=True)
    return int(saved.get(key, -1)) + 1


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return value


class _MetricsLogger:
    """Logs rank 0's metrics to the job's MLflow run from a background thread, so a slow
    tracking store never slows training; ``flush`` waits for what is queued."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[dict[str, float], int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    def put(self, metrics: dict[str, float], step: int) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, daemon=True, name="mlops-metrics")
            self._thread.start()
        self._queue.put((metrics, step))

    def _drain(self) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        job = JobEnv.current()
        run_id = job.run_id
        client = MlflowClient(job.tracking_uri)
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                metrics, step = item
                now = int(time.time() * 1000)
                batch = [Metric(k, v, now, step) for k, v in metrics.items()]
                with contextlib.suppress(Exception):  # metrics must never fail training
                    client.log_batch(run_id, metrics=batch)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        if self._thread is not None:
            self._queue.join()


_metrics_logger = _MetricsLogger()


def _log_metrics(metrics: dict[str, Any]) -> None:
    job = JobEnv.current()
    if not job.run_id or not job.tracking_uri:
        return
    step = int(metrics.get("step", metrics.get("epoch", 0)) or 0)
    numbers = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    if numbers:
        _metrics_logger.put(numbers, step)


def load_model(result: Any, model: Any) -> Any:
    """The trained weights of ``result``'s last checkpoint loaded into ``model``."""
    torch = require("torch")
    if result.checkpoint is None:
        raise UsageError("the training run saved no checkpoint; pass model= to th.report")
    with result.checkpoint.as_directory() as path:
        model.load_state_dict(
            torch.load(Path(path) / _MODEL_FILE, map_location="cpu", weights_only=True)
        )
    return model


def torch_installed() -> bool:
    """Whether PyTorch is installed here (the ``[torch]`` extra); a body can choose a
    scikit-learn model on the default install."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


class Classifier:
    """A binary classifier around a torch module that outputs one logit per row, with the
    scikit-learn methods MLflow's evaluator and serving call: ``predict_proba`` (two columns,
    the sigmoid of the logit) and ``predict`` (0 or 1). ``columns`` are the input columns in
    the module's order (a DataFrame's other columns are ignored)."""

    classes_ = (0, 1)

    def __init__(self, module: Any, columns: list[str] | None = None) -> None:
        self.module = _unwrap(module).cpu().eval()
        self.columns = list(columns) if columns is not None else None

    def predict_proba(self, rows: Any) -> Any:
        import numpy as np

        torch = require("torch")
        if self.columns is not None and hasattr(rows, "columns"):
            rows = rows[self.columns]
        x = torch.as_tensor(np.asarray(rows, dtype="float32"))
        with torch.no_grad():
            positive = torch.sigmoid(self.module(x)).reshape(-1).numpy().astype("float64")
        return np.column_stack([1.0 - positive, positive])

    def predict(self, rows: Any) -> Any:
        return (self.predict_proba(rows)[:, 1] >= 0.5).astype("int64")


def log_model(model: Any, input_example: Any = None) -> str:
    """Log the job's model to its MLflow run as ``model`` (what ``--register`` registers).

    A scikit-learn model (or a :class:`Classifier` around a torch module) is logged with
    MLflow's sklearn flavour, so ``predict`` gives labels and MLflow's evaluator finds
    ``predict_proba``; a bare torch module with the pytorch flavour. With an
    ``input_example`` (a DataFrame names the columns) MLflow also records the signature.
    """
    import mlflow

    uri = JobEnv.current().tracking_uri
    if uri:
        mlflow.set_tracking_uri(uri)
    if hasattr(input_example, "detach"):
        input_example = input_example.detach().cpu().numpy()
    if isinstance(model, Classifier) or _is_sklearn(model):
        # Pickled, as the job made it: skops (MLflow's default) refuses trees and our class.
        requirements = list(mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True))
        if isinstance(model, Classifier):
            requirements.append(f"torch=={require('torch').__version__}")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=input_example,
            serialization_format="cloudpickle",
            pip_requirements=requirements,
        )
    else:
        info = mlflow.pytorch.log_model(
            _unwrap(model).cpu(),
            name="model",
            input_example=input_example,
            serialization_format="pickle",
        )
    os.environ[variable("model_uri")] = str(info.model_uri)
    return str(info.model_uri)


def _is_sklearn(model: Any) -> bool:
    return any(cls.__module__.split(".")[0] == "sklearn" for cls in type(model).__mro__)
