"""Notebooks as jobs: papermill runs with the MLOps kernel, recorded as MLflow runs with lineage.

A run checks everything it can before it starts anything (the notebook exists, has a
``parameters`` cell, every parameter is known, typed right and not secret-looking), then
opens an MLflow run for the job, executes the notebook with papermill in a kernel that
knows its own source path (``MLOPS_NOTEBOOK_PATH``), and stamps on the job run what the
notebook produced: the runs it tracked, the data commits they read or wrote, the model
versions they registered. The executed notebook is kept and logged as an artifact of the
job run, also when a cell failed, the kernel died or a cell ran past the timeout.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import limits, lineage
from mlops_lab.backends.tracking.mlflow import JOB_ID_TAG, JobRecorder, source_tags
from mlops_lab.display import BAD, GOOD, Id, Table, colour, file_link, tracking_ui
from mlops_lab.errors import BackendError, ConfigError, LabError, NotFoundError, UsageError
from mlops_lab.jobenv import JobEnv, variable
from mlops_lab.services.notebooks import execution, outputs, schedules
from mlops_lab.services.notebooks.parameters import (
    NotebookParameters,
    coerce_parameters,
    first_line,
    load_parameters_file,
    read_parameters,
)
from mlops_lab.services.notebooks.recorder import RecorderProcess, RecordingFailed, job_recorder

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

JOB_KIND_TAG = "mlops.job.kind"
JOB_STATUS_TAG = "mlops.job.status"
JOB_FAILED_CELL_TAG = "mlops.job.failed_cell"
JOB_ERROR_TAG = "mlops.job.error"
JOB_SCHEDULE_TAG = "mlops.job.schedule"
"""The schedule (CronJob) that started the job, from its pod's ``MLOPS_SCHEDULE``."""


# How the result labels what the notebook's code produced (lineage key -> label).
PRODUCED_LABELS = {
    lineage.RUN_ID: "runs the notebook logged",
    lineage.DATA_COMMIT: "data commits",
    lineage.MODEL_VERSION: "model versions",
    lineage.MODEL_NAME: "models",
    lineage.DEPLOY_REVISION: "deploy revisions",
    lineage.RAY_JOB_ID: "Ray jobs",
}


class NotebookRunError(LabError):
    """The notebook ran and a cell failed; the output notebook was still written."""


