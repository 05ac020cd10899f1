"""Request and response shapes of the REST API (mirrored by extension/src/api.ts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from mlops_lab.backends.drift import Comparison
    from mlops_lab.services.drift import CanaryDrift
    from mlops_lab.services.endpoint_state import EndpointStatus, Revision


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Model):
    kind: str
    """LabError subclass name (e.g. UsageError), or InternalError."""
    message: str
    """One line: what failed and what to do."""


class ErrorResponse(Model):
    error: ErrorBody


class Backend(Model):
    concern: str
    kind: str
    target: str
    reachable: bool
    reason: str


class StatusResponse(Model):
    root: str
    config_file: str | None
    notice: str | None
    backends: list[Backend]


class Branch(Model):
    name: str
    commit: str


class BranchesResponse(Model):
    backend: str
    default_branch: str
    branches: list[Branch]


class Commit(Model):
    id: str
    message: str
    committer: str
    created: float
    """Seconds since the epoch."""
    notebook: str = ""
    """The notebook that made the commit (lineage), when known."""


class LogResponse(Model):
    ref: str
    commits: list[Commit]


class Change(Model):
    path: str
    kind: Literal["added", "removed", "changed"]
    size: int | None


class DiffResponse(Model):
    left: str
    right: str | None
    """None: the uncommitted changes on ``left``."""
    changes: list[Change]


class Run(Model):
    run_id: str
    name: str
    status: str
    start: float | None
    end: float | None
    metrics: dict[str, float]
    params: dict[str, str]
    parent_run_id: str | None = None


class RunsResponse(Model):
    experiment: str
    runs: list[Run]


class RegisteredModel(Model):
    name: str
    latest_version: int | None
    aliases: dict[str, int]
    """alias -> version."""
    description: str
    updated: float | None


class ModelsResponse(Model):
    models: list[RegisteredModel]


class ModelVersion(Model):
    name: str
    version: int
    aliases: list[str]
    run_id: str | None
    status: str
    created: float | None
    metrics: dict[str, float]
    description: str = ""


class ModelVersionsResponse(Model):
    name: str
    versions: list[ModelVersion]


class LineageStep(Model):
    step: str
    """notebook, data, features, training, run, model or "used by"."""
    kind: str
    id: str
    detail: str


class LineageResponse(Model):
    target: str
    steps: list[LineageStep]


class Job(Model):
    job_id: str
    name: str
    state: str
    """pending, running, succeeded, failed or stopped."""
    failure: str | None = None
    reason: str = ""
    start_time: float | None = None
    end_time: float | None = None

    @classmethod
    def of(cls, status: Any) -> Job:
        """A training job's status (``lab.training.job(...).info``-like) as the panel's row."""
        return cls(
            job_id=status.job_id,
            name=status.name,
            state=status.state,
            failure=status.failure,
            reason=status.reason,
            start_time=status.start_time,
            end_time=status.end_time,
        )


class JobsResponse(Model):
    backend: str
    notice: str | None = None
    jobs: list[Job]


class JobLogsResponse(Model):
    job_id: str
    logs: str
    """The last ``tail`` characters of the job's output."""
    truncated: bool


class JobStopResponse(Model):
    job_id: str
    stopped: bool
    """False when the job had already ended."""


class NotebookParameter(Model):
    name: str
    type: str
    """int, float, bool, str, list, dict, or any (from the annotation or the default)."""
    default: str
    """The default as written in the parameters cell."""
    help: str = ""


class NotebookParametersResponse(Model):
    path: str
    parameters: list[NotebookParameter]


class RunNotebookRequest(Model):
    path: str = Field(min_length=1)
    """Notebook path relative to the server's root directory."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Values by name; strings are read as the CLI's ``-p`` reads them ("200" for an int)."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds each cell may run; none means no limit."""


RunState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class NotebookRun(Model):
    id: str
    path: str
    parameters: dict[str, Any]
    state: RunState
    started: float
    finished: float | None = None
    output: str | None = None
    """Executed notebook (relative to the server's root directory when inside it)."""
    mlflow_run_id: str | None = None
    """The MLflow run that records the job."""
    error: str | None = None


class NotebookRunsResponse(Model):
    runs: list[NotebookRun]


class NotebookJob(Model):
    """A notebook job however it was started, from its executed notebook (or, while a
    "Run as job…" run waits for its kernel, from the server's queue)."""

    id: str
    notebook: str
    """Source notebook, relative to the server's root directory when inside it."""
    parameters: dict[str, Any]
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "stopped"]
    started: float | None = None
    finished: float | None = None
    cells: int = 0
    cells_done: int = 0
    running_cell: int | None = None
    """1-based position of the cell that runs now."""
    output: str | None = None
    """Executed notebook relative to the root directory, when Jupyter can open it."""
    output_note: str | None = None
    """Why the executed notebook cannot be opened from the browser (and what to do)."""
    error: str | None = None
    cancellable: bool = False
    cancel_note: str | None = None
    """Why a running job cannot be cancelled from here."""
    schedule: str | None = None
    """The schedule that started the job (its pod ran it in Kubernetes)."""
    mlflow_run_id: str | None = None
    mlflow_url: str | None = None
    """The job's run in the MLflow UI, when one is configured."""


class NotebookJobsResponse(Model):
    folder: str
    """Where executed notebooks are kept ([notebooks] output_dir)."""
    jobs: list[NotebookJob]
    tracking_note: str | None = None
    """Why jobs recorded only in MLflow (a schedule's) could not be listed."""


