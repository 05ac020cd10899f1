"""The drift report as static HTML: one table, one inline SVG per column, no JavaScript, so
it shows in papermill outputs, nbviewer and GitHub and stays a few kilobytes per column."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.backends.drift.engine import ColumnDrift, Comparison

WIDTH, HEIGHT = 160, 36
REFERENCE_COLOUR = "#7a869a"
CURRENT_COLOUR = "#e8590c"
METHOD_NAMES = {
    "ks": "K-S p-value",
    "wasserstein": "Wasserstein (normed)",
    "jensenshannon": "Jensen-Shannon",
    "chisquare": "chi-square p-value",
    "z": "Z-test p-value",
    "psi": "PSI",
}

_STYLE = (
    "<style>.mlops-drift table{border-collapse:collapse;font-size:12px}"
    ".mlops-drift th,.mlops-drift td{padding:2px 8px;text-align:left;"
    "border-bottom:1px solid #ddd;vertical-align:middle}"
    ".mlops-drift td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".mlops-drift .yes{color:#c92a2a;font-weight:600}.mlops-drift .no{color:#2b8a3e}</style>"
)


def render(result: Comparison, title: str = "") -> str:
    """The report's HTML fragment (what ``_repr_html_`` returns)."""
    drifted = len(result.drifted_columns)
    verdict = "drift" if result.dataset_drift else "no drift"
    headline = (
        f"<b class='{'yes' if result.dataset_drift else 'no'}'>Dataset: {verdict}</b> — "
        f"{drifted} of {len(result.columns)} columns drifted ({result.share:.0%}; "
        f"dataset drift at ≥ {result.drift_share:.0%}). Reference {result.reference_rows:,} rows, "
        f"current {result.current_rows:,} rows; {result.seconds:.2f} s."
    )
    legend = (
        f"<span style='color:{REFERENCE_COLOUR}'>■ reference</span> "
        f"<span style='color:{CURRENT_COLOUR}'>■ current</span>"
    )
    rows = "".join(_row(c) for c in result.columns)
    skipped = "".join(
        f"<tr><td>{_e(s.column)}</td><td colspan='7'>not tested: {_e(s.reason)}</td></tr>"
        for s in result.skipped
    )
    heading = f"<h4 style='margin:4px 0'>{_e(title)}</h4>" if title else ""
    return (
        f"<div class='mlops-drift'>{_STYLE}{heading}<p>{headline} {legend}</p><table><thead><tr>"
        "<th>column</th><th>type</th><th>test</th><th>score</th><th>threshold</th>"
        "<th>drift</th><th>missing ref / cur</th><th>distribution</th></tr></thead>"
        f"<tbody>{rows}{skipped}</tbody></table></div>"
    )


def page(result: Comparison, title: str = "") -> str:
    """A standalone HTML document for ``report.save()``."""
    name = _e(title or "Drift report")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{name}</title></head>"
        f"<body style='font-family:sans-serif'>{render(result, title)}</body></html>\n"
    )


def _row(column: ColumnDrift) -> str:
    flag = "<span class='yes'>yes</span>" if column.drifted else "<span class='no'>no</span>"
    missing = f"{column.reference_missing:,} / {column.current_missing:,}"
    if column.unseen_count:
        shown = ", ".join(column.unseen)
        flag += (
            f" <span title='{_e(shown)}'>({column.unseen_count} unseen "
            f"{'value' if column.unseen_count == 1 else 'values'})</span>"
        )
    return (
        f"<tr><td title='{_e(column.column)}'>{_e(_short(column.column))}</td>"
        f"<td>{column.kind[:3]}</td><td>{METHOD_NAMES.get(column.method, column.method)}</td>"
        f"<td class='n' title='{column.score!r}'>{column.score:.4g}</td>"
        f"<td class='n'>{column.threshold:g}</td><td>{flag}</td>"
        f"<td class='n'>{missing}</td><td>{svg(column.sketch)}</td></tr>"
    )


def svg(sketch: dict[str, Any]) -> str:
    """A tiny chart of both samples: step outlines over shared bins, or bars per category."""
    reference, current = sketch.get("reference", []), sketch.get("current", [])
    if not reference:
        return ""
    top = max(max(reference), max(current)) or 1.0
    count = len(reference)
    if "edges" in sketch:
        edges = sketch["edges"]
        tip = f"{edges[0]:.4g} … {edges[-1]:.4g}"
        body = _steps(reference, top, count, REFERENCE_COLOUR) + _steps(
            current, top, count, CURRENT_COLOUR
        )
    else:
        tip = "; ".join(
            f"{k}: {r:.1%} → {c:.1%}"
            for k, r, c in zip(sketch["keys"], reference, current, strict=True)
        )
        body = _bars(reference, current, top, count)
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}'><title>{_e(tip)}</title>{body}</svg>"
    )


def _steps(shares: list[float], top: float, count: int, colour: str) -> str:
    step = WIDTH / count
    points = [f"M0 {HEIGHT}"]
    for i, share in enumerate(shares):
        y = HEIGHT - share / top * (HEIGHT - 2)
        points.append(f"L{i * step:.0f} {y:.1f}L{(i + 1) * step:.0f} {y:.1f}")
    points.append(f"L{WIDTH} {HEIGHT}")
    return f"<path d='{''.join(points)}' fill='none' stroke='{colour}' stroke-width='1.2'/>"


def _bars(reference: list[float], current: list[float], top: float, count: int) -> str:
    slot = WIDTH / count
    width = max(slot / 2 - 1, 1)
    parts = []
    for i, (r, c) in enumerate(zip(reference, current, strict=True)):
        for offset, share, colour in ((0.0, r, REFERENCE_COLOUR), (width, c, CURRENT_COLOUR)):
            h = share / top * (HEIGHT - 2)
            parts.append(
                f"<rect x='{i * slot + offset:.1f}' y='{HEIGHT - h:.1f}' width='{width:.1f}' "
                f"height='{h:.1f}' fill='{colour}'/>"
            )
    return "".join(parts)


def text(result: Comparison, title: str = "") -> str:
    """The plain-text report (``__repr__``)."""
    lines = [
        (f"{title}: " if title else "") + f"{'drift' if result.dataset_drift else 'no drift'} — "
        f"{len(result.drifted_columns)}/{len(result.columns)} columns drifted "
        f"({result.share:.0%}, threshold {result.drift_share:.0%})"
    ]
    width = max([len(c.column) for c in result.columns] + [6])
    for c in result.columns:
        unseen = f"  {c.unseen_count} unseen" if c.unseen_count else ""
        lines.append(
            f"  {c.column:<{width}}  {c.method:<13} {c.score:>10.4g}  "
            f"{'DRIFT' if c.drifted else 'ok'}{unseen}"
        )
    lines += [f"  {s.column:<{width}}  not tested: {s.reason}" for s in result.skipped]
    return "\n".join(lines)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _e(value: str) -> str:
    return html.escape(str(value), quote=True)
