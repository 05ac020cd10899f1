"""mlops-lab: the model lifecycle from JupyterLab, and the same notebook as the production job.

``import mlops_lab`` and ``%load_ext mlops_lab`` stay light: MLflow, Feast, Ray, lakeFS,
Kubernetes and papermill are imported on first use.
"""

from __future__ import annotations

from typing import Any

from mlops_lab.errors import LabError
from mlops_lab.lab import Lab, connect

__version__ = "0.1.0"
__all__ = ["Lab", "LabError", "__version__", "connect"]


def load_ipython_extension(ipython: Any) -> None:
    from mlops_lab.magics import load
    from mlops_lab.notices import quiet_kernel

    load(ipython)
    quiet_kernel()


def unload_ipython_extension(ipython: Any) -> None:
    from mlops_lab.magics import unload

    unload(ipython)
