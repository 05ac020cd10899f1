"""Registry widget: models, their versions with metrics and aliases, a lineage view per
version, and moving an alias with a confirmation step.

Everything goes through ``lab.models`` / ``lab.lineage``; errors show as one line.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from mlops_lab.display import BAD, GOOD
from mlops_lab.errors import LabError
from mlops_lab.services.models import ModelVersions

if TYPE_CHECKING:
    from mlops_lab.lab import Lab
    from mlops_lab.services.models import VersionInfo


class RegistryWidget:
    """``RegistryWidget(lab).widget`` is the ipywidgets box to display."""

    def __init__(self, lab: Lab, model: str | None = None) -> None:
        import ipywidgets as w

        self.lab = lab
        self.versions: list[VersionInfo] = []
        self.pending: tuple[str, str, int] | None = None
        self.model = w.Dropdown(description="model", options=[])
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.table = w.HTML()
        self.lineage_buttons = w.HBox()
        self.lineage_out = w.HTML()
        self.alias = w.Combobox(
            description="alias",
            placeholder="type or pick an alias",
            options=["champion", "challenger"],
            ensure_option=False,
        )
        self.version = w.Dropdown(description="version", options=[])
        self.move_button = w.Button(description="Move alias", button_style="warning")
        self.confirm_text = w.HTML()
        self.confirm_button = w.Button(description="Confirm", button_style="danger")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.HBox([self.confirm_text, self.confirm_button, self.cancel_button])
        self.confirm_box.layout.display = "none"
        self.message = w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([self.model, self.refresh_button]),
                self.table,
                self.lineage_buttons,
                self.lineage_out,
                w.HBox([self.alias, self.version, self.move_button]),
                self.confirm_box,
                self.message,
            ]
        )
        self.model.observe(lambda change: self.show(change["new"]), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.move_button.on_click(lambda _: self.ask_move())
        self.confirm_button.on_click(lambda _: self.confirm())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.refresh(select=model)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- actions (also called by tests) --------------------------------------------------

    def refresh(self, select: str | None = None) -> None:
        self.message.value = ""  # what went wrong before is not news after a refresh
        try:
            names = [m.name for m in self.lab.models.list()]
        except LabError as exc:
            self._error(exc)
            return
        current = select or self.model.value
        self.model.options = names
        if current in names:
            self.model.value = current
        elif names:
            self.model.value = names[0]
        if self.model.value:
            self.show(self.model.value)
        else:
            self.table.value = "<em>No registered models yet; %mlops register ...</em>"

    def show(self, name: str | None) -> None:
        import ipywidgets as w

        if not name:
            return
        try:
            self.versions = self.lab.models.versions(name)
        except LabError as exc:
            self._error(exc)
            return
        self.table.value = _versions_html(self.versions)
        self.version.options = [
            (" ".join([f"v{v.version}", *(f"@{a}" for a in v.aliases)]), v.version)
            for v in self.versions
        ]
        if self.versions:  # the newest, so Move alias has a version from the start
            self.version.value = self.versions[0].version
        buttons = []
        for v in self.versions:
            button = w.Button(description=f"lineage v{v.version}", layout=w.Layout(width="auto"))
            button.on_click(lambda _, ref=v.ref: self.show_lineage(ref))
            buttons.append(button)
        self.lineage_buttons.children = tuple(buttons)
        self.lineage_out.value = ""

    def show_lineage(self, ref: str) -> None:
        try:
            self.lineage_out.value = self.lab.lineage(ref)._repr_html_()
        except LabError as exc:
            self._error(exc)

    def ask_move(self) -> None:
        name, alias, version = (
            self.model.value,
            (self.alias.value or "").strip(),
            self.version.value,
        )
        if not name or not alias or version is None:
            self._error("choose a model, an alias and a version first")
            return
        current = next((v.version for v in self.versions if alias in v.aliases), None)
        if current == version:
            self._info(f"{name}@{alias} already points at version {version}")
            return
        was = f" (now version {current})" if current is not None else " (new alias)"
        self.message.value = ""
        self.pending = (name, alias, int(version))
        self.confirm_text.value = (
            f"Move <b>{html.escape(name)}@{html.escape(alias)}</b>{was} to version "
            f"<b>{version}</b>?"
        )
        self.confirm_box.layout.display = "flex"

    def confirm(self) -> None:
        if self.pending is None:
            return
        name, alias, version = self.pending
        self.cancel()
        try:
            self.lab.models.set_alias(name, alias, version)
        except LabError as exc:
            self._error(exc)
            return
        self.show(name)
        self._info(f"{name}@{alias} -> version {version}")

    def cancel(self) -> None:
        self.pending = None
        self.confirm_box.layout.display = "none"
        self.confirm_text.value = ""

    def _error(self, error: LabError | str) -> None:
        self.message.value = f'<span style="color:{BAD}">{html.escape(str(error))}</span>'

    def _info(self, text: str) -> None:
        self.message.value = f'<span style="color:{GOOD}">{html.escape(text)}</span>'


def _versions_html(versions: list[VersionInfo]) -> str:
    if not versions:
        return "<em>no versions</em>"
    return ModelVersions(versions[0].name, versions)._repr_html_()
