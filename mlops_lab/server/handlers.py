"""Thin handlers: parse a pydantic request, await a service call, answer a pydantic model.

Every route is ``@tornado.web.authenticated`` on Jupyter's ``APIHandler`` (403 without a
token; POST/DELETE also need the XSRF token when authenticated by cookie). Errors have one
mapping, in ``LabHandler.write_error``: a ``LabError`` answers its ``http_status`` (4xx for
the user's mistakes) with its one line; anything else is a 500.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ValidationError
from tornado import web

from mlops_lab import limits, lineage
from mlops_lab.errors import LabError, NotFoundError, UsageError
from mlops_lab.server import models

if TYPE_CHECKING:
    from mlops_lab.lab import Lab
    from mlops_lab.server.app import MLOpsExtension
    from mlops_lab.server.runs import RunRecord

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class LabHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every route: the project's Lab, blocking calls off the event loop, errors."""

    @property
    def app(self) -> MLOpsExtension:
        return cast("MLOpsExtension", self.extensionapp)

    @property
    def lab(self) -> Lab:
        return self.app.lab()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking service call in the extension's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.app.executor, functools.partial(fn, *args, **kwargs))

    def parse(self, model: type[M]) -> M:
        limits.check_request(self.request.body or b"")
        try:
            return model.model_validate_json(self.request.body or b"{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise UsageError(f"invalid request: {problems}") from None

    def reply(self, model: BaseModel, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(model.model_dump_json())

    def notebook_path(self, path: str) -> Path:
        """A notebook path from the browser (relative to root_dir), kept inside root_dir."""
        root = self.app.root_dir
        limits.check_path(path, "notebook path")
        candidate = (root / path.lstrip("/")).resolve()
        if candidate != root and root not in candidate.parents:
            raise UsageError(f"{path} is outside the server's root directory {root}")
        if not candidate.is_file():
            raise NotFoundError(f"notebook {path} not found; save it first and check the path")
        if candidate.suffix != ".ipynb":
            raise UsageError(f"{path} is not a .ipynb notebook")
        return candidate

    def openable(self, path: Path) -> tuple[str | None, str | None]:
        """(path relative to root_dir, None) when the browser can open ``path``, else
        (None, why not)."""
        root = self.app.root_dir
        try:
            relative = path.resolve().relative_to(root)
        except ValueError:
            return None, f"{path} is outside the Jupyter server's root directory {root}"
        if any(part.startswith(".") for part in relative.parts):
            return None, (
                f"{relative.as_posix()} is in a hidden folder, which Jupyter does not serve; "
                "set [notebooks] output_dir in mlops.toml to a visible folder (default mlops-runs)"
            )
        return relative.as_posix(), None

    def relative(self, path: Path) -> str:
        root = self.app.root_dir
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            return str(path)

    # --- the one error mapping ---------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, LabError):
            status_code = exc.http_status
            body = models.ErrorBody(kind=type(exc).__name__, message=str(exc))
        elif isinstance(exc, web.HTTPError):
            reason = exc.log_message or exc.reason or self._reason
            body = models.ErrorBody(kind="HTTPError", message=str(reason))
        else:
            body = models.ErrorBody(
                kind="InternalError",
                message=f"the server failed unexpectedly ({type(exc).__name__ if exc else status_code}); "
                "see the Jupyter server log",
            )
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(models.ErrorResponse(error=body).model_dump_json())

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, LabError):
            level = logging.WARNING if value.http_status < 500 else logging.ERROR
            self.log.log(
                level, "%s %s: %s", self.request.method, self.request.path, value.one_line()
            )
            return
        super().log_exception(typ, value, tb)


# --- routes ------------------------------------------------------------------------------


class StatusHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        timeout = _float_arg(self.get_query_argument("timeout", "2.5"), "timeout")
        report = await self.call(self.lab.status, timeout)
        self.reply(
            models.StatusResponse(
                root=str(report.root),
                config_file=str(report.config_file) if report.config_file else None,
                notice=report.notice,
                backends=[models.Backend(**vars(b)) for b in report.backends],
            )
        )


class DataBranchesHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        data = self.lab.data
        branches = await self.call(data.branches)
        self.reply(
            models.BranchesResponse(
                backend=self.lab.config.data.backend,
                default_branch=data.default_branch,
                branches=[models.Branch(name=b.name, commit=b.commit_id) for b in branches],
            )
        )


class DataLogHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        data = self.lab.data
        ref = self.get_query_argument("ref", "") or data.default_branch
        limit = _int_arg(self.get_query_argument("limit", "20"), "limit", 1, 1000)
        commits = await self.call(data.log, ref, None, limit)
        self.reply(
            models.LogResponse(
                ref=ref,
                commits=[
                    models.Commit(
                        id=c.id,
                        message=c.message,
                        committer=c.committer,
                        created=c.created,
                        notebook=c.metadata.get(lineage.NOTEBOOK_PATH, ""),
                    )
                    for c in commits
                ],
            )
        )


class DataDiffHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        data = self.lab.data
        left = self.get_query_argument("left", "") or data.default_branch
        right = self.get_query_argument("right", "") or None
        changes = await self.call(data.diff, left, right)
        self.reply(
            models.DiffResponse(
                left=left,
                right=right,
                changes=[models.Change(path=c.path, kind=c.kind, size=c.size) for c in changes],
            )
        )


class RunsHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        tracking = self.lab.tracking
        experiment = (
            self.get_query_argument("experiment", "") or self.lab.config.tracking.experiment
        )
        limit = _int_arg(self.get_query_argument("limit", "20"), "limit", 1, 1000)
        runs = await self.call(tracking.runs, experiment, limit)
        self.reply(
            models.RunsResponse(
                experiment=experiment,
                runs=[
                    models.Run(
                        run_id=r.run_id,
                        name=r.name,
                        status=r.status,
                        start=_stamp(r.start),
                        end=_stamp(r.end),
                        metrics=r.metrics,
                        params=r.params,
                        parent_run_id=r.parent_run_id,
                    )
                    for r in runs
                ],
            )
        )


class ModelsHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        found = await self.call(self.lab.models.list)
        self.reply(
            models.ModelsResponse(
                models=[
                    models.RegisteredModel(
                        name=m.name,
                        latest_version=m.latest_version,
                        aliases=m.aliases,
                        description=m.description,
                        updated=_stamp(m.updated),
                    )
                    for m in found
                ]
            )
        )


class ModelVersionsHandler(LabHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        found = await self.call(self.lab.models.versions, name)
        self.reply(
            models.ModelVersionsResponse(
                name=name,
                versions=[
                    models.ModelVersion(
                        name=v.name,
                        version=v.version,
                        aliases=list(v.aliases),
                        run_id=v.run_id,
                        status=v.status,
                        created=_stamp(v.created),
                        metrics=v.metrics,
                        description=v.description,
                    )
                    for v in found
                ],
            )
        )


class LineageHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        target = self.get_query_argument("target", "").strip()
        if not target:
            raise UsageError(
                "lineage needs a target: a model (NAME@ALIAS, NAME/VERSION) or a run id"
            )
        walked = await self.call(self.lab.lineage, target)
        self.reply(
            models.LineageResponse(
                target=target,
                steps=[
                    models.LineageStep(step=step, kind=kind, id=ident, detail=detail)
                    for step, kind, ident, detail in walked.rows()
                ],
            )
        )


class JobsHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        training = self.lab.training
        backend = self.lab.config.training.backend
        # listing must not start a local head: the panel polls this route
        if await self.call(_local_head_down, self.lab):
            self.reply(
                models.JobsResponse(
                    backend=backend,
                    notice="the local Ray head is not running; it starts with the first job "
                    "(%mlops train) or %mlops ray up",
                    jobs=[],
                )
            )
            return
        found = await self.call(training.jobs)
        self.reply(models.JobsResponse(backend=backend, jobs=[models.Job.of(j) for j in found]))


class JobLogsHandler(LabHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        tail = _int_arg(self.get_query_argument("tail", "20000"), "tail", 1, 1_000_000)
        text = await self.call(_job_logs, self.lab, job_id)
        self.reply(
            models.JobLogsResponse(job_id=job_id, logs=text[-tail:], truncated=len(text) > tail)
        )


class JobStopHandler(LabHandler):
    @web.authenticated
    async def post(self, job_id: str) -> None:
        stopped = await self.call(_job_stop, self.lab, job_id)
        self.reply(models.JobStopResponse(job_id=job_id, stopped=stopped))


class DriftMetricsHandler(LabHandler):
    """Prometheus scrape target for the latest drift checks, behind the server's token
    (scrape with ``authorization: {type: token, credentials_file: ...}``)."""

    @web.authenticated
    async def get(self) -> None:
        text = await self.call(self.lab.drift.metrics)
        self.finish(text, set_content_type="text/plain; version=0.0.4; charset=utf-8")


class EndpointsHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        found = await self.call(self.lab.serving.endpoints)
        self.reply(models.EndpointsResponse(endpoints=[models.Endpoint.of(s) for s in found]))


class EndpointDeployHandler(LabHandler):
    @web.authenticated
    async def post(self, endpoint: str) -> None:
        request = self.parse(models.DeployRequest)
        serving = self.lab.serving
        revision = await self.call(
            serving.deploy, request.model, endpoint=endpoint, canary=request.canary
        )
        self.reply(models.ChangeResponse.of(revision))


class EndpointWeightHandler(LabHandler):
    @web.authenticated
    async def post(self, endpoint: str) -> None:
        request = self.parse(models.WeightRequest)
        revision = await self.call(self.lab.serving.set_weight, endpoint, request.weight)
        self.reply(models.ChangeResponse.of(revision))


class EndpointPromoteHandler(LabHandler):
    @web.authenticated
    async def post(self, endpoint: str) -> None:
        revision = await self.call(self.lab.serving.promote, endpoint)
        self.reply(models.ChangeResponse.of(revision))


class EndpointRollbackHandler(LabHandler):
    @web.authenticated
    async def post(self, endpoint: str) -> None:
        revision = await self.call(self.lab.serving.rollback, endpoint)
        self.reply(models.ChangeResponse.of(revision))


class EndpointDriftHandler(LabHandler):
    @web.authenticated
    async def get(self, endpoint: str) -> None:
        window = self.get_query_argument("window", "1h")
        drift = await self.call(self.lab.serving.canary_drift, endpoint, window)
        self.reply(models.CanaryDriftResponse.of(drift))


def _local_head_down(lab: Lab) -> bool:
    return lab.config.training.backend == "ray-local" and lab.training.cluster.address() is None


ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
"""Terminal colour and cursor codes (CSI, OSC, two-byte escapes) that Ray's logs carry."""


def _job_logs(lab: Lab, job_id: str) -> str:
    return ANSI.sub("", str(lab.training.job(job_id).logs()))


def _job_stop(lab: Lab, job_id: str) -> bool:
    return bool(lab.training.job(job_id).stop())


def _stamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


class NotebookParametersHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path")
        notebook = self.notebook_path(path)
        found = await self.call(self.lab.notebooks.parameters, notebook)
        self.reply(
            models.NotebookParametersResponse(
                path=path,
                parameters=[
                    models.NotebookParameter(
                        name=p.name, type=p.type, default=p.default, help=p.help
                    )
                    for p in found.parameters
                ],
            )
        )


class NotebookRunsHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        runs = self.app.notebook_runs.list()
        self.reply(models.NotebookRunsResponse(runs=[self._model(r) for r in runs]))

    @web.authenticated
    async def post(self) -> None:
        request = self.parse(models.RunNotebookRequest)
        notebook = self.notebook_path(request.path)
        values = await self.call(
            self.lab.notebooks.check_parameters, notebook, request.parameters, text=True
        )
        record = self.app.notebook_runs.submit(
            self.lab, notebook, request.path, values, request.timeout
        )
        self.reply(self._model(record), status=202)

    def _model(self, record: RunRecord) -> models.NotebookRun:
        return notebook_run_model(record, self.relative)


class NotebookSchedulesHandler(LabHandler):
    @web.authenticated
    async def post(self) -> None:
        request = self.parse(models.ScheduleRequest)
        notebook = self.notebook_path(request.path)
        notebooks = self.lab.notebooks
        options: dict[str, Any] = {"text_parameters": True, "timeout": request.timeout}
        if request.name:
            options["name"] = request.name
        spec = await self.call(
            notebooks.schedule_spec,
            notebook,
            request.cron,
            request.image or None,
            request.parameters,
            **options,
        )
        yaml = ""
        if request.dry_run:
            yaml = await self.call(notebooks.schedule_yaml, spec)
        else:
            await self.call(notebooks.create_schedule, spec)
        self.reply(
            models.ScheduleResponse(
                name=spec.name,
                namespace=spec.namespace,
                cron=spec.cron,
                image=spec.image,
                created=not request.dry_run,
                yaml=yaml,
            ),
            status=200 if request.dry_run else 201,
        )


class NotebookRunHandler(LabHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        record = self.app.notebook_runs.get(run_id)
        self.reply(notebook_run_model(record, self.relative))


def notebook_run_model(record: RunRecord, relative: Callable[[Path], str]) -> models.NotebookRun:
    return models.NotebookRun(
        id=record.id,
        path=record.path,
        parameters=record.parameters,
        state=record.state,  # type: ignore[arg-type]
        started=record.started,
        finished=record.finished,
        output=relative(record.output) if record.output else None,
        mlflow_run_id=record.mlflow_run_id,
        error=record.error,
    )


def _int_arg(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _float_arg(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, got {value!r}") from None
    if not 0 < number <= 60:
        raise UsageError(f"{name} must be between 0 and 60 seconds, got {value}")
    return number
