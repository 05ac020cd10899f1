"""Notebooks as jobs: parameters, execution with papermill, the `lab.notebooks` service,
schedules (Kubernetes CronJobs) and pipelines of notebooks."""

from mlops_lab.services.notebooks.parameters import NotebookParameters, Parameter
from mlops_lab.services.notebooks.service import NotebookRun, NotebookRunError, NotebookService

__all__ = ["NotebookParameters", "NotebookRun", "NotebookRunError", "NotebookService", "Parameter"]
