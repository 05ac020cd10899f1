"""Notebooks as jobs: papermill runs with the MLOps kernel."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab.errors import LabError, NotFoundError, UsageError, require

if TYPE_CHECKING:
    from mlops_lab.lab import Lab


class NotebookRunError(LabError):
    """The notebook ran and a cell failed; the output notebook was still written."""


class NotebookService:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def run(
        self,
        path: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Execute ``path`` with papermill; returns the executed notebook's path."""
        source = Path(path)
        if not source.is_file():
            raise NotFoundError(f"notebook {source} not found; check the path")
        if source.suffix != ".ipynb":
            raise UsageError(f"{source} is not a .ipynb notebook")
        config = self.lab.config
        out = Path(output) if output else config.resolve(config.notebooks.output_dir) / source.name
        out.parent.mkdir(parents=True, exist_ok=True)
        papermill = require("papermill")
        try:
            papermill.execute_notebook(
                str(source),
                str(out),
                parameters=dict(parameters or {}),
                kernel_name=config.notebooks.kernel,
                cwd=str(cwd or config.root),
                execution_timeout=timeout,
                progress_bar=False,
            )
        except papermill.PapermillExecutionError as exc:
            raise NotebookRunError(
                f"{source.name}: cell {exc.exec_count} failed: {exc.ename}: {exc.evalue} "
                f"(executed notebook kept at {out})",
                output=str(out),
                cell=exc.cell_index,
            ) from None
        return out
