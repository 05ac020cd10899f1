"""Live monitor of a training job: where it is (starting head -> queued -> running epoch
k/N -> registering -> done) with a progress bar, a chart of the metrics it reports, its
logs folded with framework noise behind a toggle, and, once it ends, links to its MLflow
run and the Ray dashboard in place of Stop.

The monitor shows from the moment the cell starts (``JobMonitor(None, name=...)`` before the
job is submitted, ``attach(job)`` after), so starting a local Ray head is visible too; its
one duration runs from that moment to the end it observes.

``wait=True`` (what `%%mlops train` does) polls in the cell, so a failure fails the cell;
interrupting the kernel stops the job. ``wait=False`` polls from a background thread and
returns at once; that is also how `%mlops jobs` reattaches to running jobs after a restart.
"""

from __future__ import annotations

import html
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from mlops_lab import render
from mlops_lab.backends.training import base
from mlops_lab.display import ACTIVE, BAD, GOOD, MUTED, WARNING, Id
from mlops_lab.errors import LabError

if TYPE_CHECKING:
    from mlops_lab.services.training import Job

MAX_LOG_LINES = 400
COLORS = {
    base.PENDING: WARNING,
    base.RUNNING: ACTIVE,
    base.SUCCEEDED: GOOD,
    base.FAILED: BAD,
    base.STOPPED: MUTED,
}
STEPS = ("starting head", "queued", "running", "registering", "done")
STARTING, QUEUED, RUNNING, REGISTERING, DONE = range(len(STEPS))

ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
RUN_RE = re.compile(r"\[mlops\] run (\S+)")
EPOCHS_RE = re.compile(r"\[mlops\] epochs (\d+)")
# Lines a user cannot act on: Ray/MLflow/torch warnings, Ray's C++ logging, Ray Train's
# checkpoint and status chatter, and our own end-of-script timing (the monitor's duration
# is the one the user reads).
NOISE_RE = re.compile(
    r"[Dd]eprecat|warnings\.warn\(|\w+Warning: |core_worker|\w+\.cc:\d+:|[Cc]heckpoint|"
    r"Training (started|finished|result)|View detailed results|Wrapping provided model|"
    r"Started distributed worker|Setting up process group|Moving model to device|"
    r"\[mlops\] done in|\[mlops\] epochs \d+|^\s*\^+\s*$|^\s*$"
)


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes."""
    return ANSI_RE.sub("", text)


def split_noise(lines: list[str]) -> tuple[list[str], int]:
    """The lines worth reading, and how many framework lines were left out (noise, and
    metrics lines Ray echoed a second time)."""
    kept: list[str] = []
    seen_metrics: set[str] = set()
    hidden = 0
    for text in lines:
        match = base.METRICS_RE.search(text)
        if match:
            if match.group(1) in seen_metrics:
                hidden += 1
                continue
            seen_metrics.add(match.group(1))
        elif NOISE_RE.search(text):
            hidden += 1
            continue
        kept.append(text)
    return kept, hidden


def summary(
    job: Job, status: base.JobStatus, metrics: list[dict[str, Any]], seconds: float | None = None
) -> str:
    """One text line: id, state (and failure), duration, last metrics."""
    state = status.state if not status.failure else f"{status.state} ({status.failure})"
    last = metrics[-1] if metrics else {}
    shown = " ".join(f"{k}={_num(v)}" for k, v in last.items())
    took = job.elapsed() if seconds is None else seconds
    return f"{job.id}: {state}, {took:.0f} s" + (f", {shown}" if shown else "")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class JobMonitor:
    """The widget; ``run()`` follows the job to its end."""

    def __init__(
        self,
        job: Job | None,
        wait: bool = False,
        poll: float = 1.0,
        name: str = "",
        tracking_ui: str = "",
    ) -> None:
        import ipywidgets as w

        self.job = job
        self.name = name or (job.name if job else "training job")
        self.poll = poll
        self.tracking_ui = tracking_ui.rstrip("/")
        self.started_at = job.submitted_at if job else time.time()
        self.ended_at: float | None = None
        self.lines: list[str] = []
        self.dropped = 0
        self.metrics: list[dict[str, Any]] = []
        self.epochs: int | None = None
        self.run_id = ""
        self.registering = False
        self.status: base.JobStatus | None = None
        self.error = ""
        self.header = w.HTML()
        self.progress = w.HTML()
        self.chart = w.HTML()
        self.links = w.HTML()
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            button_style="danger",
            tooltip="Stop the job"
            + (" (while the cell runs: interrupt the kernel)" if wait else ""),
            layout=w.Layout(width="90px"),
        )
        self.stop_button.on_click(self._on_stop)
        self.show_noise = w.Checkbox(value=False, description="framework output", indent=False)
        self.show_noise.observe(lambda _change: self._render_logs(), names="value")
        self.log_box = w.HTML()
        self.panel = w.Accordion(children=[w.VBox([self.show_noise, self.log_box])])
        self.panel.set_title(0, "logs")
        self.panel.selected_index = None
        self.widget = w.VBox(
            [
                w.HBox([self.header, self.stop_button, self.links]),
                self.progress,
                self.chart,
                self.panel,
            ]
        )
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
        if self.job is None:
            return f"{self.name}: {STEPS[STARTING]}"
        if self.status is None:
            return f"{self.job.id}: submitted to {self.job.backend.kind} {self.job.backend.target}"
        return summary(self.job, self.status, self.metrics, self.duration())

    def duration(self) -> float:
        """Seconds from the cell start (or the job's submission) to the end seen, or now."""
        return max(0.0, (self.ended_at or time.time()) - self.started_at)

    def step(self) -> int:
        """Index in STEPS of where the job is (the step it failed at when it failed)."""
        status = self.status
        if self.job is None or (status is None and not self.error):
            return STARTING
        if status is None or status.state == base.PENDING:
            return QUEUED
        if status.state == base.SUCCEEDED:
            return DONE
        if self.registering:
            return REGISTERING
        return RUNNING if self.run_id or status.state == base.RUNNING else QUEUED

    def step_label(self) -> str:
        step = self.step()
        if step != RUNNING or not self.metrics or "epoch" not in self.metrics[-1]:
            return STEPS[step]
        epoch = self.metrics[-1]["epoch"]
        shown = int(epoch) + 1 if isinstance(epoch, int | float) else epoch
        return f"running epoch {shown}" + (f"/{self.epochs}" if self.epochs else "")

    def fraction(self) -> float | None:
        step = self.step()
        if step == DONE:
            return 1.0
        epoch = self.metrics[-1].get("epoch") if self.metrics else None
        if step == RUNNING and self.epochs and isinstance(epoch, int | float):
            return (int(epoch) + 1) / self.epochs
        return None

    def _render(self) -> None:
        status = self.status
        state = status.state if status else ("failed" if self.error else "starting")
        colour = COLORS.get(state, MUTED)
        failure = ""
        if status and status.failure:
            failure = (
                f' <span style="color:{colour}">{html.escape(status.failure)}: '
                f"{html.escape(' '.join(status.reason.split())[:240])}</span>"
            )
        error = f' <span style="color:{BAD}">{html.escape(self.error)}</span>' if self.error else ""
        ident = Id(self.job.id, keep=24).html() if self.job else ""
        where = f" on {html.escape(self.job.backend.kind)}" if self.job else ""
        self.header.value = (
            f"<b>{html.escape(self.name)}</b> {ident} "
            f'<span style="background:{colour};color:white;padding:1px 6px;border-radius:3px">'
            f"{state}</span> "
            f'<span title="from the cell start to the end of the job">'
            f"{self.duration():.0f} s</span>{where}{failure}{error}"
        )
        ended = bool(status and status.done) or (self.job is None and bool(self.error))
        step = self.step()
        names = list(STEPS)
        names[RUNNING] = self.step_label() if step == RUNNING else names[RUNNING]
        shown_step = len(STEPS) if step == DONE else step
        self.progress.value = render.steps(names, shown_step, failed=ended and step != DONE)
        if not ended:
            self.progress.value += render.progress_bar(self.fraction())
        self.chart.value = render.metric_charts(self.metrics, skip=("epochs",))
        self.stop_button.disabled = ended or self.job is None
        self.stop_button.layout.display = "none" if ended else None
        self.links.value = self._links() if ended else ""

    def _links(self) -> str:
        links = []
        if self.run_id:
            if self.tracking_ui:
                href = f"{self.tracking_ui}/#/runs/{self.run_id}"
                links.append(f'<a href="{html.escape(href)}" target="_blank">MLflow run</a>')
            else:
                links.append(f"MLflow run {Id(self.run_id).html()}")
        target = self.job.backend.target if self.job else ""
        if self.job and target.startswith(("http://", "https://")):
            href = f"{target.rstrip('/')}/#/jobs/{self.job.id}"
            links.append(f'<a href="{html.escape(href)}" target="_blank">Ray dashboard</a>')
        return " &middot; ".join(links)

    def _render_logs(self) -> None:
        if self.show_noise.value:
            lines, hidden = self.lines, 0
        else:
            lines, hidden = split_noise(self.lines)
        head = (
            [f"... {self.dropped} earlier lines (%mlops logs {self.job.id})"]
            if self.dropped and self.job
            else []
        )
        self.show_noise.description = (
            "framework output" if self.show_noise.value else f"framework output ({hidden} lines)"
        )
        text = html.escape("\n".join(head + lines))
        # column-reverse keeps the box scrolled to its newest line as lines arrive.
        self.log_box.value = (
            '<div style="display:flex;flex-direction:column-reverse;max-height:320px;'
            f'overflow:auto"><pre style="margin:0;font-size:85%">{text}</pre></div>'
        )
        self.panel.set_title(0, f"logs ({len(lines)} lines)")

    def _on_stop(self, _button: Any = None) -> None:
        if self.job is None:
            return
        try:
            self.job.stop()
            self.error = ""
        except LabError as exc:
            self.error = str(exc)
        self._render()

    # -- following ---------------------------------------------------------------------
    def attach(self, job: Job) -> JobMonitor:
        """The job the monitor follows, once submitted."""
        self.job = job
        self.name = job.name
        self._render()
        return self

    def fail(self, message: str) -> None:
        """Show that the job never started (submission or head start failed)."""
        self.error = message
        self.ended_at = time.time()
        self._render()

    def update(self, status: base.JobStatus, new_text: str) -> None:
        self.status = status
        if status.done and self.ended_at is None:
            self.ended_at = time.time()
        if new_text:
            fresh = strip_ansi(new_text).splitlines()
            for text in fresh:
                self._read_marks(text)
            for reported in base.parse_metrics("\n".join(fresh)):
                if reported not in self.metrics[-3:]:  # Ray may echo a line across polls
                    self.metrics.append(reported)
            self.lines.extend(fresh)
            if len(self.lines) > MAX_LOG_LINES:
                self.dropped += len(self.lines) - MAX_LOG_LINES
                self.lines = self.lines[-MAX_LOG_LINES:]
            self._render_logs()
        self._render()

    def _read_marks(self, text: str) -> None:
        run = RUN_RE.search(text)
        if run:
            self.run_id = run.group(1)
        epochs = EPOCHS_RE.search(text)
        if epochs:
            self.epochs = int(epochs.group(1))
        if f"{base.MARK} registering" in text:
            self.registering = True

    def _job(self) -> Job:
        if self.job is None:
            raise LabError("the monitor has no job yet: attach(job) first")
        return self.job

    def run(self) -> base.JobStatus:
        """Follow the job here until it ends; interrupting stops the job."""
        job = self._job()
        try:
            return job.follow(self.update, self.poll)
        except KeyboardInterrupt:
            job.stop()
            print(f"{job.id}: interrupted; the job was asked to stop")
            raise

    def start(self) -> JobMonitor:
        """Follow the job from a background thread (the cell returns at once)."""
        job = self._job()

        def loop() -> None:
            try:
                job.follow(self.update, self.poll)
            except LabError as exc:
                self.error = str(exc)
                self._render()

        self._thread = threading.Thread(target=loop, name=f"mlops-monitor-{job.id}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
