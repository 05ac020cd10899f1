"""A long operation's progress in the notebook: one line with a bar and the time so far."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from mlops_lab import render

if TYPE_CHECKING:
    from mlops_lab.services.progress import Progress


class ProgressLine:
    """A progress callback (``lab.data.commit(..., progress=ProgressLine())``) drawn in the
    notebook as one line with a bar and the time so far, updated in place; in a kernel the
    time keeps counting every ``tick`` seconds while the backend works without reporting.
    Elsewhere (a terminal) each report prints one text line."""

    def __init__(self, tick: float = 1.0) -> None:
        self.tick = tick
        self.last: Progress | None = None
        self._handle: Any = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            self.last = progress
            self._draw()
        if progress.state != "running":
            self._stopped.set()
        elif self._ticker is None and _in_kernel():
            self._ticker = threading.Thread(target=self._count, daemon=True)
            self._ticker.start()

    def _count(self) -> None:
        while not self._stopped.wait(self.tick):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        if not _in_kernel():
            print(repr(self), flush=True)
            return
        from IPython.display import display

        bundle = {"text/html": self._repr_html_(), "text/plain": repr(self)}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _repr_html_(self) -> str:
        last = self.last
        if last is None:
            return ""
        return render.progress_line(last.label, last.fraction, last.elapsed, last.state, last.error)

    def __repr__(self) -> str:
        last = self.last
        if last is None:
            return "(not started)"
        share = f" {last.fraction * 100:.0f}%" if last.fraction is not None else ""
        reason = f" ({last.error})" if last.error else ""
        return f"{last.label}: {last.state}{share}, {render.duration(last.elapsed)}{reason}"


def _in_kernel() -> bool:
    """Whether a Jupyter kernel (a front end that updates outputs in place) runs this."""
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None
