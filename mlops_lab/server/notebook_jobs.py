"""Every notebook job of the project, whoever started it (``%mlops run``, ``mlops-lab run``, a
pipeline, "Run as job…"), read from the executed notebooks under ``[notebooks] output_dir``
and those written elsewhere with ``--output`` (noted in ``.mlops/notebook-outputs``).

papermill saves the executed notebook as each cell starts and ends, with each cell's state in
its metadata, so the file says how far a job got; the lab's engine adds which kernel runs it
(``metadata.mlops``), so a server on the same host can tell a running job from one whose
process died, and cancel it: a flag file stops it before its next cell, and SIGINT interrupts
the running cell.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_lab.backends.probes import process_alive
from mlops_lab.errors import NotFoundError, UsageError
from mlops_lab.jobenv import variable
from mlops_lab.services.notebooks.execution import cancel_flag_of

LISTED = 30
"""Newest executed notebooks listed."""
STALE_S = 3600.0
"""A notebook without a recorded kernel, unchanged this long and not finished, has stopped."""


@dataclass(frozen=True)
class NotebookJob:
    id: str
    """The executed notebook's file name without .ipynb (unique in the output folder)."""
    notebook: str
    """The source notebook (papermill's input path)."""
    output: Path
    parameters: dict[str, Any]
    state: str
    """running, succeeded, failed, cancelled or stopped (its process ended mid-run)."""
    started: float | None
    finished: float | None
    cells: int
    cells_done: int
    running_cell: int | None
    """1-based position of the running cell."""
    error: str | None
    kernel_pid: int | None
    host: str
    job_id: str


class NotebookJobs:
    """The jobs whose executed notebooks are in one folder (parsed files cached by mtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parsed: dict[Path, tuple[tuple[int, int], dict[str, Any] | None]] = {}

    def list(
        self, folder: Path, elsewhere: Iterable[Path] = (), limit: int = LISTED
    ) -> list[NotebookJob]:
        """The newest jobs of ``folder`` and of the executed notebooks ``elsewhere``."""
        found: list[tuple[float, Path]] = []
        paths = [
            path
            for path in [*folder.glob("*.ipynb"), *folder.glob("*/*.ipynb")]
            # .ipynb_checkpoints, cancel flags
            if not any(part.startswith(".") for part in path.relative_to(folder).parts)
        ]
        for path in dict.fromkeys([*paths, *elsewhere]):
            try:
                found.append((path.stat().st_mtime, path))
            except OSError:
                continue
        found.sort(reverse=True)
        jobs = [job for _, path in found[:limit] if (job := self.read(path)) is not None]
        jobs.sort(key=lambda j: j.started or 0.0, reverse=True)
        return jobs

    def find(self, folder: Path, job: str, elsewhere: Iterable[Path] = ()) -> NotebookJob:
        if job.startswith("."):
            raise NotFoundError(f"no notebook job '{job}' under {folder}; list them with GET jobs")
        named = [p for p in elsewhere if p.name == f"{job}.ipynb"]
        for path in (folder / f"{job}.ipynb", *folder.glob(f"*/{job}.ipynb"), *named):
            if path.is_file() and (found := self.read(path)) is not None:
                return found
        raise NotFoundError(f"no notebook job '{job}' under {folder}; list them with GET jobs")

    def read(self, path: Path) -> NotebookJob | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._parsed.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, _load(path))
            with self._lock:
                self._parsed[path] = cached
        notebook = cached[1]
        return _job(path, notebook, stat.st_mtime) if notebook is not None else None

    def cancel(self, job: NotebookJob) -> str:
        """Stop ``job`` before its next cell and interrupt the running one; what was done."""
        if job.state != "running":
            raise UsageError(
                f"notebook job {job.id} is {job.state}, not running; nothing to cancel"
            )
        flag = cancel_flag_of(job.output)
        assert flag is not None
        flag.write_text("cancelled from the JupyterLab panel\n", encoding="utf-8")
        if job.kernel_pid and job.host == socket.gethostname() and _runs_job(job):
            os.kill(job.kernel_pid, signal.SIGINT)
            return f"cancelling {job.id}: its running cell was interrupted"
        return f"cancelling {job.id}: it stops before its next cell"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # being written, or not a notebook
    if not isinstance(data, dict) or "papermill" not in data.get("metadata", {}):
        return None
    return data


def _job(path: Path, notebook: dict[str, Any], mtime: float) -> NotebookJob:
    meta = notebook.get("metadata", {})
    paper = meta.get("papermill", {})
    mine = meta.get("mlops", {})
    cells = [
        c
        for c in notebook.get("cells", [])
        if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
    ]
    statuses = [c.get("metadata", {}).get("papermill", {}).get("status") for c in cells]
    running = statuses.index("running") + 1 if "running" in statuses else None
    error = _error(cells)
    pid = mine.get("kernel_pid")
    host = str(mine.get("host", ""))
    finished = _time(paper.get("end_time"))
    cancelled = (flag := cancel_flag_of(path)) is not None and flag.exists()
    if finished is not None:
        failed = bool(paper.get("exception")) or error is not None
        state = ("cancelled" if cancelled else "failed") if failed else "succeeded"
    elif pid and host == socket.gethostname():
        state = "running" if process_alive(int(pid)) else "stopped"
    else:
        state = "running" if _now() - mtime < STALE_S else "stopped"
    return NotebookJob(
        id=path.stem,
        notebook=str(paper.get("input_path", "")),
        output=path,
        parameters=dict(paper.get("parameters") or {}),
        state=state,
        started=_time(paper.get("start_time")),
        finished=finished,
        cells=len(cells),
        cells_done=sum(s in ("completed", "failed") for s in statuses),
        running_cell=running if state == "running" else None,
        error=error,
        kernel_pid=int(pid) if pid else None,
        host=host,
        job_id=str(mine.get("job_id", "")),
    )


def _error(cells: list[dict[str, Any]]) -> str | None:
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return None


def _time(value: Any) -> float | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


def _runs_job(job: NotebookJob) -> bool:
    """The process is still this job's kernel (not a later process given the same pid)."""
    if not process_alive(job.kernel_pid or 0):
        return False
    try:
        environ = Path(f"/proc/{job.kernel_pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{variable('job_id')}={job.job_id}".encode() in environ.split(b"\0")
