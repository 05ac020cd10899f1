"""Executing a notebook with papermill on the lab's engine (registered through papermill's
``papermill.engine`` entry point as "mlops", see engine.py), in a kernel given the job's
environment."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_lab.errors import ConfigError, require
from mlops_lab.jobenv import variable

ENGINE = "mlops"
"""The papermill engine name of ``mlops_lab.services.notebooks.engine.JobEngine``."""


def notebook_env(source: str) -> dict[str, str]:
    """What tells a kernel which notebook it runs: the lab's variable, and the one MLflow's
    own Jupyter context reads for its source tags."""
    return {variable("notebook_path"): source, "IPYNB_FILE": source}


def cancel_flag_of(output: Any) -> Path | None:
    """The file whose presence cancels the job writing ``output`` (before its next cell; the
    running cell is interrupted by whoever writes it)."""
    text = str(output or "")
    if not text.endswith(".ipynb") or "://" in text:
        return None
    path = Path(text)
    return path.with_name(f".{path.name}.cancel")


class CellFailed(Exception):
    """A cell of the executed notebook failed (its index in the source notebook)."""

    def __init__(self, cell: int, ename: str, evalue: str) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.cell = cell
        self.ename = ename
        self.evalue = evalue


def check_kernel(kernel: str) -> None:
    kernelspec = require("jupyter_client.kernelspec")
    try:
        kernelspec.KernelSpecManager().get_kernel_spec(kernel)
    except kernelspec.NoSuchKernel:
        raise ConfigError(
            f"Jupyter kernel '{kernel}' is not installed; reinstall mlops-lab (it ships the "
            "'mlops' kernel) or set [notebooks] kernel in mlops.toml (see jupyter kernelspec list)"
        ) from None


def execute(
    source: Path,
    out: Path,
    parameters: dict[str, Any],
    kernel: str,
    cwd: Path,
    timeout: float | None,
    env: dict[str, str],
    kernel_ready: Callable[[], None] | None = None,
) -> None:
    papermill = require("papermill")
    try:
        papermill.execute_notebook(
            str(source),
            str(out),
            parameters=parameters,
            engine_name=ENGINE,
            kernel_name=kernel,
            language="python",
            cwd=str(cwd),
            # nbclient's timeout trait takes whole seconds: 2.5 s waits 3 s.
            execution_timeout=math.ceil(timeout) if timeout is not None else None,
            progress_bar=False,
            kernel_env=env,
            kernel_ready=kernel_ready,
        )
    except papermill.PapermillExecutionError as exc:
        raise CellFailed(_source_index(out, exc.cell_index), exc.ename, str(exc.evalue)) from None


def _source_index(out: Path, index: int) -> int:
    """The failing cell's index in the source notebook: papermill's injected-parameters cell
    (and the error-marker cells it adds at the failure) are not in the source."""
    try:
        cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index
    source_index = 0
    executed = -1
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            if "injected-parameters" in tags:
                executed += 1
            continue
        executed += 1
        if executed == index:
            return source_index
        source_index += 1
    return index
