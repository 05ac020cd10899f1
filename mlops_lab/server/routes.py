"""The extension's routes: one table, which the server registers under /mlops-lab/api/
and the security tests walk."""

from __future__ import annotations

from dataclasses import dataclass

from tornado import web

from mlops_lab.server.activity import (
    NotebookJobCancelHandler,
    NotebookJobsHandler,
    OperationsHandler,
)
from mlops_lab.server.handlers import (
    DataBranchesHandler,
    DataDiffHandler,
    DataLogHandler,
    DriftMetricsHandler,
    EndpointDeployHandler,
    EndpointDriftHandler,
    EndpointPromoteHandler,
    EndpointRollbackHandler,
    EndpointsHandler,
    EndpointWeightHandler,
    JobLogsHandler,
    JobsHandler,
    JobStopHandler,
    LabHandler,
    LineageHandler,
    ModelsHandler,
    ModelVersionsHandler,
    NotebookParametersHandler,
    NotebookRunHandler,
    NotebookRunsHandler,
    NotebookSchedulesHandler,
    RunsHandler,
    StatusHandler,
)

URL_PREFIX = "mlops-lab/api"


@dataclass(frozen=True)
class Route:
    pattern: str
    """Regex under /<base_url>/mlops-lab/api/."""
    handler: type[LabHandler]
    example: str
    """A concrete path matching ``pattern`` (for tests and docs)."""

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(
            m.upper()
            for m in ("get", "post", "put", "patch", "delete")
            if getattr(self.handler, m) is not getattr(web.RequestHandler, m)
        )


_ENDPOINT = r"serving/endpoints/(?P<endpoint>[a-z0-9][-a-z0-9]*)"
_FRAUD = "serving/endpoints/fraud"

ROUTES: tuple[Route, ...] = (
    Route("status", StatusHandler, "status"),
    Route("data/branches", DataBranchesHandler, "data/branches"),
    Route("data/log", DataLogHandler, "data/log?ref=main&limit=5"),
    Route("data/diff", DataDiffHandler, "data/diff?left=main"),
    Route("runs", RunsHandler, "runs?limit=5"),
    Route("models", ModelsHandler, "models"),
    Route(r"models/(?P<name>[^/]+)/versions", ModelVersionsHandler, "models/fraud/versions"),
    Route("lineage", LineageHandler, "lineage?target=fraud@champion"),
    Route("jobs", JobsHandler, "jobs"),
    Route(r"jobs/(?P<job_id>[A-Za-z0-9_.\-]+)/logs", JobLogsHandler, "jobs/raysubmit_1/logs"),
    Route(r"jobs/(?P<job_id>[A-Za-z0-9_.\-]+)/stop", JobStopHandler, "jobs/raysubmit_1/stop"),
    Route("notebooks/parameters", NotebookParametersHandler, "notebooks/parameters?path=a.ipynb"),
    Route("notebooks/runs", NotebookRunsHandler, "notebooks/runs"),
    Route(r"notebooks/runs/(?P<run_id>[0-9a-f]+)", NotebookRunHandler, "notebooks/runs/0123abcd"),
    Route("notebooks/jobs", NotebookJobsHandler, "notebooks/jobs"),
    Route(
        r"notebooks/jobs/(?P<job>[A-Za-z0-9_.\-]+)/cancel",
        NotebookJobCancelHandler,
        "notebooks/jobs/train-20261130T101010123/cancel",
    ),
    Route("notebooks/schedules", NotebookSchedulesHandler, "notebooks/schedules"),
    Route("operations", OperationsHandler, "operations"),
    Route("drift/metrics", DriftMetricsHandler, "drift/metrics"),
    Route("serving/endpoints", EndpointsHandler, "serving/endpoints"),
    Route(f"{_ENDPOINT}/deploy", EndpointDeployHandler, f"{_FRAUD}/deploy"),
    Route(f"{_ENDPOINT}/weight", EndpointWeightHandler, f"{_FRAUD}/weight"),
    Route(f"{_ENDPOINT}/promote", EndpointPromoteHandler, f"{_FRAUD}/promote"),
    Route(f"{_ENDPOINT}/rollback", EndpointRollbackHandler, f"{_FRAUD}/rollback"),
    Route(f"{_ENDPOINT}/drift", EndpointDriftHandler, f"{_FRAUD}/drift?window=1h"),
)
