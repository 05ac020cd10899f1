"""Progress of long operations (data commits, feature materialization).

An operation reports a :class:`Progress` to an optional callback (the notebook draws it as a
progress line with the time so far) and records it under ``.mlops/operations/`` as JSON,
where the side panel and ``recent()`` read what is running and what just ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

KEEP = 20  # finished records kept per project


@dataclass(frozen=True)
class Progress:
    """Where an operation is: ``done`` of ``total`` ``unit`` (``total`` None: not known)."""

    operation: str
    label: str
    done: int
    total: int | None
    unit: str
    started: float
    updated: float
    state: str = "running"  # running | succeeded | failed | stopped (its process ended)
    error: str = ""
    pid: int = 0
    host: str = ""

    @property
    def elapsed(self) -> float:
        end = self.updated if self.state != "running" else time.time()
        return max(0.0, end - self.started)

    @property
    def fraction(self) -> float | None:
        if self.state == "succeeded":
            return 1.0
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class Tracker:
    """Reports one operation: ``advance()`` as work is done, ``finish()`` at the end."""

    def __init__(
        self,
        root: Path,
        operation: str,
        label: str,
        total: int | None,
        unit: str,
        callback: ProgressCallback | None,
    ) -> None:
        now = time.time()
        self.current = Progress(
            operation, label, 0, total, unit, now, now, pid=os.getpid(), host=socket.gethostname()
        )
        self.callback = callback
        self.file = root / ".mlops" / "operations" / f"{os.getpid()}-{time.time_ns()}.json"
        self._report()

    def advance(self, done: int, label: str | None = None) -> None:
        self.current = replace(
            self.current, done=done, label=label or self.current.label, updated=time.time()
        )
        self._report()

    def finish(self, error: str = "", label: str | None = None) -> None:
        self.current = replace(
            self.current,
            state="failed" if error else "succeeded",
            error=error,
            label=label or self.current.label,
            done=self.current.done if error else (self.current.total or self.current.done),
            updated=time.time(),
        )
        self._report()
        _prune(self.file.parent)

    def _report(self) -> None:
        with contextlib.suppress(OSError):  # a read-only project still runs the operation
            self.file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.file.with_suffix(".tmp")
            partial.write_text(json.dumps(asdict(self.current)), encoding="utf-8")
            partial.replace(self.file)
        if self.callback is not None:
            self.callback(self.current)


@contextlib.contextmanager
def track(
    root: Path,
    operation: str,
    label: str,
    total: int | None = None,
    unit: str = "",
    callback: ProgressCallback | None = None,
) -> Iterator[Tracker]:
    """A :class:`Tracker` that finishes when the block ends (failed, with the error's first
    line, when it raises)."""
    tracker = Tracker(root, operation, label, total, unit, callback)
    try:
        yield tracker
    except BaseException as exc:
        tracker.finish(error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    if tracker.current.state == "running":
        tracker.finish()


def each(
    root: Path,
    operation: str,
    items: list[str],
    unit: str,
    callback: ProgressCallback | None,
    work: Callable[[str], object],
    finished: str,
) -> None:
    """``work(item)`` for each item in turn, reporting "OPERATION ITEM (k/n)" before each and
    ``finished`` at the end; another library's error becomes one line, "OPERATION failed:
    its first line"."""
    from mlops_lab.errors import BackendError, LabError

    with track(root, operation, operation, len(items), unit, callback) as tracker:
        for done, item in enumerate(items):
            tracker.advance(done, f"{operation} {item} ({done + 1}/{len(items)})")
            try:
                work(item)
            except LabError:
                raise
            except Exception as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise BackendError(f"{operation} failed: {reason}") from None
        tracker.finish(label=finished)


def recent(root: Path, limit: int = KEEP) -> list[Progress]:
    """The project's operations, newest first: running ones and the last ones that ended
    (one whose process on this machine is gone while it ran is ``stopped``)."""
    from mlops_lab.backends.probes import process_alive

    folder = root / ".mlops" / "operations"
    found = []
    here = socket.gethostname()
    for path in folder.glob("*.json") if folder.is_dir() else ():
        with contextlib.suppress(OSError, ValueError, TypeError):
            record = Progress(**json.loads(path.read_text(encoding="utf-8")))
            if record.state == "running" and record.host == here and not process_alive(record.pid):
                record = replace(record, state="stopped", error="its process ended mid-way")
            found.append(record)
    found.sort(key=lambda p: p.started, reverse=True)
    return found[:limit]


def _prune(folder: Path) -> None:
    ended = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in ended[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()
