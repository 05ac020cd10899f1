"""The typed client (extension/src/api.ts) mirrors the server's pydantic models field by
field, so a renamed or added field cannot drift between the two sides unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_lab.server import models

API_TS = Path(__file__).resolve().parents[2] / "extension" / "src" / "api.ts"

# TypeScript interface -> the pydantic model it mirrors
MIRRORS = {
    "IBackend": models.Backend,
    "IStatus": models.StatusResponse,
    "IBranch": models.Branch,
    "IBranches": models.BranchesResponse,
    "ICommit": models.Commit,
    "ILog": models.LogResponse,
    "IChange": models.Change,
    "IDiff": models.DiffResponse,
    "IRun": models.Run,
    "IRuns": models.RunsResponse,
    "IRegisteredModel": models.RegisteredModel,
    "IModels": models.ModelsResponse,
    "IModelVersion": models.ModelVersion,
    "IModelVersions": models.ModelVersionsResponse,
    "ILineageStep": models.LineageStep,
    "ILineage": models.LineageResponse,
    "IJob": models.Job,
    "IJobs": models.JobsResponse,
    "IJobLogs": models.JobLogsResponse,
    "IJobStop": models.JobStopResponse,
    "INotebookParameter": models.NotebookParameter,
    "INotebookParameters": models.NotebookParametersResponse,
    "IRunNotebookRequest": models.RunNotebookRequest,
    "INotebookRun": models.NotebookRun,
    "INotebookRuns": models.NotebookRunsResponse,
    "INotebookJob": models.NotebookJob,
    "INotebookJobs": models.NotebookJobsResponse,
    "INotebookJobCancel": models.NotebookJobCancelResponse,
    "IOperation": models.Operation,
    "IOperations": models.OperationsResponse,
    "IScheduleRequest": models.ScheduleRequest,
    "ISchedule": models.ScheduleResponse,
    "IEndpointVersion": models.EndpointVersion,
    "IEndpoint": models.Endpoint,
    "IEndpoints": models.EndpointsResponse,
    "IDeployRequest": models.DeployRequest,
    "IWeightRequest": models.WeightRequest,
    "IEndpointChange": models.ChangeResponse,
    "IDriftSummary": models.DriftSummary,
    "ICanaryDrift": models.CanaryDriftResponse,
    "IErrorBody": models.ErrorBody,
}


def _interfaces() -> dict[str, dict[str, bool]]:
    """interface name -> {field: optional} parsed from api.ts."""
    source = API_TS.read_text()
    found: dict[str, dict[str, bool]] = {}
    for match in re.finditer(r"export interface (\w+) \{(.*?)\n\}", source, re.S):
        body = re.sub(r"/\*.*?\*/", "", match.group(2), flags=re.S)
        fields = re.findall(r"^\s*(\w+)(\??):", body, re.M)
        found[match.group(1)] = {name: bool(mark) for name, mark in fields}
    return found


def test_every_model_of_the_api_has_its_interface() -> None:
    mirrored = set(MIRRORS.values())
    api_models = {
        m
        for m in vars(models).values()
        if isinstance(m, type) and issubclass(m, models.Model) and m is not models.Model
    }
    assert api_models - mirrored == {models.ErrorResponse}  # read inside requestAPI


@pytest.mark.parametrize(("interface", "model"), MIRRORS.items(), ids=list(MIRRORS))
def test_the_interface_has_the_models_fields(interface: str, model: type) -> None:
    fields = _interfaces()[interface]
    assert set(fields) == set(model.model_fields), interface  # type: ignore[attr-defined]
    for name, optional in fields.items():
        required = model.model_fields[name].is_required()  # type: ignore[attr-defined]
        if optional:
            assert not required, f"{interface}.{name} is optional in TS but required by the server"