class Operation(Model):
    """A long operation (a data commit, a feature materialization) and how far it got."""

    operation: str
    label: str
    done: int
    total: int | None
    unit: str
    state: Literal["running", "succeeded", "failed", "stopped"]
    started: float
    elapsed: float
    """Seconds so far (to its end once it ended)."""
    fraction: float | None
    """Share done, when its total is known."""
    error: str = ""


class OperationsResponse(Model):
    operations: list[Operation]
    """Newest first: the running ones and the last ones that ended."""


class NotebookJobCancelResponse(Model):
    id: str
    message: str


class ScheduleRequest(Model):
    path: str = Field(min_length=1)
    """Notebook path relative to the server's root directory."""
    cron: str = Field(min_length=1)
    """Five cron fields or a macro (@daily)."""
    image: str = ""
    """Image with mlops-lab installed; empty means [kubernetes] image."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    name: str = ""
    """Schedule name; empty means one made from the notebook's file name."""
    timeout: float | None = Field(default=None, gt=0)
    dry_run: bool = False
    """Check everything and answer the manifests as YAML; create nothing."""


class ScheduleResponse(Model):
    name: str
    namespace: str
    cron: str
    image: str
    created: bool
    yaml: str = ""
    """The manifests (dry runs only)."""


class EndpointVersion(Model):
    variant: Literal["stable", "canary"]
    model: str
    version: str
    weight: int
    """Percent of requests it answers."""
    gate: str
    """Validation verdict: passed, failed or none."""
    rate_per_s: float
    error_rate: float
    p50_ms: float | None = None
    p99_ms: float | None = None


class Endpoint(Model):
    endpoint: str
    state: str
    """serving, stopped or down."""
    url: str
    revision: int | None = None
    action: str = ""
    """What made the current revision (deploy, canary, promote, rollback...)."""
    note: str = ""
    detail: str = ""
    can_rollback: bool = False
    """A canary to drop or a previous stable to return to."""
    versions: list[EndpointVersion]

    @classmethod
    def of(cls, status: EndpointStatus) -> Endpoint:
        revision = status.revision
        return cls(
            endpoint=status.endpoint,
            state=status.state,
            url=status.url,
            revision=revision.number if revision else None,
            action=revision.action if revision else "",
            note=revision.note if revision else "",
            detail=status.detail,
            can_rollback=bool(revision and (revision.canary or revision.previous)),
            versions=[EndpointVersion(**row) for row in status.traffic()],
        )


class EndpointsResponse(Model):
    endpoints: list[Endpoint]


class DeployRequest(Model):
    model: str = Field(min_length=1)
    """A registered version: NAME/VERSION or NAME@ALIAS."""
    canary: int = Field(default=10, ge=0, le=100)
    """Percent of requests for the new version beside the stable one."""


class WeightRequest(Model):
    weight: int = Field(ge=0, le=100)
    """Percent of requests for the canary."""


class ChangeResponse(Model):
    endpoint: str
    revision: int
    action: str
    traffic: str
    """The split after the change, e.g. "fraud/1 90% / fraud/2 10% canary"."""
    message: str
    """One line saying what changed."""

    @classmethod
    def of(cls, revision: Revision) -> ChangeResponse:
        return cls(
            endpoint=revision.endpoint,
            revision=revision.number,
            action=revision.action,
            traffic=revision.split(),
            message=str(revision),
        )


class DriftSummary(Model):
    title: str
    share: float
    """Share of tested columns that drifted."""
    drifted: list[str]
    columns: int
    """How many columns were tested."""

    @classmethod
    def of(cls, comparison: Comparison | None) -> DriftSummary | None:
        if comparison is None:
            return None
        return cls(
            title=comparison.title,
            share=comparison.share,
            drifted=comparison.drifted_columns,
            columns=len(comparison.columns),
        )


class CanaryDriftResponse(Model):
    endpoint: str
    window: str
    stable: str
    canary: str
    canary_rows: int
    stable_rows: int
    share: float
    """The larger share of drifted input columns (vs training, vs stable)."""
    summary: str
    """One line: inputs and predictions drifted vs training and vs stable."""
    inputs_vs_training: DriftSummary | None = None
    inputs_vs_stable: DriftSummary | None = None
    predictions_vs_training: DriftSummary | None = None
    """The canary's predictions against what its version predicted on its training data."""
    predictions_vs_stable: DriftSummary | None = None
    notes: list[str] = Field(default_factory=list)
    rolled_back: ChangeResponse | None = None
    """The rollback the [serving] rollback_on_drift policy made."""

    @classmethod
    def of(cls, drift: CanaryDrift) -> CanaryDriftResponse:
        return cls(
            endpoint=drift.endpoint,
            window=drift.window,
            stable=drift.stable,
            canary=drift.canary,
            canary_rows=drift.canary_rows,
            stable_rows=drift.stable_rows,
            share=drift.share,
            summary=drift.summary(),
            inputs_vs_training=DriftSummary.of(drift.inputs_vs_training),
            inputs_vs_stable=DriftSummary.of(drift.inputs_vs_stable),
            predictions_vs_training=DriftSummary.of(drift.predictions_vs_training),
            predictions_vs_stable=DriftSummary.of(drift.predictions_vs_stable),
            notes=drift.notes,
            rolled_back=ChangeResponse.of(drift.rolled_back) if drift.rolled_back else None,
        )
