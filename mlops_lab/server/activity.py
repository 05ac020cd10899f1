"""What runs in the project, whoever started it: notebook jobs (the executed notebooks on
this machine, the panel's queue, and the job runs MLflow recorded elsewhere, a schedule's pod
among them) and long operations (data commits, feature materialization) with their progress.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from tornado import web

from mlops_lab.backends.tracking.mlflow import JOB_ID_TAG as JOB_ID
from mlops_lab.display import tracking_ui
from mlops_lab.errors import LabError
from mlops_lab.lineage import NOTEBOOK_PATH
from mlops_lab.server import models
from mlops_lab.server.handlers import LabHandler
from mlops_lab.server.notebook_jobs import LISTED
from mlops_lab.services.notebooks.service import JOB_ERROR_TAG as JOB_ERROR
from mlops_lab.services.notebooks.service import JOB_KIND_TAG as JOB_KIND
from mlops_lab.services.notebooks.service import JOB_SCHEDULE_TAG as JOB_SCHEDULE

if TYPE_CHECKING:
    from mlops_lab.lab import Lab
    from mlops_lab.server.notebook_jobs import NotebookJob
    from mlops_lab.server.runs import RunRecord
    from mlops_lab.services.progress import Progress
    from mlops_lab.services.tracking import RunSummary

RUN_STATES = {
    "RUNNING": "running",
    "SCHEDULED": "queued",
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "stopped",
}


def _recorded_jobs(lab: Lab) -> list[RunSummary]:
    """The newest notebook job runs in MLflow (``mlops.job.kind = notebook``); none while a
    local store is not created yet (creating it takes seconds; the panel only looks)."""
    uri = lab.tracking.uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return []
    return lab.tracking.runs(None, LISTED, f"tags.`{JOB_KIND}` = 'notebook'")


def _elsewhere(lab: Lab) -> list[Path]:
    from mlops_lab.services.notebooks.outputs import recorded

    return recorded(lab.config)


class NotebookJobsHandler(LabHandler):
    """Every notebook job with its cell progress: the executed notebooks under [notebooks]
    output_dir and those written elsewhere with --output, the "Run as job…" runs still waiting
    for their kernel, and the jobs only MLflow knows of (a schedule's, run in a pod)."""

    @web.authenticated
    async def get(self) -> None:
        lab = self.lab
        folder = lab.config.resolve(lab.config.notebooks.output_dir)
        elsewhere = await self.call(_elsewhere, lab)
        found, recorded = await asyncio.gather(
            self.call(self.app.notebook_jobs.list, folder, elsewhere),
            self._recorded(lab),
        )
        jobs = [self._model(j) for j in found]
        records = self.app.notebook_runs.list()
        for record in records:
            if not any(self._same(record, j) for j in found):
                jobs.append(self._waiting(record))
        note = recorded if isinstance(recorded, str) else None
        here = {j.job_id for j in found} | {r.mlflow_run_id for r in records}
        for run in recorded if not isinstance(recorded, str) else []:
            if run.lineage.get(JOB_ID) not in here and run.run_id not in here:
                jobs.append(self._from_mlflow(run))
        jobs.sort(key=lambda j: j.started or 0.0, reverse=True)
        self.reply(
            models.NotebookJobsResponse(
                folder=self.relative(folder), jobs=jobs[:LISTED], tracking_note=note
            )
        )

    async def _recorded(self, lab: Lab) -> list[RunSummary] | str:
        try:
            return await self.call(_recorded_jobs, lab)
        except LabError as exc:  # the executed notebooks here are still listed
            return f"jobs recorded only in MLflow are not listed: {exc}"

    def _model(self, job: NotebookJob) -> models.NotebookJob:
        output, note = self.openable(job.output)
        return models.NotebookJob(
            id=job.id,
            notebook=self.relative(Path(job.notebook)) if job.notebook else job.id,
            parameters=job.parameters,
            state=job.state,  # type: ignore[arg-type]
            started=job.started,
            finished=job.finished,
            cells=job.cells,
            cells_done=job.cells_done,
            running_cell=job.running_cell,
            output=output,
            output_note=note,
            error=job.error,
            cancellable=job.state == "running",
        )

    def _same(self, record: RunRecord, job: NotebookJob) -> bool:
        return record.target.resolve() == job.output.resolve()

    def _waiting(self, record: RunRecord) -> models.NotebookJob:
        output, note = self.openable(record.output) if record.output else (None, None)
        return models.NotebookJob(
            id=record.id,
            notebook=record.path,
            parameters=record.parameters,
            state=record.state,  # type: ignore[arg-type]
            started=record.started,
            finished=record.finished,
            output=output,
            output_note=note,
            error=record.error,
            cancellable=record.finished is None,
            mlflow_run_id=record.mlflow_run_id,
        )

    def _from_mlflow(self, run: RunSummary) -> models.NotebookJob:
        tags = run.lineage
        schedule = tags.get(JOB_SCHEDULE) or None
        state = RUN_STATES.get(run.status, "stopped")
        where = (
            f"a pod of schedule {schedule} runs it in Kubernetes: delete its Job there "
            f"(kubectl delete job -l mlops-lab/schedule={schedule})"
            if schedule
            else "it runs on another machine, where its executed notebook is"
        )
        ui = tracking_ui(self.lab.config)
        source = tags.get(NOTEBOOK_PATH, "")
        return models.NotebookJob(
            id=run.run_id,
            notebook=self.relative(Path(source)) if source else run.name,
            parameters=dict(run.params),
            state=state,  # type: ignore[arg-type]
            started=run.start.timestamp() if run.start else None,
            finished=run.end.timestamp() if run.end else None,
            output_note=f"the executed notebook is not on this machine: {where}; "
            "MLflow keeps it as an artifact of the job's run",
            error=tags.get(JOB_ERROR) or None,
            cancel_note=f"not cancellable from here: {where}" if state == "running" else None,
            schedule=schedule,
            mlflow_run_id=run.run_id,
            mlflow_url=f"{ui}/#/runs/{run.run_id}" if ui else None,
        )


class NotebookJobCancelHandler(LabHandler):
    """Cancel a job of this machine: a panel run still waiting for a worker or its kernel, or
    a running job (before its next cell, interrupting the running one)."""

    @web.authenticated
    async def post(self, job: str) -> None:
        runs = self.app.notebook_runs
        waiting = next(
            (r for r in runs.list() if job in (r.id, r.target.stem) and r.finished is None), None
        )
        if waiting is not None and not waiting.target.exists():
            message = await self.call(runs.cancel, waiting)
        else:
            lab = self.lab
            folder = lab.config.resolve(lab.config.notebooks.output_dir)
            jobs = self.app.notebook_jobs
            elsewhere = await self.call(_elsewhere, lab)
            target = waiting.target.stem if waiting is not None else job
            found = await self.call(jobs.find, folder, target, elsewhere)
            message = await self.call(jobs.cancel, found)
            if waiting is not None:  # its run ends "cancelled", not "failed"
                waiting.cancel_requested = True
        self.reply(models.NotebookJobCancelResponse(id=job, message=message))


class OperationsHandler(LabHandler):
    """The project's long operations (``.mlops/operations``): running ones with how far they
    got and the time so far, and the last ones that ended."""

    @web.authenticated
    async def get(self) -> None:
        from mlops_lab.services import progress

        found = await self.call(progress.recent, self.lab.config.root)
        self.reply(models.OperationsResponse(operations=[_operation(p) for p in found]))


def _operation(record: Progress) -> models.Operation:
    return models.Operation(
        operation=record.operation,
        label=record.label,
        done=record.done,
        total=record.total,
        unit=record.unit,
        state=record.state,  # type: ignore[arg-type]
        started=record.started,
        elapsed=record.elapsed,
        fraction=record.fraction,
        error=record.error,
    )
