"""Endpoints widget: per endpoint the versions with weights, live request rate, error rate,
p50/p99 and the gate verdict, and buttons to Deploy, Set weight, Promote and Rollback.
Beside a canary, its input and prediction drift over the last hour of requests (against its
training data and against the stable version), computed at each refresh.

Each button asks for confirmation; the change runs in a background thread with every
button disabled until it ends, and its result (or error) shows as one line. Everything
goes through ``lab.serving``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_lab.errors import LabError

if TYPE_CHECKING:
    from mlops_lab.lab import Lab
    from mlops_lab.services.drift import CanaryDrift
    from mlops_lab.services.endpoint_state import EndpointStatus


class EndpointsWidget:
    """``EndpointsWidget(lab).widget`` is the ipywidgets box to display."""

    def __init__(self, lab: Lab, endpoint: str | None = None, window: str = "1h") -> None:
        import ipywidgets as w

        self.lab = lab
        self.window = window
        self.statuses: list[EndpointStatus] = []
        self.pending: tuple[str, Callable[[], Any]] | None = None
        self.worker: threading.Thread | None = None
        self.endpoint = w.Dropdown(description="endpoint", options=[])
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.table = w.HTML()
        self.drift = w.HTML()
        self.version = w.Dropdown(description="version", options=[])
        self.canary = w.BoundedIntText(value=10, min=0, max=100, description="canary %")
        self.deploy_button = w.Button(description="Deploy", button_style="primary")
        self.weight = w.BoundedIntText(value=50, min=0, max=100, description="weight %")
        self.weight_button = w.Button(description="Set weight")
        self.promote_button = w.Button(description="Promote", button_style="success")
        self.rollback_button = w.Button(description="Rollback", button_style="warning")
        self.confirm_text = w.HTML()
        self.confirm_button = w.Button(description="Confirm", button_style="danger")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.HBox([self.confirm_text, self.confirm_button, self.cancel_button])
        self.confirm_box.layout.display = "none"
        self.message = w.HTML()
        self.buttons = [
            self.deploy_button,
            self.weight_button,
            self.promote_button,
            self.rollback_button,
            self.confirm_button,
            self.refresh_button,
        ]
        self.widget = w.VBox(
            [
                w.HBox([self.endpoint, self.refresh_button]),
                self.table,
                self.drift,
                w.HBox([self.version, self.canary, self.deploy_button]),
                w.HBox(
                    [self.weight, self.weight_button, self.promote_button, self.rollback_button]
                ),
                self.confirm_box,
                self.message,
            ]
        )
        self.endpoint.observe(lambda change: self.show(change["new"]), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.deploy_button.on_click(lambda _: self.ask_deploy())
        self.weight_button.on_click(lambda _: self.ask_weight())
        self.promote_button.on_click(lambda _: self.ask_promote())
        self.rollback_button.on_click(lambda _: self.ask_rollback())
        self.confirm_button.on_click(lambda _: self.confirm())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.refresh(select=endpoint)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- reading -------------------------------------------------------------------------

    def refresh(self, select: str | None = None) -> None:
        try:
            self.statuses = self.lab.serving.endpoints()
        except LabError as exc:
            self._error(exc)
            return
        names = [s.endpoint for s in self.statuses]
        current = select or self.endpoint.value
        self.endpoint.options = names
        if current in names:
            self.endpoint.value = current
        elif names:
            self.endpoint.value = names[0]
        if self.endpoint.value:
            self.show(self.endpoint.value)
        else:
            self.table.value = "<em>No endpoints yet; %mlops deploy MODEL@ALIAS</em>"

    def show(self, name: str | None) -> None:
        status = next((s for s in self.statuses if s.endpoint == name), None)
        if status is None:
            return
        self.table.value = _status_html(status)
        rev = status.revision
        model = rev.stable["model"] if rev and rev.stable else None
        if model:
            try:
                versions = self.lab.models.versions(model)
            except LabError as exc:
                self._error(exc)
                return
            self.version.options = [
                (f"{v.ref} {' '.join('@' + a for a in v.aliases)}".strip(), v.ref) for v in versions
            ]
        if rev and rev.canary is not None:
            self.weight.value = rev.canary_weight
        self.drift.value = self._drift_html(status) if rev and rev.canary is not None else ""

    def _drift_html(self, status: EndpointStatus) -> str:
        try:
            drift = self.lab.serving.canary_drift(status.endpoint, self.window)
        except LabError as exc:
            return f"<div style='color:#57606a'>canary drift: {html.escape(str(exc))}</div>"
        if drift.rolled_back is not None:
            self._error(f"rolled back: {drift.rolled_back.note}")
        return _canary_drift_html(drift)

    # --- actions (also called by tests) ---------------------------------------------------

    def ask_deploy(self) -> None:
        endpoint, ref, weight = self.endpoint.value, self.version.value, int(self.canary.value)
        if not endpoint or not ref:
            self._error("choose an endpoint and a version first")
            return
        self._ask(
            f"Deploy <b>{html.escape(ref)}</b> to <b>{html.escape(endpoint)}</b> as a "
            f"{weight}% canary?",
            lambda: self.lab.serving.deploy(ref, endpoint=endpoint, canary=weight),
        )

    def ask_weight(self) -> None:
        endpoint, weight = self.endpoint.value, int(self.weight.value)
        self._ask(
            f"Send <b>{weight}%</b> of <b>{html.escape(endpoint or '')}</b> to the canary?",
            lambda: self.lab.serving.set_weight(endpoint, weight),
        )

    def ask_promote(self) -> None:
        endpoint = self.endpoint.value
        self._ask(
            f"Promote the canary of <b>{html.escape(endpoint or '')}</b> to stable and @champion?",
            lambda: self.lab.serving.promote(endpoint),
        )

    def ask_rollback(self) -> None:
        endpoint = self.endpoint.value
        self._ask(
            f"Roll <b>{html.escape(endpoint or '')}</b> back to its previous stable version?",
            lambda: self.lab.serving.rollback(endpoint),
        )

    def confirm(self) -> None:
        if self.pending is None or self.busy:
            return
        _, change = self.pending
        self.cancel()
        self._set_busy(True)
        self.message.value = "<em>applying…</em>"
        self.worker = threading.Thread(target=self._run, args=(change,), daemon=True)
        self.worker.start()

    def cancel(self) -> None:
        self.pending = None
        self.confirm_box.layout.display = "none"
        self.confirm_text.value = ""

    def wait(self, timeout: float | None = None) -> None:
        """Block until the change in flight (if any) ends."""
        if self.worker is not None:
            self.worker.join(timeout)

    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    # --- helpers ---------------------------------------------------------------------------

    def _ask(self, question: str, change: Callable[[], Any]) -> None:
        if self.busy:
            return
        self.pending = (question, change)
        self.confirm_text.value = question
        self.confirm_box.layout.display = "flex"

    def _run(self, change: Callable[[], Any]) -> None:
        try:
            result = change()
        except LabError as exc:
            self._error(exc)
        except Exception as exc:  # a widget must not lose the line that says what failed
            self._error(f"{type(exc).__name__}: {exc}")
        else:
            self._info(str(result))
        finally:
            self._set_busy(False)
            self.refresh()

    def _set_busy(self, busy: bool) -> None:
        for button in self.buttons:
            button.disabled = busy

    def _error(self, error: LabError | str) -> None:
        self.message.value = f'<span style="color:#cf222e">{html.escape(str(error))}</span>'

    def _info(self, text: str) -> None:
        self.message.value = f'<span style="color:#1a7f37">{html.escape(text)}</span>'


def _status_html(status: EndpointStatus) -> str:
    header = (
        f"<b>{html.escape(status.endpoint)}</b> {html.escape(status.state)}"
        + (f" r{status.revision.number}" if status.revision else "")
        + (f" <code>{html.escape(status.url)}/invocations</code>" if status.url else "")
    )
    rows = []
    for item in status.traffic():
        p50, p99 = item["p50_ms"], item["p99_ms"]
        gate = item["gate"]
        colour = {"passed": "#1a7f37", "failed": "#cf222e"}.get(gate, "#57606a")
        rows.append(
            "<tr>"
            f"<td>{html.escape(item['variant'])}</td>"
            f"<td>{html.escape(item['model'])}/{html.escape(item['version'])}</td>"
            f"<td>{_bar(item['weight'])} {item['weight']}%</td>"
            f"<td style='color:{colour}'>{html.escape(gate)}</td>"
            f"<td>{item['rate_per_s']:.1f}/s</td>"
            f"<td>{item['error_rate']:.1%}</td>"
            f"<td>{'' if p50 is None else f'{p50:.1f}'}</td>"
            f"<td>{'' if p99 is None else f'{p99:.1f}'}</td>"
            "</tr>"
        )
    detail = (
        f"<div style='color:#57606a'>{html.escape(status.detail)}</div>" if status.detail else ""
    )
    return (
        f"<div>{header}</div>{detail}<table style='font-size:90%'><thead><tr>"
        "<th>variant</th><th>version</th><th>weight</th><th>gate</th><th>rate</th>"
        "<th>errors</th><th>p50 ms</th><th>p99 ms</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _canary_drift_html(drift: CanaryDrift) -> str:
    """One line beside the canary (share of drifted columns, coloured), the details on
    hover, and the reports folded below."""
    colour = "#cf222e" if drift.share >= 0.5 else "#9a6700" if drift.share > 0 else "#1a7f37"
    line = (
        f"<div class='mlops-canary-drift' title='{html.escape(' '.join(drift.notes))}'>"
        f"<b>canary {html.escape(drift.canary)} drift</b> (last {html.escape(drift.window)}, "
        f"{drift.canary_rows} requests): <span style='color:{colour}'>"
        f"{html.escape(drift.summary())}</span></div>"
    )
    reports = "".join(
        f"<details><summary>{html.escape(c.title)}</summary>{c._repr_html_()}</details>"
        for c in (
            drift.inputs_vs_training,
            drift.inputs_vs_stable,
            drift.predictions_vs_training,
            drift.predictions_vs_stable,
        )
        if c is not None
    )
    return line + reports


def _bar(weight: int) -> str:
    return (
        "<span style='display:inline-block;width:60px;height:8px;background:#d0d7de'>"
        f"<span style='display:block;width:{weight * 0.6:.0f}px;height:8px;background:#0969da'>"
        "</span></span>"
    )
