"""Results that render as compact HTML in notebooks and as aligned text in terminals."""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.config import Config

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


def short(value: str, keep: int = 8) -> str:
    """The first ``keep`` characters of a long value, with an ellipsis."""
    return value if len(value) <= keep + 1 else value[:keep] + "\u2026"


# Two overlapping sheets, drawn (a font may lack the copy glyph).
_COPY_ICON = (
    '<svg width="10" height="10" viewBox="0 0 10 10" fill="none" stroke="currentColor">'
    '<rect x="3" y="0.5" width="6" height="6.5"/><path d="M1 3v6.5h6"/></svg>'
)


def copy_button(value: str) -> str:
    """A small button that copies ``value`` (live outputs; the full value stays in the title)."""
    full = html.escape(value)
    return (
        f'<button type="button" class="mlops-copy" title="copy {full}" data-copy="{full}" '
        'onclick="navigator.clipboard.writeText(this.dataset.copy)" '
        f'style="border:none;background:none;cursor:pointer;padding:0 2px;color:{MUTED}">'
        f"{_COPY_ICON}</button>"
    )


class Id(str):
    """An identifier (run, commit, job): the full value as a string (terminals, equality,
    JSON); in HTML shown short with the full value on hover and a copy button, and a link
    when ``href`` is set."""

    href: str
    keep: int

    def __new__(cls, value: str, href: str = "", keep: int = 8) -> Id:
        made = super().__new__(cls, value)
        made.href = href
        made.keep = keep
        return made

    def html(self) -> str:
        value = str(self)
        full = html.escape(value)
        code = f'<code title="{full}">{html.escape(short(value, self.keep))}</code>'
        if self.href:
            code = f'<a href="{html.escape(self.href)}" target="_blank" title="{full}">{code}</a>'
        return code + copy_button(value)


class Link(str):
    """A value shown as ``text`` linking to ``href``; as a string it is the full value
    (``full``, else ``text``), which HTML shows on hover."""

    text: str
    href: str
    full: str

    def __new__(cls, text: str, href: str, full: str = "") -> Link:
        made = super().__new__(cls, full or text)
        made.text = text
        made.href = href
        made.full = full
        return made

    def html(self) -> str:
        title = f' title="{html.escape(self.full)}"' if self.full else ""
        target = "" if _is_file_link(self.href) else ' target="_blank"'
        return f'<a href="{html.escape(self.href)}"{target}{title}>{html.escape(self.text)}</a>'


def _is_file_link(href: str) -> bool:
    return "://" not in href


def tracking_ui(config: Config) -> str:
    """The MLflow UI runs and models link to: ``[tracking] ui``, else an http tracking URI."""
    ui = config.tracking.ui or config.tracking.uri
    return ui.rstrip("/") if ui.startswith(("http://", "https://")) else ""


def run_id(config: Config, value: str) -> Id:
    """A run id, linked to its page in the MLflow UI when one is configured."""
    ui = tracking_ui(config)
    return Id(value, href=f"{ui}/#/runs/{value}" if ui and value else "")


def model_ref(config: Config, name: str, version: str | int | None = None) -> Link | str:
    """``name/version`` (or ``name``), linked to the MLflow UI when one is configured."""
    text = f"{name}/{version}" if version is not None else name
    ui = tracking_ui(config)
    if not ui:
        return text
    page = f"{ui}/#/models/{name}" + (f"/versions/{version}" if version is not None else "")
    return Link(text, page)


def file_link(path: str | os.PathLike[str]) -> Link:
    """A file (e.g. an executed notebook) as a link JupyterLab opens: relative to the
    working directory when inside it; the file name shown, the full path on hover."""
    full = Path(path)
    try:
        href = os.path.relpath(full)
    except ValueError:
        href = str(full)
    if href.startswith(".."):
        href = str(full)
    return Link(full.name, href.replace(os.sep, "/"), full=str(full))


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
        out.append('<table style="font-size:90%;width:100%"><thead><tr>')
        out += [f'<th style="text-align:left">{html.escape(c)}</th>' for c in self.columns]
        out.append("</tr></thead><tbody>")
        for row in rows:
            out.append("<tr>")
            for column, value in zip(self.columns, row, strict=False):
                css = self.style(column, value) if self.style else ""
                attr = f' style="text-align:left;overflow-wrap:anywhere;{css}"'
                out.append(f"<td{attr}>{cell_html(value)}</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
        if hidden:
            out.append(f"<em>{hidden} more rows (%config MLOps.max_rows to show more)</em>")
        out.append("</div>")
        return "".join(out)


def cell_html(value: Any) -> str:
    """A table cell's HTML: ids and links render themselves, the rest is escaped text."""
    if isinstance(value, Id | Link):
        return value.html()
    if isinstance(value, list):
        return ", ".join(cell_html(v) for v in value)
    return html.escape(_text(value))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)
