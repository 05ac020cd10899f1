"""Static HTML and SVG pieces every result and widget draws with: fixed-width cards, folded
sections, a step indicator with a progress bar, and small line and bar charts.

Plain strings with inline styles and no script, so they render the same in a live kernel,
in papermill's executed notebooks and in nbconvert's HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from mlops_lab.display import ACTIVE, BAD, BORDER, GOOD, MUTED, SECONDARY

CARD_WIDTH = 210
CHART_WIDTH = 300
CHART_HEIGHT = 140
# Line colours of successive series (Primer's data-visualisation hues).
SERIES = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e")

_ONE_LINE = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"


def esc(text: object) -> str:
    return html.escape(str(text))


def line(content_html: str, title: str = "", css: str = "") -> str:
    """One line that never runs past its box: cut with an ellipsis, the full text on hover."""
    hover = f' title="{esc(title)}"' if title else ""
    return f'<div style="{_ONE_LINE};{css}"{hover}>{content_html}</div>'


def card(heading: str, lines: Sequence[str], kind: str = "", width: int | None = CARD_WIDTH) -> str:
    """A fixed-width box: a bold heading (with a muted kind) over lines of ready HTML;
    ``width=None`` fills its container instead (a column that shrinks to fit the output)."""
    size = f"width:{width}px;flex:none" if width is not None else "width:100%"
    kind_html = f' <span style="color:{SECONDARY};font-weight:normal">{esc(kind)}</span>'
    head = line(f"<b>{esc(heading)}</b>{kind_html if kind else ''}", f"{heading} {kind}".strip())
    return (
        f'<div class="mlops-card" style="box-sizing:border-box;{size};'
        f"border:1px solid {BORDER};border-radius:6px;padding:4px 8px;"
        f'font-size:85%;line-height:1.4">{head}{"".join(lines)}</div>'
    )


def details(summary: str, body_html: str) -> str:
    """A folded section (``<details>``) whose summary says what is inside."""
    return (
        f'<details class="mlops-details"><summary style="cursor:pointer;color:{ACTIVE}">'
        f"{esc(summary)}</summary>{body_html}</details>"
    )


def arrow() -> str:
    return (
        f'<div class="mlops-arrow" style="color:{MUTED};font-size:130%;flex:0 0 auto">&rarr;</div>'
    )


def steps(names: Sequence[str], current: int, failed: bool = False) -> str:
    """A step indicator: done steps ticked, the current one highlighted (red when failed)."""
    parts = []
    for index, name in enumerate(names):
        if index < current:
            parts.append(f'<span style="color:{GOOD}">&#10003; {esc(name)}</span>')
        elif index == current:
            tint = BAD if failed else ACTIVE
            parts.append(f'<b style="color:{tint}" class="mlops-step-current">{esc(name)}</b>')
        else:
            parts.append(f'<span style="color:{MUTED}">{esc(name)}</span>')
    joint = f'<span style="color:{MUTED}"> &rarr; </span>'
    return f'<div class="mlops-steps">{joint.join(parts)}</div>'


def progress_bar(fraction: float | None) -> str:
    """A full-width bar filled to ``fraction`` (0..1); ``None`` draws a striped bar (the
    amount of work is not known yet)."""
    if fraction is None:
        fill = (
            f"width:100%;background:repeating-linear-gradient(45deg,{ACTIVE}55 0 8px,"
            f"{ACTIVE}22 8px 16px)"
        )
        value = ""
    else:
        share = min(1.0, max(0.0, fraction))
        fill = f"width:{share * 100:.1f}%;background:{ACTIVE}"
        value = f' aria-valuenow="{share * 100:.0f}"'
    return (
        f'<div class="mlops-progress" role="progressbar"{value} style="width:100%;height:6px;'
        f'background:#eaeef2;border-radius:3px;overflow:hidden"><div style="height:100%;{fill}">'
        "</div></div>"
    )


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: the time so far of a long operation."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def progress_line(
    label: str,
    fraction: float | None,
    seconds: float,
    state: str = "running",
    detail: str = "",
) -> str:
    """A long operation in one box: what it does and the time so far on one line, a bar
    under it; green when it succeeded, red with the reason when it failed."""
    tint = {"succeeded": GOOD, "failed": BAD}.get(state, ACTIVE)
    mark = {"succeeded": "&#10003; ", "failed": "&#10007; "}.get(state, "")
    share = (
        f" &middot; {fraction * 100:.0f}%" if fraction is not None and state == "running" else ""
    )
    text = (
        f'<span style="color:{tint}">{mark}{esc(label)}</span>'
        f'<span class="mlops-elapsed" style="color:{SECONDARY}"> &middot; '
        f"{esc(duration(seconds))}{share}</span>"
    )
    reason = line(esc(detail), detail, f"color:{BAD}") if detail else ""
    return (
        f'<div class="mlops-operation" data-state="{esc(state)}" style="max-width:100%;'
        f'font-size:90%">{line(text, label)}'
        f"{progress_bar(1.0 if state == 'succeeded' else fraction)}{reason}</div>"
    )


def _padded(low: float, high: float) -> tuple[float, float]:
    if math.isclose(low, high):
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    return low, high


def _label(value: float) -> str:
    return f"{value:.3g}"


def line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    x_label: str = "",
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
) -> str:
    """An SVG line chart of one or more (x, y) series sharing one y scale, with min/max
    labels on both axes and a legend; empty series draw an empty frame saying so."""
    left, right, top, bottom = 48, 8, 18, 22
    inner_w, inner_h = width - left - right, height - top - bottom
    points = [p for values in series.values() for p in values]
    out = [
        f'<svg class="mlops-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        f'font-size="10" style="max-width:100%"><title>{esc(title)}</title>',
        f'<text x="{left}" y="12" font-weight="bold" fill="{SECONDARY}">{esc(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{inner_w}" height="{inner_h}" fill="none" '
        f'stroke="{BORDER}" stroke-width="0.5"/>',
    ]
    if not points:
        out.append(
            f'<text x="{left + inner_w / 2}" y="{top + inner_h / 2}" text-anchor="middle" '
            f'fill="{MUTED}">no values yet</text></svg>'
        )
        return "".join(out)
    x_low, x_high = _padded(min(p[0] for p in points), max(p[0] for p in points))
    y_low, y_high = _padded(min(p[1] for p in points), max(p[1] for p in points))

    def place(x: float, y: float) -> str:
        px = left + (x - x_low) / (x_high - x_low) * inner_w
        py = top + inner_h - (y - y_low) / (y_high - y_low) * inner_h
        return f"{px:.1f},{py:.1f}"

    out += [
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" fill="{MUTED}">'
        f"{_label(y_high)}</text>",
        f'<text x="{left - 4}" y="{top + inner_h}" text-anchor="end" fill="{MUTED}">'
        f"{_label(y_low)}</text>",
        f'<text x="{left}" y="{height - 8}" fill="{MUTED}">{_label(x_low)}</text>',
        f'<text x="{left + inner_w}" y="{height - 8}" text-anchor="end" fill="{MUTED}">'
        f"{_label(x_high)}</text>",
    ]
    if x_label:
        out.append(
            f'<text x="{left + inner_w / 2}" y="{height - 8}" text-anchor="middle" '
            f'fill="{MUTED}">{esc(x_label)}</text>'
        )
    for index, (name, values) in enumerate(series.items()):
        tint = SERIES[index % len(SERIES)]
        ordered = sorted(values)
        if len(ordered) > 1:
            path = " ".join(place(x, y) for x, y in ordered)
            out.append(
                f'<polyline class="mlops-series" data-series="{esc(name)}" points="{path}" '
                f'fill="none" stroke="{tint}" stroke-width="1.5"/>'
            )
        for x, y in ordered[-1:] if len(ordered) > 1 else ordered:
            cx, cy = place(x, y).split(",")
            out.append(
                f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{tint}">'
                f"<title>{esc(name)} {_label(y)} at {_label(x)}</title></circle>"
            )
        if len(series) > 1:
            out.append(
                f'<text x="{left + inner_w - 4}" y="{top + 12 + 12 * index}" text-anchor="end" '
                f'fill="{tint}">{esc(name)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def metric_charts(
    rows: Sequence[Mapping[str, object]], x_key: str = "epoch", skip: Sequence[str] = ()
) -> str:
    """One small line chart per numeric metric of ``rows`` (each its own scale), against
    ``x_key`` when the rows carry it, else against the report number."""
    series: dict[str, list[tuple[float, float]]] = {}
    last_x: float | None = None
    for number, row in enumerate(rows):
        x = row.get(x_key)
        if not isinstance(x, int | float):
            # A report without x_key (e.g. a final test AUC) belongs where the last one was.
            x = number if last_x is None else last_x
        last_x = float(x)
        for key, value in row.items():
            if key == x_key or key in skip or isinstance(value, bool):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                series.setdefault(key, []).append((float(x), float(value)))
    if not series:
        return ""
    charts = [line_chart(name, {name: values}, x_key) for name, values in series.items()]
    return f'<div class="mlops-charts" style="display:flex;flex-wrap:wrap;gap:8px">{"".join(charts)}</div>'


def bar_chart(
    title: str,
    counts: Mapping[str, float],
    colours: Mapping[str, str] | None = None,
    width: int = CHART_WIDTH,
) -> str:
    """Horizontal SVG bars, one per label, with the value written beside each bar."""
    bar_h, gap, top = 14, 6, 18
    # Room for the longest label (about 6 px a character), up to a third of the chart.
    label_w = min(width // 3 + 40, 8 + 6 * max((len(n) for n in counts), default=4))
    height = top + len(counts) * (bar_h + gap) + 4
    most = max([v for v in counts.values() if v > 0], default=1)
    room = width - label_w - 50
    out = [
        f'<svg class="mlops-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        f'font-size="10" style="max-width:100%"><title>{esc(title)}</title>',
        f'<text x="0" y="12" font-weight="bold" fill="{SECONDARY}">{esc(title)}</text>',
    ]
    for index, (name, value) in enumerate(counts.items()):
        y = top + index * (bar_h + gap)
        tint = (colours or {}).get(name, ACTIVE)
        length = max(0.0, value) / most * room
        out += [
            f'<text x="{label_w - 4}" y="{y + bar_h - 3}" text-anchor="end" '
            f'fill="{SECONDARY}">{esc(name)}</text>',
            f'<rect class="mlops-bar" data-label="{esc(name)}" x="{label_w}" y="{y}" '
            f'width="{length:.1f}" height="{bar_h}" fill="{tint}"/>',
            f'<text x="{label_w + length + 4:.1f}" y="{y + bar_h - 3}" '
            f'fill="{SECONDARY}">{_label(value)}</text>',
        ]
    out.append("</svg>")
    return "".join(out)


def grouped_bars(
    title: str, groups: Mapping[str, Mapping[str, float]], width: int = CHART_WIDTH
) -> str:
    """One bar chart per metric, its bars the groups (e.g. model versions) side by side."""
    metrics: dict[str, dict[str, float]] = {}
    for group, values in groups.items():
        for metric, value in values.items():
            metrics.setdefault(metric, {})[group] = value
    charts = [
        bar_chart(f"{title}: {metric}", by_group, width=width)
        for metric, by_group in metrics.items()
    ]
    return f'<div class="mlops-charts" style="display:flex;flex-wrap:wrap;gap:8px">{"".join(charts)}</div>'


class Figure:
    """A drawn result: HTML (charts) in notebooks, the same numbers as text elsewhere."""

    def __init__(self, title: str, body_html: str, text: str) -> None:
        self.title = title
        self.body_html = body_html
        self.text = text

    def _repr_html_(self) -> str:
        return f'<div class="mlops-figure"><strong>{esc(self.title)}</strong>{self.body_html}</div>'

    def __repr__(self) -> str:
        return f"{self.title}\n{self.text}" if self.text else self.title
