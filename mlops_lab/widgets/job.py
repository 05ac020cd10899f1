"""Live monitor of a training job: state, elapsed time, reported metrics, a Stop button, and
the job's logs streaming into a collapsible, bounded panel.

``wait=True`` (what `%%mlops train` does) polls in the cell, so a failure fails the cell;
interrupting the kernel stops the job. ``wait=False`` polls from a background thread and
returns at once; that is also how `%mlops jobs` reattaches to running jobs after a restart.
"""

from __future__ import annotations

import html
import threading
import time
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.training import base
from mlops_lab.errors import LabError

if TYPE_CHECKING:
    from mlops_lab.services.training import Job

MAX_LOG_LINES = 200
COLORS = {
    base.PENDING: "#8a6d00", base.RUNNING: "#0969da", base.SUCCEEDED: "#1a7f37",
    base.FAILED: "#cf222e", base.STOPPED: "#6e7781",
}


def summary(job: Job, status: base.JobStatus, metrics: list[dict[str, Any]]) -> str:
    """One text line: id, state (and failure), elapsed, last metrics."""
    state = status.state if not status.failure else f"{status.state} ({status.failure})"
    last = metrics[-1] if metrics else {}
    shown = " ".join(f"{k}={_num(v)}" for k, v in last.items())
    return f"{job.id}: {state}, {job.elapsed():.0f} s" + (f", {shown}" if shown else "")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class JobMonitor:
    """The widget; ``run()`` follows the job to its end."""

    def __init__(self, job: Job, wait: bool = False, poll: float = 1.0) -> None:
        import ipywidgets as w

        self.job = job
        self.poll = poll
        self.lines: list[str] = []
        self.dropped = 0
        self.metrics: list[dict[str, Any]] = []
        self.status: base.JobStatus | None = None
        self.error = ""
        self.header = w.HTML()
        self.stop_button = w.Button(
            description="Stop", icon="stop", button_style="danger",
            tooltip="Stop the job" + (" (while the cell runs: interrupt the kernel)" if wait else ""),
            layout=w.Layout(width="90px"),
        )
        self.stop_button.on_click(self._on_stop)
        self.output = w.Output(layout=w.Layout(max_height="320px", overflow="auto"))
        self.panel = w.Accordion(children=[self.output], selected_index=0)
        self.panel.set_title(0, "logs")
        self.widget = w.VBox([w.HBox([self.header, self.stop_button]), self.panel])
        self._thread: threading.Thread | None = None
        self._render()

    # -- display -----------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The widget where a front end renders widgets; one summary line elsewhere
        # (terminals, papermill's log, nbconvert).
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        if self.status is None:
            return f"{self.job.id}: submitted to {self.job.backend.kind} {self.job.backend.target}"
        return summary(self.job, self.status, self.metrics)

    def _render(self) -> None:
        status = self.status
        state = status.state if status else "submitting"
        color = COLORS.get(state, "#6e7781")
        failure = ""
        if status and status.failure:
            failure = (f' <span style="color:{color}">{html.escape(status.failure)}: '
                       f"{html.escape(' '.join(status.reason.split())[:240])}</span>")
        last = self.metrics[-1] if self.metrics else {}
        metrics = " ".join(f"<code>{html.escape(k)}={html.escape(_num(v))}</code>"
                           for k, v in last.items())
        error = f' <span style="color:#cf222e">{html.escape(self.error)}</span>' if self.error else ""
        self.header.value = (
            f'<b>{html.escape(self.job.name)}</b> <code>{html.escape(self.job.id)}</code> '
            f'<span style="background:{color};color:white;padding:1px 6px;border-radius:3px">'
            f"{state}</span> {self.job.elapsed():.0f} s on {html.escape(self.job.backend.kind)}"
            f"{failure} {metrics}{error}"
        )
        self.stop_button.disabled = bool(status and status.done)

    def _on_stop(self, _button: Any = None) -> None:
        try:
            self.job.stop()
            self.error = ""
        except LabError as exc:
            self.error = str(exc)
        self._render()

    # -- following ---------------------------------------------------------------------
    def update(self, status: base.JobStatus, new_text: str) -> None:
        self.status = status
        if new_text:
            fresh = new_text.splitlines()
            self.metrics.extend(base.parse_metrics(new_text))
            self.lines.extend(fresh)
            if len(self.lines) > MAX_LOG_LINES:
                self.dropped += len(self.lines) - MAX_LOG_LINES
                self.lines = self.lines[-MAX_LOG_LINES:]
            head = (f"... {self.dropped} earlier lines (%mlops logs {self.job.id})\n"
                    if self.dropped else "")
            self.output.outputs = (
                {"output_type": "stream", "name": "stdout",
                 "text": head + "\n".join(self.lines) + "\n"},
            )
        self._render()

    def _step(self, seen: int) -> int:
        status = self.job.refresh()
        text = self.job.logs()
        self.update(status, text[seen:])
        return len(text)

    def run(self) -> base.JobStatus:
        """Follow the job here until it ends; interrupting stops the job."""
        seen = 0
        try:
            while True:
                seen = self._step(seen)
                assert self.status is not None
                if self.status.done:
                    return self.status
                time.sleep(self.poll)
        except KeyboardInterrupt:
            self.job.stop()
            print(f"{self.job.id}: interrupted; the job was asked to stop")
            raise

    def start(self) -> JobMonitor:
        """Follow the job from a background thread (the cell returns at once)."""
        def loop() -> None:
            seen = 0
            while True:
                try:
                    seen = self._step(seen)
                except LabError as exc:
                    self.error = str(exc)
                    self._render()
                    return
                if self.status is not None and self.status.done:
                    return
                time.sleep(self.poll)

        self._thread = threading.Thread(target=loop, name=f"mlops-monitor-{self.job.id}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
