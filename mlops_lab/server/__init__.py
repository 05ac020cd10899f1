"""Jupyter server extension: the REST API behind the JupyterLab "MLOps" side panel.

Enabled by ``jupyter-config/server-config/mlops_lab.json`` (installed with the wheel). The
handlers are thin: they parse a pydantic request, call the same services the magics use,
and answer a pydantic response. Nothing here is imported by ``import mlops_lab``.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from mlops_lab.server.app import MLOpsExtension

    return [{"module": "mlops_lab.server.app", "app": MLOpsExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "../labextension", "dest": "mlops-lab"}]
