"""MLflow, the tracking and registry backend: the client, the tracking URI, the one
translation of MLflow errors into lab errors, the fluent API's process-wide URI, and the
recorder of notebook-job runs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlops_lab import lineage
from mlops_lab.backends.probes import Probe, http_get, http_json, local_dir
from mlops_lab.errors import (
    BackendError,
    ConflictError,
    LabError,
    NotFoundError,
    UsageError,
    require,
)
from mlops_lab.redact import redact_url

if TYPE_CHECKING:
    from mlops_lab.config import Config

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
PARENT_TAG = "mlflow.parentRunId"
JOB_ID_TAG = "mlops.job.id"
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"

# The fluent API's tracking URI is process-global; the lab sets it only while one of its
# runs is active in the process and puts the previous value back afterwards.
_uri_lock = threading.Lock()
_uri_depth = 0
_uri_saved: tuple[Any, str | None] | None = None


def resolve_uri(uri: str, root: Path) -> str:
    """A tracking URI with relative local paths made absolute against the project root."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri.removeprefix("sqlite:///")
        if path and not path.startswith(":memory:"):
            return "sqlite:///" + str((root / path).resolve())
        return uri
    if uri.startswith("file://"):
        path = uri.removeprefix("file://")
        return uri if path.startswith("/") else (root / path).resolve().as_uri()
    if "://" not in uri and uri not in ("databricks",):
        return (
            (root / uri).resolve().as_uri() if not Path(uri).is_absolute() else Path(uri).as_uri()
        )
    return uri


def open_client(uri: str) -> Any:
    """An ``MlflowClient`` for the tracking and registry ``uri`` (a local database's directory
    is created)."""
    mlflow = require("mlflow")
    # Ending a run on a tracking server otherwise costs a `get_run` round trip, made only to
    # print "View run ... at: URL" into the notebook's output.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    try:
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
            create_sqlite_store(Path(uri.removeprefix("sqlite:///")))
        return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    except Exception as exc:
        raise translate(exc, f"opening tracking store {uri}") from None


