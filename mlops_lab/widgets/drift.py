"""Drift widget: a model's drift over a window of its prediction log (or a DataFrame), with
a column picker and a time-window slider. Everything goes through ``lab.drift``; errors show
as one line."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from mlops_lab.errors import LabError

if TYPE_CHECKING:
    from mlops_lab.backends.drift import Comparison
    from mlops_lab.lab import Lab

WINDOWS = ("15m", "1h", "6h", "1d", "7d", "30d")


class DriftWidget:
    """``DriftWidget(lab, "fraud@champion").widget`` is the ipywidgets box to display.

    With ``current`` (a DataFrame) the window slider is hidden and that frame is compared.
    """

    def __init__(
        self,
        lab: Lab,
        model: str,
        current: Any = None,
        window: str = "1h",
        endpoint: str | None = None,
        variant: str | None = None,
    ) -> None:
        import ipywidgets as w

        self.lab = lab
        self.model = model
        self.current = current
        self.endpoint = endpoint
        self.variant = variant
        self.result: Comparison | None = None
        self.window = w.SelectionSlider(
            description="window", options=list(WINDOWS), value=window if window in WINDOWS else "1h"
        )
        self.window.layout.display = "none" if current is not None else None
        self.columns = w.SelectMultiple(description="columns", options=[], rows=6)
        self.check_button = w.Button(description="Check drift", icon="refresh")
        self.report = w.HTML()
        self.message = w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([w.HTML(f"<b>{html.escape(model)}</b>"), self.window, self.check_button]),
                self.columns,
                self.report,
                self.message,
            ]
        )
        self.check_button.on_click(lambda _: self.check())
        self.window.observe(lambda _: self.check(), names="value")
        self.columns.observe(lambda _: self.show(), names="value")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def check(self) -> None:
        """Run the check for the chosen window (not recorded: the widget is for looking)."""
        self.message.value = "<i>checking…</i>"
        try:
            self.result = self.lab.drift.for_model(
                self.model,
                self.current,
                window=None if self.current is not None else self.window.value,
                endpoint=self.endpoint,
                variant=self.variant,
                record=False,
            )
        except LabError as error:
            self.result = None
            self.report.value = ""
            self.message.value = f"<span style='color:#cf222e'>{html.escape(str(error))}</span>"
            return
        chosen = [c for c in self.columns.value if c in self.result.names]
        self.columns.options = self.result.names
        self.columns.value = tuple(chosen)
        self.message.value = ""
        self.show()

    def show(self) -> None:
        """Draw the report, limited to the picked columns (all when none is picked)."""
        if self.result is None:
            return
        from dataclasses import replace

        picked = set(self.columns.value)
        if not picked:
            self.report.value = self.result._repr_html_()
            return
        subset = replace(
            self.result, columns=[c for c in self.result.columns if c.column in picked]
        )
        subset.title, subset.meta = self.result.title, self.result.meta
        self.report.value = subset._repr_html_()
