"""A validation's verdict: its checks, and the table (text and HTML) a notebook shows."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from mlops_lab.display import Table

PASSED, FAILED = "passed", "failed"


@dataclass(frozen=True)
class Check:
    """One row of the verdict: a criterion, the figures it compared and whether it held
    (``passed`` is None when it could not be checked, e.g. no baseline)."""

    metric: str
    candidate: float | None
    baseline: float | None
    rule: str
    passed: bool | None
    summary: str
    limit: float | None = None  # the value the candidate had to reach, drawn as a tick

    @property
    def change(self) -> float | None:
        if self.candidate is None or self.baseline is None:
            return None
        return self.candidate - self.baseline


@dataclass
class ValidationResult:
    """The gate's verdict on one model version; renders as a table."""

    model: str
    version: int
    baseline: str | None
    checks: list[Check]
    run_id: str
    data_commit: str | None = None
    latency: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, float | None] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    @property
    def verdict(self) -> str:
        return PASSED if self.passed else FAILED

    @property
    def summary(self) -> str:
        return "; ".join(c.summary for c in self.checks if c.passed is not None)

    def table(self) -> Table:
        rows = [
            [
                c.metric,
                figure(c.candidate),
                figure(c.baseline),
                _signed(c.change),
                c.rule,
                {True: "✓", False: "✗", None: "-"}[c.passed],
            ]
            for c in self.checks
        ]
        return Table(
            ["metric", "candidate", "baseline", "change", "threshold", "ok"],
            rows,
            title=self._title(),
            notes=self.notes,
            max_rows=len(rows) or 1,
            style=_style,
        )

    def _title(self) -> str:
        against = f" vs {self.baseline}" if self.baseline else ""
        return f"{self.model}/{self.version}{against}: {self.verdict.upper()}"

    def __repr__(self) -> str:
        lines = [repr(self.table()), f"evaluation run {self.run_id}"]
        if self.data_commit:
            lines.append(f"holdout data commit {self.data_commit}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        facts = [f'run <code title="{html.escape(self.run_id)}">{self.run_id[:8]}</code>']
        if self.data_commit:
            facts.append(
                f'holdout <code title="{html.escape(self.data_commit)}">'
                f"{html.escape(self.data_commit[:12])}</code>"
            )
        if self.latency:
            facts.append(f"latency measured on {html.escape(self.latency['measured_on'])}")
        table = self.table()
        body = []
        for check, row in zip(self.checks, table.rows, strict=True):
            cells = [f"<td>{html.escape(str(v))}</td>" for v in row[:-1]]
            cells.insert(3, f"<td>{_bars(check)}</td>")
            cells.append(f'<td style="{_style("ok", row[-1])}">{row[-1]}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        columns = [*table.columns[:3], "", *table.columns[3:]]
        head = "".join(f'<th style="text-align:left">{html.escape(c)}</th>' for c in columns)
        notes = "".join(
            f'<div style="color:#57606a;font-size:85%">{html.escape(n)}</div>' for n in self.notes
        )
        return (
            '<div class="mlops-validation">'
            f"<strong>{html.escape(self.model)}/{self.version}</strong>"
            + (f" vs {html.escape(self.baseline)}" if self.baseline else "")
            + f' <span style="color:{colour};font-weight:bold">{self.verdict.upper()}</span>'
            + f'<div style="color:#57606a;font-size:85%">{" · ".join(facts)}</div>'
            + notes
            + f'<table style="font-size:90%"><thead><tr>{head}</tr></thead>'
            + f"<tbody>{''.join(body)}</tbody></table></div>"
        )


def mark(passed: bool) -> str:
    """The tick or cross a summary line ends with."""
    return "✓" if passed else "✗"


def figure(value: float | None) -> str:
    """A metric's value as shown in the table ("" for none)."""
    return "" if value is None else f"{value:.4g}"


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.4g}"


def _bars(check: Check) -> str:
    """Candidate (blue) and baseline (grey) as bars on one scale, the limit as a tick."""
    values = [v for v in (check.candidate, check.baseline, check.limit) if v is not None]
    if check.candidate is None or len(values) < 2:
        return ""
    scale = max(abs(v) for v in values) or 1.0
    width = 80

    def length(value: float) -> float:
        return round(abs(value) / scale * width, 1)

    parts = [f'<rect x="0" y="1" width="{length(check.candidate)}" height="4" fill="#0969da"/>']
    if check.baseline is not None:
        parts.append(
            f'<rect x="0" y="6" width="{length(check.baseline)}" height="4" fill="#8c959f"/>'
        )
    if check.limit is not None:
        x = min(length(check.limit), width - 1)
        parts.append(f'<rect x="{x}" y="0" width="1.5" height="11" fill="#cf222e"/>')
    title = f"candidate {figure(check.candidate)}"
    if check.baseline is not None:
        title += f", baseline {figure(check.baseline)}"
    if check.limit is not None:
        title += f", limit {figure(check.limit)}"
    return (
        f'<svg width="{width + 2}" height="11" role="img"><title>{html.escape(title)}</title>'
        + "".join(parts)
        + "</svg>"
    )


def _style(column: str, value: Any) -> str:
    if column == "ok":
        return {"✓": "color:#1a7f37;font-weight:bold", "✗": "color:#cf222e;font-weight:bold"}.get(
            str(value), ""
        )
    return ""