def create_sqlite_store(db: Path) -> None:
    """Create a new SQLite store's tables once, whoever asks first: processes that first
    touch the same new store together would otherwise race to create them ("table ...
    already exists"). The tables are made in a side file under a file lock and moved into
    place whole, so a store that exists is complete."""
    if db.exists():
        return
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(f".{db.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if db.exists():  # made by the process that held the lock before
            return
        building = db.with_name(f".{db.name}.{os.getpid()}.new")
        building.unlink(missing_ok=True)
        try:
            with quiet():
                from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
                from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

                store = SqlAlchemyStore(
                    f"sqlite:///{building}",
                    str(Path(DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH).resolve()),
                )
                store.engine.dispose()
            os.replace(building, db)
        finally:
            building.unlink(missing_ok=True)


@contextlib.contextmanager
def quiet(*names: str) -> Iterator[None]:
    """Log lines (of the loggers ``names``; MLflow's and its database layer's by default)
    and warnings a user cannot act on ("Creating initial database tables", SQLAlchemy
    deprecations), kept out of outputs."""
    loggers = [logging.getLogger(n) for n in names or ("mlflow", "alembic", "sqlalchemy")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def source_tags(notebook: str | None) -> dict[str, str]:
    """MLflow's own source tags (the UI's "Source") for a run whose code is ``notebook``."""
    if notebook and notebook.endswith(".ipynb"):
        return {SOURCE_NAME_TAG: notebook, SOURCE_TYPE_TAG: "NOTEBOOK"}
    return {}


def names_kernel_launcher(run: Any) -> bool:
    """Whether MLflow named the Jupyter kernel's launcher as the run's source (what it does
    in a kernel whose notebook nobody could tell): that says nothing, so the lab drops it."""
    name = str(run.data.tags.get(SOURCE_NAME_TAG, ""))
    return Path(name).name in ("ipykernel_launcher.py", "__main__.py") and "ipykernel" in name


def translate(exc: Exception, what: str) -> LabError:
    """One line for an MLflow failure."""
    if isinstance(exc, LabError):
        return exc
    code = getattr(exc, "error_code", "")
    message = str(getattr(exc, "message", exc)).splitlines()[0] if str(exc) else type(exc).__name__
    if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
        return NotFoundError(f"{what}: {message}")
    if code in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
        return ConflictError(f"{what}: {message}")
    if code == "INVALID_PARAMETER_VALUE":
        return UsageError(f"{what}: {message}")
    return BackendError(f"{what} failed: {message}; check [tracking] uri in mlops.toml")


def acquire_uri(uri: str) -> None:
    """Point the fluent API at ``uri`` while a lab run is active; nested runs share it."""
    global _uri_depth, _uri_saved
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with _uri_lock:
        if _uri_depth == 0:
            _uri_saved = (tracking_utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI"))
            if mlflow.get_tracking_uri() != uri:
                mlflow.set_tracking_uri(uri)
        _uri_depth += 1


def release_uri() -> None:
    global _uri_depth, _uri_saved
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with _uri_lock:
        _uri_depth = max(0, _uri_depth - 1)
        if _uri_depth == 0 and _uri_saved is not None:
            previous, env = _uri_saved
            tracking_utils._tracking_uri = previous
            if env is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = env
            _uri_saved = None


def probe(config: Config) -> tuple[str, Probe]:
    """(target, probe) of the tracking store, for ``lab.status()``."""
    uri = config.tracking.uri

    def check(timeout: float) -> tuple[bool, str]:
        if uri.startswith("sqlite:///"):
            db = Path(uri.removeprefix("sqlite:///"))
            db = db if db.is_absolute() else config.root / db
            if db.exists():
                return True, "database found"
            return local_dir(db.parent)(timeout)
        if uri.startswith(("http://", "https://")):
            ok, detail = http_get(uri, timeout, "/health")
            version = http_json(uri, timeout, "/version") if ok else None
            return ok, f"MLflow {version} server" if isinstance(version, str) else detail
        if uri.startswith("file:") or "://" not in uri:
            return local_dir(config.resolve(uri.removeprefix("file://")))(timeout)
        return True, "not probed (scheme handled by MLflow)"

    return redact_url(uri), check


class TrackingStore(Protocol):
    """What the recorder needs of the tracking store (``lab.tracking`` is one)."""

    @property
    def client(self) -> Any: ...

    def experiment_id(self, name: str | None = None) -> str: ...


class JobRecorder:
    """The MLflow run of a notebook job or pipeline, through the client API so a job started
    from a notebook never disturbs that notebook's own active run."""

    def __init__(self, store: TrackingStore) -> None:
        self.store = store
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:  # opened on first use, off the caller's thread when it starts
            self._client = self.store.client
        return self._client

    def start(
        self,
        name: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        parent_run_id: str | None,
        experiment: str | None = None,
    ) -> str:
        experiment_id = self.store.experiment_id(experiment)
        all_tags = dict(tags)
        if parent_run_id:
            all_tags[PARENT_TAG] = parent_run_id
        run = self.client.create_run(experiment_id, run_name=name, tags=all_tags)
        run_id: str = run.info.run_id
        entities = require("mlflow.entities")
        batch = [entities.Param(k, _param_text(v)) for k, v in params.items()]
        if batch:
            self.client.log_batch(run_id, params=batch)
        return run_id

    def finish(
        self,
        run_id: str,
        output: Path | None,
        status: str,
        tags: Mapping[str, str],
        artifact_dir: str = "notebook",
    ) -> None:
        entities = require("mlflow.entities")
        client = self.client
        if tags:
            client.log_batch(run_id, tags=[entities.RunTag(k, v) for k, v in tags.items()])
        if output is not None and output.is_file():
            client.log_artifact(run_id, str(output), artifact_dir)
        client.set_terminated(run_id, status)

    def collect(
        self, run_id: str, source: str, started: float, job_id: str = ""
    ) -> tuple[dict[str, list[str]], dict[str, float], dict[str, str], dict[str, str]]:
        """What the notebook's own runs recorded. They are the runs started since the job
        began that carry its job id (``MLOPS_JOB_ID``), or else name this notebook as their
        source (``MLOPS_NOTEBOOK_PATH``), and the runs nested under those or the job run."""
        client = self.client
        experiments = [e.experiment_id for e in client.search_experiments()]
        since = int(started * 1000) - 1000
        recent = {
            run.info.run_id: run
            for run in _search(client, experiments, f"attributes.start_time >= {since}")
            if run.info.run_id != run_id
        }
        members = {run_id}
        for rid, run in recent.items():
            run_tags = run.data.tags
            tagged = run_tags.get(JOB_ID_TAG)
            if tagged == job_id if tagged else run_tags.get(lineage.NOTEBOOK_PATH) == source:
                members.add(rid)
        grew = True
        while grew:
            grew = False
            for rid, run in recent.items():
                if rid not in members and run.data.tags.get(PARENT_TAG) in members:
                    members.add(rid)
                    grew = True
        children = {rid: run for rid, run in recent.items() if rid in members}
        collector = lineage.Collector()
        metrics: dict[str, float] = {}
        params: dict[str, str] = {}
        tags: dict[str, str] = {}
        job = client.get_run(run_id)
        ordered = sorted(children.values(), key=lambda r: r.info.start_time or 0)
        for run in [job, *ordered]:
            metrics.update(run.data.metrics)
            params.update(run.data.params)
            tags.update({k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
        for run in ordered:
            collector.add(lineage.RUN_ID, run.info.run_id)
            for key in (
                lineage.DATA_COMMIT,
                lineage.DATA_REPOSITORY,
                lineage.FEATURES_SERVICE,
                lineage.RAY_JOB_ID,
            ):
                for value in lineage.decode(run.data.tags.get(key)):
                    collector.add(key, value)
            for name, version in _model_versions(client, run):
                collector.add(lineage.MODEL_NAME, name)
                collector.add(lineage.MODEL_VERSION, f"{name}/{version}")
        return collector.values, metrics, params, tags


def _model_versions(client: Any, run: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    names = lineage.decode(run.data.tags.get(lineage.MODEL_NAME))
    versions = lineage.decode(run.data.tags.get(lineage.MODEL_VERSION))
    for name, version in zip(names, versions, strict=False):
        found.append((name, version.rsplit("/", 1)[-1]))
    try:
        for mv in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            if (mv.name, str(mv.version)) not in found:
                found.append((mv.name, str(mv.version)))
    except Exception:  # a tracking store without a registry
        pass
    return found


def _search(client: Any, experiments: list[str], query: str) -> Iterable[Any]:
    token = None
    while True:
        page = client.search_runs(
            experiments, filter_string=query, max_results=1000, page_token=token
        )
        yield from page
        token = page.token
        if not token:
            return


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]
