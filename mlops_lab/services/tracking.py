"""`lab.tracking`: MLflow runs that stamp their own lineage.

``with lab.tracking.start_run("train") as run:`` opens an MLflow run in the project's
tracking store (``[tracking] uri``, a relative ``sqlite:///`` path meaning the project root)
and, when it ends, tags it with where it came from: the notebook path, git commit and dirty
flag, a hash of the code that ran, and the data commits and feature views read through the
lab while it was open. The run is MLflow's active run for its duration, so
``mlflow.log_metric`` and flavour ``log_model`` calls inside the block land in it.

Models are logged with explicit pip requirements (MLflow's inference imports the model in a
subprocess and takes seconds); see :meth:`TrackedRun.log_model`.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.backends import tracking as tracking_backends
from mlops_lab.backends.tracking.mlflow import (
    RUN_ID_PATTERN,
    SOURCE_NAME_TAG,
    acquire_uri,
    names_kernel_launcher,
    release_uri,
    resolve_uri,
    source_tags,
    translate,
)
from mlops_lab.errors import (
    ConflictError,
    LabError,
    NotFoundError,
    UsageError,
    require,
)

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"


@dataclass(frozen=True)
class RunSummary:
    """One row of `lab.tracking.runs()`."""

    run_id: str
    name: str
    status: str
    start: datetime | None
    end: datetime | None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None

    @classmethod
    def from_run(cls, run: Any) -> RunSummary:
        tags = dict(run.data.tags)
        return cls(
            run_id=run.info.run_id,
            name=run.info.run_name or "",
            status=run.info.status,
            start=_time(run.info.start_time),
            end=_time(run.info.end_time),
            metrics=dict(run.data.metrics),
            params=dict(run.data.params),
            lineage={k: v for k, v in tags.items() if k.startswith("mlops.")},
            parent_run_id=tags.get("mlflow.parentRunId"),
        )


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


class TrackedRun:
    """An open MLflow run. Use it as a context manager, or call :meth:`end` yourself
    (a run opened in one notebook cell can be ended in another)."""

    def __init__(
        self,
        service: TrackingService,
        run: Any,
        collector: lineage.Collector,
        fluent: bool,
        detect_code: bool = True,
    ) -> None:
        self._service = service
        self._detect_code = detect_code
        self._run = run
        self._collector = collector
        self._fluent = fluent
        self._ended = False
        self.status = "RUNNING"
        self.stamp_seconds = 0.0
        """Time spent gathering and writing lineage tags (start and end)."""

    @property
    def id(self) -> str:
        return str(self._run.info.run_id)

    run_id = id

    @property
    def name(self) -> str:
        return str(self._run.info.run_name or "")

    @property
    def experiment_id(self) -> str:
        return str(self._run.info.experiment_id)

    @property
    def artifact_uri(self) -> str:
        return str(self._run.info.artifact_uri)

    @property
    def lineage(self) -> dict[str, str]:
        """What the run has noted so far (data commits, feature views, ...)."""
        return self._collector.tags()

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            status = FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = KILLED
        else:
            status = FAILED
        self.end(status)

    def __repr__(self) -> str:
        return f"<TrackedRun {self.id} name={self.name!r} status={self.status}>"

    # --- logging --------------------------------------------------------------------

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self._batch(params=[Param(str(k), str(v)) for k, v in params.items()])

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._batch(metrics=[Metric(str(k), float(v), now, step or 0) for k, v in metrics.items()])

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step)

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self._batch(tags=[RunTag(str(k), str(v)) for k, v in tags.items()])

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        self._service.log_artifact(path, run_id=self.id, artifact_path=artifact_path)

    def _batch(self, **kwargs: Any) -> None:
        try:
            self._service.client.log_batch(self.id, **kwargs)
        except Exception as exc:
            raise translate(exc, f"logging to run {self.id}") from None

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        flavor: str | None = None,
        pip_requirements: list[str] | None = None,
        input_example: Any = None,
        signature: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Log ``model`` with an MLflow flavour and explicit pip requirements.

        ``flavor`` ("sklearn", "pytorch", "pyfunc", ...) is guessed from the model's type
        when omitted; ``pip_requirements`` defaults to the flavour's pinned defaults, never
        MLflow's slow inference. Returns MLflow's ``ModelInfo`` (``.model_uri``).
        """
        import mlflow

        flavor = flavor or _guess_flavor(model)
        module = require(f"mlflow.{flavor}")
        if pip_requirements is None:
            defaults = getattr(module, "get_default_pip_requirements", None)
            pip_requirements = list(defaults()) if defaults is not None else []
        active = mlflow.active_run()
        if active is None or active.info.run_id != self.id:
            raise ConflictError(
                f"run {self.id} is not MLflow's active run in this thread; log the model "
                "inside its `with lab.tracking.start_run(...)` block"
            )
        first = "python_model" if flavor == "pyfunc" else _first_param(module.log_model)
        try:
            return module.log_model(
                **{first: model},
                name=name,
                pip_requirements=pip_requirements,
                input_example=input_example,
                signature=signature,
                **kwargs,
            )
        except LabError:
            raise
        except Exception as exc:
            raise translate(exc, f"logging model '{name}'") from None

    # --- ending ---------------------------------------------------------------------

    def end(self, status: str = FINISHED) -> None:
        """Stamp the collected lineage and end the run (idempotent)."""
        if self._ended:
            return
        self._ended = True
        lineage.deactivate(self._collector)
        started = time.perf_counter()
        writing: concurrent.futures.Future[None] | None = None
        try:
            tags = self._collector.tags()
            digest = lineage.code_hash() if self._detect_code else None
            if digest:
                tags[lineage.CODE_HASH] = digest
            if tags and self._service.remote:
                # On a tracking server the tag write and the run's termination are two
                # round trips: sent at once; the run is not reported ended before both are in.
                writing = self._service.in_background(self.set_tags, tags)
            elif tags:
                self.set_tags(tags)
            self.stamp_seconds += time.perf_counter() - started
        finally:
            try:
                self._finish(status)
            finally:
                if writing is not None:
                    waited = time.perf_counter()
                    writing.result()
                    self.stamp_seconds += time.perf_counter() - waited

    def _finish(self, status: str) -> None:
        import mlflow

        try:
            active = mlflow.active_run() if self._fluent else None
            if active is not None and active.info.run_id == self.id:
                mlflow.end_run(status)
            else:
                self._service.client.set_terminated(self.id, status)
        finally:
            self.status = status
            if self._fluent:
                release_uri()


