"""A papermill engine that records every way a cell can end a job in the output notebook.

papermill's own nbclient engine marks a cell failed only when it raised; when the kernel
dies (SIGKILL, out of memory) or a cell runs past the execution timeout, nbclient raises
past papermill and the written notebook does not say which cell it was. This engine
catches those too, writes an error output into the cell (so papermill's error markers and
``PapermillExecutionError`` name it), and starts the kernel with the job's environment.

Papermill finds it as the "mlops" engine through the ``papermill.engine`` entry point
(pyproject.toml), so this module is imported by papermill, never at ``import mlops_lab``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine
from traitlets import Any as AnyTrait
from traitlets import Dict

from mlops_lab.jobenv import variable
from mlops_lab.services.notebooks.execution import cancel_flag_of, notebook_env


class JobNotebookClient(PapermillNotebookClient):
    kernel_env = Dict(help="Variables added to the kernel's environment.").tag(config=True)
    kernel_ready = AnyTrait(
        None,
        allow_none=True,
        help="Called once the kernel is up, before the "
        "first cell; raising stops the job with no cell run.",
    ).tag(config=True)

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        if self.kernel_env:
            kwargs["env"] = {**os.environ, **self.kernel_env}
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    def create_kernel_manager(self) -> Any:
        """Talk to the kernel over Unix sockets in a private directory, not TCP ports that
        any local user could connect to."""
        import tempfile

        km = super().create_kernel_manager()
        self._ipc_dir = tempfile.mkdtemp(prefix="mlops-kernel-")
        km.transport = "ipc"
        km.ip = os.path.join(self._ipc_dir, "kernel")
        return km

    def execute(self, **kwargs: Any) -> Any:
        try:
            return self._execute(**kwargs)
        finally:
            if getattr(self, "_ipc_dir", None):
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def _execute(self, **kwargs: Any) -> Any:
        self.reset_execution_trackers()
        with self.setup_kernel(**kwargs):
            self.log.info(f"Executing notebook with kernel: {self.kernel_name}")
            if self.kernel_ready is not None:
                self.kernel_ready()
            self._record_job()
            alive = self.papermill_execute_cells()
            if alive:
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                if info_msg is not None:
                    self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            self.set_widgets_metadata()
        return self.nb

    def _record_job(self) -> None:
        """Write into the executed notebook (saved with the first cell's start) which kernel
        runs the job, so that a Jupyter server on this host can show and cancel it."""
        import socket

        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        self.nb.metadata["mlops"] = {
            "job_id": self.kernel_env.get(variable("job_id"), ""),
            "kernel_pid": pid,
            "host": socket.gethostname(),
        }

    def papermill_execute_cells(self) -> bool:
        """Run the cells in order, stop at the first that fails; False when the kernel is
        gone or stuck (no further request may be sent to it)."""
        cancel_flag = cancel_flag_of(self.nb_man.output_path)
        for index, cell in enumerate(self.nb.cells):
            if cancel_flag is not None and cancel_flag.exists():
                code = [c for c in self.nb.cells[index:] if c.get("cell_type") == "code"]
                if code:
                    _record(code[0], "JobCancelled", "the job was cancelled before this cell")
                    self.nb_man.cell_exception(code[0], cell_index=index, exception=None)
                    return True
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except CellExecutionError as ex:
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                return True
            except CellTimeoutError as ex:
                _record(
                    self.nb.cells[index],
                    "CellTimeoutError",
                    f"the cell ran past the execution timeout of {self.timeout} s",
                )
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                self.shutdown_kernel = "immediate"  # it is still busy: no graceful shutdown
                return False
            except DeadKernelError as ex:
                _record(
                    self.nb.cells[index],
                    "DeadKernelError",
                    "the kernel died while running this cell (killed, or out of memory)",
                )
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                return False
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
        return True


def _record(cell: Any, ename: str, evalue: str) -> None:
    if cell.get("cell_type") != "code":
        return
    cell.setdefault("outputs", []).append(
        nbformat.v4.new_output(
            "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
        )
    )


class JobEngine(NBClientEngine):
    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        kernel_env: dict[str, str] | None = None,
        kernel_ready: Any = None,
        **kwargs: Any,
    ) -> Any:
        env = dict(kernel_env or {})
        source = _local_path(kwargs.pop("input_path", None))
        if source and variable("notebook_path") not in env:
            # `papermill --engine mlops IN OUT` (a scheduler's operator, a cron line): the
            # kernel learns its notebook here, as it does under `mlops-lab run`.
            env.update(notebook_env(source))
        return JobNotebookClient(
            nb_man,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=_logger(),
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            kernel_env=env,
            kernel_ready=kernel_ready,
            **kwargs,
        ).execute()


def _local_path(path: Any) -> str | None:
    text = str(path or "")
    if not text.endswith(".ipynb") or "://" in text:
        return None
    return str(Path(text).expanduser().resolve())


def _logger() -> Any:
    from papermill.log import logger

    return logger
