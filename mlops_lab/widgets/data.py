"""The data browser: pick a branch, see its log, objects (with sizes) and uncommitted
changes, diff two refs, and create a branch, commit or merge with buttons.

A merge asks first: "Merge…" shows what would come over and waits for "Confirm merge"
or "Cancel". A conflict shows the conflicting paths and changes nothing. Every failure is
one line in the status bar; the widget holds no logic beyond calling ``lab.data``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_lab import display
from mlops_lab.errors import ConflictError, LabError

if TYPE_CHECKING:
    from mlops_lab.services.data import DataService

OK = display.colour(display.GOOD)
BAD = display.colour(display.BAD)


class DataBrowser:
    def __init__(self, data: DataService) -> None:
        import ipywidgets as w

        self.data = data
        self.pending_merge: tuple[str, str] | None = None
        self.status = w.HTML()
        self.branch = w.Dropdown(description="branch", layout=w.Layout(width="260px"))
        self.refresh_button = w.Button(
            description="Refresh", icon="refresh", layout=w.Layout(width="100px")
        )
        self.log = w.HTML()
        self.objects = w.HTML()
        self.staged = w.HTML()

        self.left = w.Dropdown(description="left", layout=w.Layout(width="220px"))
        self.right = w.Dropdown(description="right", layout=w.Layout(width="220px"))
        self.diff_button = w.Button(description="Diff", layout=w.Layout(width="80px"))
        self.diff_view = w.HTML()

        self.new_name = w.Text(placeholder="new branch name", layout=w.Layout(width="200px"))
        self.create_button = w.Button(description="Create branch", icon="code-branch")
        self.message = w.Text(placeholder="commit message", layout=w.Layout(width="300px"))
        self.commit_button = w.Button(description="Commit", icon="check", button_style="success")
        self.merge_from = w.HTML()
        self.merge_into = w.Dropdown(description="into", layout=w.Layout(width="220px"))
        self.merge_button = w.Button(description="Merge…", icon="compress")
        self.confirm_button = w.Button(description="Confirm merge", button_style="warning")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_view = w.HTML()
        self.confirm_box = w.VBox(
            [self.confirm_view, w.HBox([self.confirm_button, self.cancel_button])]
        )
        self.confirm_box.layout.display = "none"

        self.branch.observe(lambda change: self._guard(self._show_branch), names="value")
        self.refresh_button.on_click(lambda _: self._guard(self.refresh))
        self.diff_button.on_click(lambda _: self._guard(self._diff))
        self.create_button.on_click(lambda _: self._guard(self._create))
        self.commit_button.on_click(lambda _: self._guard(self._commit))
        self.merge_button.on_click(lambda _: self._guard(self._ask_merge))
        self.confirm_button.on_click(lambda _: self._guard(self._merge))
        self.cancel_button.on_click(lambda _: self._guard(self._cancel_merge))

        tabs = w.Tab(
            children=[
                w.VBox([self.log]),
                w.VBox([self.objects]),
                w.VBox([self.staged]),
                w.VBox([w.HBox([self.left, self.right, self.diff_button]), self.diff_view]),
            ]
        )
        for index, title in enumerate(["log", "objects", "uncommitted", "diff"]):
            tabs.set_title(index, title)
        self.tabs = tabs
        actions = w.VBox(
            [
                w.HBox([self.new_name, self.create_button]),
                w.HBox([self.message, self.commit_button]),
                w.HBox([self.merge_from, self.merge_into, self.merge_button]),
                self.confirm_box,
            ]
        )
        self.widget = w.VBox(
            [w.HBox([self.branch, self.refresh_button]), tabs, actions, self.status]
        )
        self._guard(self.refresh)

    # ---------------------------------------------------------------- display

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"<DataBrowser branch={self.branch.value!r}>"

    # ---------------------------------------------------------------- plumbing

    def _guard(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except LabError as exc:
            self._say(exc.one_line(), BAD)

    def _say(self, text: str, style: str = OK) -> None:
        self.status.value = f'<span style="{style}">{html.escape(text)}</span>'

    def refresh(self) -> None:
        names = [b.name for b in self.data.branches()]
        refs = names + [t.name for t in self.data.tags()]
        current = self.branch.value if self.branch.value in names else self.data.default_branch
        self.branch.options = names
        self.branch.value = current
        left, right = self._diff_pair(names, current)
        for picker, default in ((self.left, left), (self.right, right)):
            keep = picker.value if picker.value in refs else default
            picker.options = refs
            picker.value = keep
        if self.left.value == self.right.value:  # never offer a ref against itself
            self.left.value, self.right.value = left, right
        into = self.merge_into.value if self.merge_into.value in names else self.data.default_branch
        self.merge_into.options = names
        self.merge_into.value = into
        self._show_branch()

    def _diff_pair(self, names: list[str], current: str) -> tuple[str, str]:
        """The diff worth seeing first: the default branch against the branch shown, or
        against another branch when the default branch is the one shown."""
        main = self.data.default_branch
        others = [n for n in names if n != main]
        if current != main:
            return main, current
        return main, others[0] if others else main

    def _show_branch(self) -> None:
        branch = self.branch.value
        if not branch:
            return
        self.log.value = self.data.log(branch, limit=20)._repr_html_()
        self.objects.value = self.data.ls(branch)._repr_html_()
        uncommitted = self.data.diff(branch)
        self.staged.value = uncommitted._repr_html_()
        # Commit is the action to take only when there is something to commit.
        self.commit_button.button_style = "success" if uncommitted else ""
        self.commit_button.tooltip = (
            f"commit {len(uncommitted)} change(s) on {branch}"
            if uncommitted
            else f"nothing to commit on {branch}"
        )
        self.merge_from.value = f"merge <b>{html.escape(branch)}</b>"

    # ---------------------------------------------------------------- actions

    def _diff(self) -> None:
        self.diff_view.value = self.data.diff(self.left.value, self.right.value)._repr_html_()
        self.tabs.selected_index = 3

    def _create(self) -> None:
        name = self.new_name.value.strip()
        created = self.data.create_branch(name, self.branch.value)
        self.new_name.value = ""
        self.refresh()
        self.branch.value = created.name
        self._say(f"created branch {created.name} at {created.commit_id[:12]}")

    def _commit(self) -> None:
        branch = self.branch.value
        before = self.data.resolve(branch)
        commit = self.data.commit(branch, self.message.value)
        self.message.value = ""
        self._show_branch()
        self.refresh()
        if commit == before:
            self._say(f"nothing to commit on {branch}")
        else:
            self._say(f"committed {branch} at {commit[:12]}")

    def _ask_merge(self) -> None:
        source, dest = self.branch.value, self.merge_into.value
        if source == dest:
            self._say("pick a different branch to merge into", BAD)
            return
        incoming = self.data.diff(dest, source)
        self.pending_merge = (source, dest)
        self.confirm_view.value = (
            f"<b>Merge {html.escape(source)} into {html.escape(dest)}?</b> "
            f"{len(incoming)} path(s) differ:" + incoming._repr_html_()
        )
        self.confirm_box.layout.display = "flex"
        self._say(f"confirm the merge of {source} into {dest}, or cancel")

    def _cancel_merge(self) -> None:
        self.pending_merge = None
        self.confirm_box.layout.display = "none"
        self._say("merge cancelled")

    def _merge(self) -> None:
        if self.pending_merge is None:
            self._say("nothing to confirm: press Merge… first", BAD)
            return
        source, dest = self.pending_merge
        self.pending_merge = None
        self.confirm_box.layout.display = "none"
        try:
            commit = self.data.merge(source, dest)
        except ConflictError as exc:
            paths = exc.fields.get("paths") or []
            self.confirm_view.value = ""
            self._say(f"conflict, nothing merged: {', '.join(paths) or exc.message}", BAD)
            return
        self.refresh()
        self._say(f"merged {source} into {dest} at {commit[:12]}")