def _first_param(function: Any) -> str:
    import inspect

    return next(iter(inspect.signature(function).parameters))


def _guess_flavor(model: Any) -> str:
    for cls in type(model).__mro__:
        module = cls.__module__.split(".")[0]
        if module == "sklearn":
            return "sklearn"
        if module == "torch":
            return "pytorch"
        if module == "xgboost":
            return "xgboost"
        if module == "lightgbm":
            return "lightgbm"
        if cls.__name__ == "PythonModel" and cls.__module__.startswith("mlflow"):
            return "pyfunc"
    raise UsageError(
        f"cannot tell which MLflow flavour logs a {type(model).__name__}; pass flavor='...'"
    )


class TrackingService:
    """MLflow tracking for the project: runs, lineage stamping, artifacts."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._client: Any = None
        self._experiments: dict[str, str] = {}
        self._lock = threading.Lock()
        self._background: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def uri(self) -> str:
        """The tracking URI, relative local paths made absolute against the project root."""
        return resolve_uri(self.lab.config.tracking.uri, self.lab.root)

    @property
    def remote(self) -> bool:
        """Whether the tracking store is a server reached over HTTP."""
        return self.lab.config.tracking.uri.startswith(("http://", "https://"))

    def in_background(self, call: Any, *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``call(*args)`` on the service's worker threads (requests to a tracking
        server that can overlap another one)."""
        with self._lock:
            if self._background is None:
                self._background = concurrent.futures.ThreadPoolExecutor(
                    4, thread_name_prefix="mlops-tracking"
                )
        return self._background.submit(call, *args)

    @property
    def artifact_root(self) -> Path:
        return self.lab.config.resolve(self.lab.config.tracking.artifacts)

    @property
    def client(self) -> Any:
        """An ``MlflowClient`` bound to the project's tracking and registry URI."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = tracking_backends.make(self.lab.config)
        return self._client

    def experiment_id(self, name: str | None = None) -> str:
        """The id of experiment ``name`` (default ``[tracking] experiment``), created with its
        artifacts under ``[tracking] artifacts`` when missing."""
        name = name or self.lab.config.tracking.experiment
        if name in self._experiments:
            return self._experiments[name]
        client = self.client
        try:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
                location: str | None = (self.artifact_root / safe).resolve().as_uri()
                if self.remote:
                    location = None  # a tracking server keeps (and serves) its own artifacts
                try:
                    experiment_id = client.create_experiment(name, artifact_location=location)
                except Exception as exc:
                    if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                        raise
                    experiment_id = client.get_experiment_by_name(name).experiment_id
            else:
                if experiment.lifecycle_stage == "deleted":
                    raise ConflictError(
                        f"experiment '{name}' is deleted; restore it in MLflow or choose another "
                        "[tracking] experiment"
                    )
                experiment_id = experiment.experiment_id
        except LabError:
            raise
        except Exception as exc:
            raise translate(exc, f"opening experiment '{name}'") from None
        self._experiments[name] = str(experiment_id)
        return str(experiment_id)

    def start_run(
        self,
        name: str | None = None,
        *,
        tags: dict[str, Any] | None = None,
        nested: bool = False,
        experiment: str | None = None,
        description: str | None = None,
        origin: dict[str, str] | None = None,
    ) -> TrackedRun:
        """Open a run; it becomes MLflow's active run in this thread.

        ``tags`` are added to the lineage tags (e.g. ``{lineage.RAY_JOB_ID: job}``).
        ``origin`` gives the notebook, git and code-hash tags when this process is not where
        the code came from (a Ray job's driver); by default they are detected here.
        ``nested=True`` opens a child of the active run. Data and features read through
        the lab until the run ends are stamped on it. Ends FAILED when its block raises.
        """
        mlflow = require("mlflow")
        experiment_id = self.experiment_id(experiment)
        started = time.perf_counter()
        run_tags = dict(origin) if origin is not None else lineage.origin_tags(self.lab.root)
        stamp = time.perf_counter() - started
        run_tags = {**source_tags(run_tags.get(lineage.NOTEBOOK_PATH)), **run_tags}
        run_tags.update({str(k): str(v) for k, v in (tags or {}).items()})
        active = mlflow.active_run()
        if active is not None and not nested:
            raise ConflictError(
                f"MLflow run {active.info.run_id} is already active; end it (mlflow.end_run()) "
                "or pass nested=True to open a child run"
            )
        acquire_uri(self.uri)
        try:
            if active is not None and mlflow.get_tracking_uri() != self.uri:
                raise ConflictError(
                    f"the active MLflow run {active.info.run_id} is in another tracking store; "
                    "end it before opening a lab run"
                )
            run = mlflow.start_run(
                run_name=name,
                experiment_id=experiment_id,
                nested=nested,
                tags=run_tags,
                description=description,
            )
        except LabError:
            release_uri()
            raise
        except Exception as exc:
            release_uri()
            raise translate(exc, f"starting run {name or ''}".strip()) from None
        if SOURCE_NAME_TAG not in run_tags and names_kernel_launcher(run):
            self.client.delete_tag(run.info.run_id, SOURCE_NAME_TAG)
        collector = lineage.activate()
        tracked = TrackedRun(self, run, collector, fluent=True, detect_code=origin is None)
        tracked.stamp_seconds = stamp
        return tracked

    def active_run_id(self) -> str | None:
        import mlflow

        active = mlflow.active_run()
        return active.info.run_id if active is not None else None

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        run_id: str | None = None,
        artifact_path: str | None = None,
    ) -> str:
        """Copy a file (or directory) into a run's artifacts; returns its artifact URI.

        ``run_id`` defaults to the active run.
        """
        source = Path(path)
        if not source.exists():
            raise NotFoundError(f"{source} not found; check the path")
        run_id = run_id or self.active_run_id()
        if not run_id:
            raise UsageError("no run to log to; pass run_id or open lab.tracking.start_run()")
        client = self.client
        try:
            if source.is_dir():
                client.log_artifacts(run_id, str(source), artifact_path)
            else:
                client.log_artifact(run_id, str(source), artifact_path)
            base = str(client.get_run(run_id).info.artifact_uri).rstrip("/")
        except Exception as exc:
            raise translate(exc, f"logging {source.name} to run {run_id}") from None
        parts = [p for p in (artifact_path, source.name) if p]
        return base + "/" + "/".join(parts)

    def get_run(self, run_id: str) -> RunSummary:
        return RunSummary.from_run(self.mlflow_run(run_id))

    def mlflow_run(self, run_id: str) -> Any:
        """MLflow's ``Run`` of ``run_id`` (info, data.tags, data.metrics, data.params)."""
        if not RUN_ID_PATTERN.match(run_id):
            raise UsageError(f"'{run_id}' is not a run id (32 hex characters); see %mlops runs")
        try:
            return self.client.get_run(run_id)
        except Exception as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise NotFoundError(f"run {run_id} not found; see %mlops runs") from None
            raise translate(exc, f"reading run {run_id}") from None

    def runs(
        self,
        experiment: str | None = None,
        max_results: int = 50,
        filter_string: str = "",
    ) -> list[RunSummary]:
        """The latest runs of an experiment, newest first."""
        experiment_id = self.experiment_id(experiment)
        try:
            found = self.client.search_runs(
                [experiment_id],
                filter_string=filter_string,
                max_results=max_results,
                order_by=["attributes.start_time DESC"],
            )
        except Exception as exc:
            raise translate(exc, "listing runs") from None
        return [RunSummary.from_run(run) for run in found]