@dataclasses.dataclass
class NotebookRun:
    """What one notebook job did: where its output is and what it recorded."""

    notebook: Path
    output: Path
    parameters: dict[str, Any]
    run_id: str | None
    status: str
    """"succeeded" or "failed"."""
    duration_s: float
    produced: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """Lineage key -> values the notebook's runs recorded (runs, data commits, models)."""
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    """Latest value of each metric the job run or its child runs logged."""
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str = ""
    failed_cell: int | None = None
    tracking_ui: str = ""
    """The MLflow UI the result links runs to ("" when none is configured)."""

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def table(self, max_rows: int = 50) -> Table:
        """Labelled rows: the two notebooks as links, which MLflow run is the job's own and
        which the notebook's code logged, ids short with the full value on hover."""
        ui = self.tracking_ui

        def run(value: str) -> Id:
            return Id(value, href=f"{ui}/#/runs/{value}" if ui else "")

        rows: list[list[Any]] = [
            ["notebook", file_link(self.notebook)],
            ["status", self.status],
            ["executed notebook", file_link(self.output)],
            ["job's MLflow run", run(self.run_id) if self.run_id else ""],
            ["duration", f"{self.duration_s:.1f} s"],
        ]
        rows += [[f"parameter {k}", v] for k, v in self.parameters.items()]
        for key, values in self.produced.items():
            label = PRODUCED_LABELS.get(key, key.removeprefix("mlops.").replace(".", " "))
            if key == lineage.RUN_ID:
                rows.append([label, [run(v) for v in values]])
            elif key == lineage.DATA_COMMIT:
                rows.append([label, [Id(v) for v in values]])
            else:
                rows.append([label, ", ".join(values)])
        if self.error:
            rows.append(["error", self.error])
        return Table(
            ["", "value"],
            rows,
            title=f"notebook job {self.notebook.name}",
            max_rows=max_rows,
            style=lambda column, value: (
                colour(GOOD if value == "succeeded" else BAD)
                if column == "value" and value in ("succeeded", "failed")
                else ""
            ),
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


class NotebookService:
    """`lab.notebooks`: parameters of a notebook, runs as tracked jobs, and schedules.

    ``run`` / ``execute`` (papermill on the MLOps kernel, an MLflow job run with lineage),
    ``parameters`` / ``check_parameters``, ``schedule`` / ``schedules`` / ``unschedule``
    (Kubernetes CronJobs, see schedules.py); pipelines are in pipelines.py beside it.
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._fetched: dict[str, Path] = {}

    # -- inspection -----------------------------------------------------------------------

    def parameters(self, path: str | os.PathLike[str]) -> NotebookParameters:
        """The notebook's parameters with their types, from its ``parameters``-tagged cell."""
        return read_parameters(self.source(path), self.lab.config.notebooks.kernel)

    def check_parameters(
        self,
        path: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        text: bool = False,
    ) -> dict[str, Any]:
        """Validate ``parameters`` against the notebook's parameters cell; returns them coerced
        to the declared types. ``text=True`` parses string values as the CLI's ``-p`` gives them.
        """
        declared = self.parameters(path)
        return coerce_parameters(declared, parameters or {}, text=text)

    def resolve_parameters(
        self,
        path: str | os.PathLike[str],
        pairs: Iterable[tuple[str, str]] = (),
        file: str | os.PathLike[str] | None = None,
    ) -> dict[str, Any]:
        """Parameters as the CLI and magics take them: a YAML file (typed values), then
        ``-p NAME VALUE`` pairs (text, parsed to each parameter's type) overriding it."""
        declared = self.parameters(path)
        values = coerce_parameters(declared, load_parameters_file(file)) if file else {}
        values.update(coerce_parameters(declared, dict(pairs), text=True))
        return values

    # -- running --------------------------------------------------------------------------

    def run(
        self,
        path: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Execute ``path`` with papermill; returns the executed notebook's path.

        Raises NotebookRunError (the output notebook is still written) when a cell fails.
        """
        return self.execute(path, parameters, output=output, timeout=timeout, cwd=cwd).output

    def execute(
        self,
        path: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
        text_parameters: bool = False,
        parent_run_id: str | None = None,
        run_name: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
        raise_on_failure: bool = True,
        experiment: str | None = None,
        recorder: JobRecorder | RecorderProcess | None = None,
    ) -> NotebookRun:
        """Run the notebook as a tracked job and return what it did.

        ``parent_run_id`` nests the job run (pipelines); ``raise_on_failure=False`` returns a
        failed NotebookRun instead of raising NotebookRunError. ``recorder`` is one the
        caller opened earlier with ``job_recorder`` (the CLI does, before its own imports).
        """
        source = self.source(path)
        values = self.check_parameters(source, parameters, text=text_parameters)
        if timeout is not None and timeout <= 0:
            raise UsageError(f"--timeout must be a positive number of seconds, got {timeout:g}")
        config = self.lab.config
        workdir = Path(cwd).resolve() if cwd else config.root
        if not workdir.is_dir():
            raise NotFoundError(f"working directory {workdir} not found; check --cwd")
        out = Path(output).resolve() if output else self.default_output(source)
        if out.suffix != ".ipynb":
            raise UsageError(f"output {out} must end in .ipynb")
        execution.check_kernel(config.notebooks.kernel)

        recording = contextlib.nullcontext(recorder) if recorder else job_recorder(self.lab)
        with recording as tracker:
            tags = {
                JOB_KIND_TAG: "notebook",
                lineage.NOTEBOOK_PATH: str(source),
                **lineage.git_state(source, only_path=True),
                **source_tags(str(source)),
                **(extra_tags or {}),
            }
            if schedule := os.environ.get(variable("schedule")):
                tags[JOB_SCHEDULE_TAG] = schedule
            started = time.time()
            job_id = uuid.uuid4().hex
            tags[JOB_ID_TAG] = job_id
            out.parent.mkdir(parents=True, exist_ok=True)
            outputs.remember(config, out)
            env = {
                **JobEnv(project=str(config.root), job_id=job_id).to_env(),
                **execution.notebook_env(str(source)),
            }
            # The job's MLflow run is opened while the kernel starts (by the recorder's process,
            # or a thread where MLflow is imported already); no cell runs before it exists.
            opening = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mlops-job")
            pending = opening.submit(
                tracker.start, run_name or source.stem, tags, values, parent_run_id, experiment
            )
            opening.shutdown(wait=False)
            run_ids: list[str] = []

            def job_run_opened() -> None:
                run_ids.append(pending.result())

            error: LabError | None = None
            failed_cell: int | None = None
            try:
                execution.execute(
                    source,
                    out,
                    values,
                    config.notebooks.kernel,
                    workdir,
                    timeout,
                    env,
                    job_run_opened,
                )
                run_id = run_ids[0]
            except execution.CellFailed as failure:
                run_id = run_ids[0]
                failed_cell = failure.cell
                error = NotebookRunError(
                    f"{source.name}: cell {failure.cell} failed: {failure.ename}: "
                    f"{first_line(failure.evalue)} (executed notebook kept at {out}; "
                    f"MLflow run {run_id})",
                    output=str(out),
                    cell=failure.cell,
                    run_id=run_id,
                )
            except BaseException as exc:
                reason = {JOB_STATUS_TAG: "failed", JOB_ERROR_TAG: first_line(str(exc))[:250]}
                if run_ids:
                    tracker.finish(run_ids[0], out if out.exists() else None, "FAILED", reason)
                else:  # the kernel did not start, or the job run could not be opened: no cell ran
                    out.unlink(missing_ok=True)
                    try:
                        opened = pending.result(timeout=120)
                    except BaseException:
                        opened = None
                    if opened:
                        tracker.finish(opened, None, "KILLED", reason)
                if isinstance(exc, LabError | KeyboardInterrupt | SystemExit):
                    raise
                raise BackendError(
                    f"{source.name}: the notebook job could not run: {describe(exc)}"
                    + (f" (executed notebook kept at {out})" if out.exists() else "")
                ) from exc
            finish_tags = {JOB_STATUS_TAG: "failed" if error else "succeeded"}
            if error is not None:
                finish_tags[JOB_FAILED_CELL_TAG] = str(failed_cell)
                finish_tags[JOB_ERROR_TAG] = str(error)[:250]
            # MLflow logs a failing store write with its traceback before raising; the one
            # line below says it instead.
            store_log = logging.getLogger("mlflow.store.db.utils")
            store_level = store_log.level
            store_log.setLevel(logging.CRITICAL)
            try:
                produced, metrics, params, all_tags = tracker.collect(
                    run_id, str(source), started, job_id
                )
                finish_tags.update({k: lineage.encode(v) for k, v in produced.items() if v})
                tracker.finish(run_id, out, "FAILED" if error else "FINISHED", finish_tags)
            except Exception as exc:  # the store went away under the job (a cell deleted it)
                raise BackendError(
                    f"{source.name} ran (executed notebook kept at {out}) but its MLflow run "
                    f"{run_id} could not be recorded in {config.tracking.uri}: "
                    f"{describe(exc)}; check the tracking store"
                ) from None
            finally:
                store_log.setLevel(store_level)
            for key, values_ in produced.items():
                for value in values_:
                    lineage.note(key, value)
            result = NotebookRun(
                notebook=source,
                output=out,
                parameters=values,
                run_id=run_id,
                status="failed" if error else "succeeded",
                duration_s=time.time() - started,
                produced=produced,
                metrics=metrics,
                params=params,
                tags=all_tags,
                error=str(error) if error else "",
                failed_cell=failed_cell,
                tracking_ui=tracking_ui(self.lab.config),
            )
            if error is not None and raise_on_failure:
                raise error
            return result

    # -- schedules ------------------------------------------------------------------------

    def schedule_spec(
        self,
        notebook: str | os.PathLike[str],
        cron: str,
        image: str | None,
        parameters: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Check a schedule's inputs; see schedules.build_spec. Creates nothing."""
        return schedules.build_spec(self.lab, Path(notebook), cron, image, parameters, **options)

    def schedule_yaml(self, spec: Any) -> str:
        """The manifests a schedule would create, as YAML (validated, nothing created)."""
        return schedules.to_yaml(
            schedules.manifests(self.lab, spec, schedules.dry_run_uri(self.lab, spec))
        )

    def create_schedule(self, spec: Any) -> Any:
        return schedules.create(self.lab, spec)

    def schedule(
        self,
        notebook: str | os.PathLike[str],
        cron: str,
        image: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Run ``notebook`` on ``cron`` as a Kubernetes CronJob in ``image``."""
        return self.create_schedule(
            self.schedule_spec(notebook, cron, image, parameters, **options)
        )

    def schedules(self, namespace: str | None = None) -> Any:
        return schedules.list_schedules(self.lab, namespace)

    def unschedule(self, name: str, namespace: str | None = None) -> None:
        schedules.delete(self.lab, name, namespace)

    # -- helpers --------------------------------------------------------------------------

    def source(self, path: str | os.PathLike[str]) -> Path:
        """The notebook's absolute path (a ``lakefs://`` notebook is fetched first)."""
        text = limits.check_path(os.fspath(path), "notebook path")
        if text.startswith("lakefs://"):
            return self._fetch(text)
        source = Path(path).expanduser()
        if not source.is_absolute():
            source = Path.cwd() / source
        source = source.resolve()
        if source.suffix != ".ipynb":
            raise UsageError(f"{source} is not a .ipynb notebook; give the path of a notebook")
        if not source.is_file():
            raise NotFoundError(f"notebook {path} not found; check the path")
        return source

    def _fetch(self, uri: str) -> Path:
        """A notebook shipped through lab.data (``lakefs://REPO/REF/PATH``, as a schedule of a
        large notebook does), copied under .mlops/notebooks once per process."""
        cached = self._fetched.get(uri)
        if cached is not None and cached.is_file():
            return cached
        repository, _, rest = uri.removeprefix("lakefs://").partition("/")
        ref, _, path = rest.partition("/")
        data = self.lab.config.data
        if not (repository and ref and path.endswith(".ipynb")):
            raise UsageError(f"{uri} is not a notebook URI; expected lakefs://REPO/REF/PATH.ipynb")
        if data.backend != "lakefs" or data.repository != repository:
            raise ConfigError(
                f"{uri} is in lakeFS repository '{repository}' but this project's data store is "
                f'{data.backend} {data.repository}; set [data] backend = "lakefs" and '
                f'repository = "{repository}"'
            )
        target = self.lab.config.state_dir / "notebooks" / ref / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.lab.data.open(path, ref) as handle:
            payload = handle.read()
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, target)
        self._fetched[uri] = target.resolve()
        return self._fetched[uri]

    def default_output(self, source: Path) -> Path:
        """Where a job of ``source`` keeps its executed notebook unless told otherwise."""
        config = self.lab.config
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
        return config.resolve(config.notebooks.output_dir) / f"{source.stem}-{stamp}.ipynb"


def describe(exc: BaseException) -> str:
    """'ErrorType: first line' of a failure, also of one that happened in the recorder."""
    if isinstance(exc, RecordingFailed):
        return first_line(str(exc))
    return f"{type(exc).__name__}: {first_line(str(exc))}"
