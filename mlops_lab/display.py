"""Results that render as compact HTML in notebooks and as aligned text in terminals."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

# The palette every table, widget and HTML result draws with (GitHub's Primer colours).
GOOD = "#1a7f37"
BAD = "#cf222e"
WARNING = "#8a6d00"
CHANGED = "#9a6700"
ACTIVE = "#0969da"
MUTED = "#6e7781"
SECONDARY = "#57606a"
BORDER = "#8c959f"


def colour(value: str) -> str:
    """Inline CSS giving text the colour ``value``."""
    return f"color:{value}"


# Cell styling hook: (column, value) -> inline CSS or "" (e.g. colour a diff's "added").
CellStyle = Callable[[str, Any], str]


class Table:
    """Rows of plain values under named columns, with an optional title and notes."""

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        title: str = "",
        notes: Sequence[str] = (),
        max_rows: int = 50,
        style: CellStyle | None = None,
    ) -> None:
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.title = title
        self.notes = list(notes)
        self.max_rows = max_rows
        self.style = style

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]

    def _shown(self) -> tuple[list[list[Any]], int]:
        hidden = max(0, len(self.rows) - self.max_rows)
        return self.rows[: self.max_rows], hidden

    def __repr__(self) -> str:
        rows, hidden = self._shown()
        cells = [self.columns, *[[_text(v) for v in r] for r in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = [*self.notes, *([self.title] if self.title else [])]
        for n, row in enumerate(cells):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        if hidden:
            lines.append(f"... {hidden} more rows (%config MLOps.max_rows to show more)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows, hidden = self._shown()
        out = ['<div class="mlops-table">']
        out += [f'<div style="color:{WARNING}">{html.escape(n)}</div>' for n in self.notes]
        if self.title:
            out.append(f"<strong>{html.escape(self.title)}</strong>")
        out.append('<table style="font-size:90%"><thead><tr>')
        out += [f'<th style="text-align:left">{html.escape(c)}</th>' for c in self.columns]
        out.append("</tr></thead><tbody>")
        for row in rows:
            out.append("<tr>")
            for column, value in zip(self.columns, row, strict=False):
                css = self.style(column, value) if self.style else ""
                attr = f' style="text-align:left;{css}"'
                out.append(f"<td{attr}>{html.escape(_text(value))}</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
        if hidden:
            out.append(f"<em>{hidden} more rows (%config MLOps.max_rows to show more)</em>")
        out.append("</div>")
        return "".join(out)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
