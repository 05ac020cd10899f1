"""Notebook runs started from the panel: papermill in a worker thread, state kept in memory.

An HTTP request cannot wait for a notebook to finish, so "Run as job" queues the run here
and answers at once; the panel polls the run's state. The run itself is
``lab.notebooks.execute`` (the same call as ``mlops-lab run``). Its executed notebook's path
is chosen on submission, so a run still waiting for a worker or for its kernel can be
cancelled: a queued one never starts, and one whose kernel starts finds the cancel flag
before its first cell.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab.errors import LabError, NotFoundError, UsageError
from mlops_lab.services.notebooks.execution import cancel_flag_of

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

KEEP = 50
"""Finished runs remembered (the newest ones)."""


@dataclass
class RunRecord:
    id: str
    path: str
    parameters: dict[str, Any]
    target: Path
    """Where the executed notebook will be written."""
    started: float = field(default_factory=time.time)
    state: str = "queued"
    finished: float | None = None
    output: Path | None = None
    mlflow_run_id: str | None = None
    error: str | None = None
    cancel_requested: bool = False
    future: Future[None] | None = field(default=None, repr=False)


class NotebookRuns:
    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix="mlops-notebook")
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}

    def submit(
        self,
        lab: Lab,
        notebook: Path,
        display_path: str,
        parameters: dict[str, Any],
        timeout: float | None,
    ) -> RunRecord:
        """Queue ``lab.notebooks.execute`` for parameters already checked by the service."""
        target = lab.notebooks.default_output(notebook)
        record = RunRecord(uuid.uuid4().hex[:12], display_path, dict(parameters), target)
        with self._lock:
            self._runs[record.id] = record
            self._forget_old()
            record.future = self._executor.submit(self._execute, lab, record, notebook, timeout)
        return record

    def cancel(self, record: RunRecord) -> str:
        """Cancel a run that waits for a worker or for its kernel; what was done."""
        with self._lock:
            if record.finished is not None:
                raise UsageError(
                    f"notebook run {record.id} is {record.state}, not running; nothing to cancel"
                )
            record.cancel_requested = True
            if record.future is not None and record.future.cancel():
                record.state = "cancelled"
                record.finished = time.time()
                return f"cancelled {record.id}: it had not started"
        flag = cancel_flag_of(record.target)
        assert flag is not None
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("cancelled from the JupyterLab panel\n", encoding="utf-8")
        return f"cancelling {record.id}: it stops before its first cell"

    def _execute(self, lab: Lab, record: RunRecord, notebook: Path, timeout: float | None) -> None:
        with self._lock:
            if record.cancel_requested:  # cancelled as its worker took it
                record.state, record.finished = "cancelled", time.time()
                return
            record.state = "running"
        try:
            result = lab.notebooks.execute(
                notebook,
                record.parameters,
                output=record.target,
                timeout=timeout,
                cwd=notebook.parent,
                raise_on_failure=False,
            )
        except LabError as exc:
            record.error = str(exc)
            record.state = "failed"
        except Exception as exc:  # a run must end in a state the panel can show
            record.error = f"{type(exc).__name__}: {exc}"
            record.state = "failed"
        else:
            record.output = result.output
            record.mlflow_run_id = result.run_id
            record.error = result.error or None
            record.state = "succeeded" if result.ok else "failed"
            if record.cancel_requested and not result.ok:
                record.state = "cancelled"
        finally:
            record.finished = time.time()

    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            record = self._runs.get(run_id)
        if record is None:
            raise NotFoundError(
                f"no notebook run '{run_id}' on this server; list them with GET runs"
            )
        return record

    def list(self) -> list[RunRecord]:
        with self._lock:
            return sorted(self._runs.values(), key=lambda r: r.started, reverse=True)

    def _forget_old(self) -> None:
        finished = [r for r in self._runs.values() if r.finished is not None]
        finished.sort(key=lambda r: r.started)
        for record in finished[: max(0, len(finished) - KEEP)]:
            del self._runs[record.id]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
