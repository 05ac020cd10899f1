"""`%mlops data ...` and the data browser widget, on the embedded store."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from mlops_lab.errors import ConflictError, NotFoundError, UsageError
from mlops_lab.lab import Lab
from mlops_lab.widgets.data import DataBrowser


@pytest.fixture
def shell(ipython: Any, project: Lab) -> Any:
    ipython.user_ns["df"] = pd.DataFrame({"a": [1, 2, 3]})
    return ipython


def mlops(shell: Any, line: str) -> Any:
    return shell.run_line_magic("mlops", line)


def test_the_whole_loop_through_magics(shell: Any) -> None:
    staged = mlops(shell, "data write df fraud/t.parquet")
    assert "staged 1 file" in repr(staged)
    diff = mlops(shell, "data diff")
    assert diff.rows == [["added", "fraud/t.parquet", diff.rows[0][2]]]
    assert "color:#1a7f37" in diff._repr_html_()  # added paths are green
    commit = mlops(shell, "data commit -m 'first data' --meta source=test")
    assert len(commit) == 64 and repr(commit).startswith("committed main at")
    again = mlops(shell, "data commit -m 'again'")
    assert again == commit and "nothing to commit" in repr(again)
    assert repr(mlops(shell, "data branch exp")).startswith("branch exp at")
    shell.user_ns["df"] = pd.DataFrame({"a": [9]})
    mlops(shell, "data write df fraud/t.parquet --branch exp")
    mlops(shell, "data commit exp -m change")
    diff = mlops(shell, "data diff main exp")
    assert diff.rows[0][:2] == ["changed", "fraud/t.parquet"]
    assert "color:#9a6700" in diff._repr_html_()
    merged = mlops(shell, "data merge exp main")
    assert repr(merged).startswith("merged exp into main at")
    frame = mlops(shell, "data read fraud/t.parquet")
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [9]}))
    old = mlops(shell, f"data read fraud/t.parquet --ref {commit}")
    assert list(old["a"]) == [1, 2, 3]
    assert [r[0] for r in mlops(shell, "data branches").rows] == ["exp", "main"]
    assert [r[0] for r in mlops(shell, "data ls --prefix fraud/").rows] == ["fraud/t.parquet"]
    log = mlops(shell, "data log -n 2")
    assert [r[1] for r in log.rows] == ["Merge 'exp' into 'main'", "change"]
    assert "first data" in repr(mlops(shell, "data log --path fraud/t.parquet"))
    assert repr(mlops(shell, "data tag v1")).startswith("tag v1 at")
    shell.user_ns["raw"] = b"bytes"
    mlops(shell, "data write raw notes/raw.bin")
    mlops(shell, "data reset")
    assert mlops(shell, "data diff").rows == []
    assert mlops(shell, "data protect main").rows == [["main"]]
    result = shell.run_cell("%mlops data write df fraud/t.parquet")
    assert type(result.error_in_exec).__name__ == "AccessDeniedError"
    assert mlops(shell, "data protect").rows == [["main"]]
    assert mlops(shell, "data protect main --remove").rows == []
    mlops(shell, "data branch -d exp")
    empty = mlops(shell, "data diff")
    assert repr(empty) == "uncommitted changes on main: no changes"
    assert "<table" not in empty._repr_html_() and "no changes" in empty._repr_html_()


def test_bad_input_is_one_line(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = shell.run_cell("%mlops data read nope.parquet --ref missing")
    assert isinstance(result.error_in_exec, NotFoundError)
    shown = capsys.readouterr()
    assert len((shown.out + shown.err).strip().splitlines()) == 1
    result = shell.run_cell("%mlops data write nothing x.parquet")
    assert isinstance(result.error_in_exec, UsageError)
    result = shell.run_cell("%mlops data write df ../x.parquet")
    assert isinstance(result.error_in_exec, UsageError)
    result = shell.run_cell("%mlops data commit")
    assert isinstance(result.error_in_exec, UsageError)
    result = shell.run_cell("%mlops data merge a b --strategy ours")
    assert isinstance(result.error_in_exec, UsageError)
    result = shell.run_cell("%mlops data commit -m x --meta novalue")
    assert isinstance(result.error_in_exec, UsageError)


def test_browse_opens_the_browser(shell: Any) -> None:
    browser = mlops(shell, "data browse")
    assert browser.branch.options == ("main",) and "DataBrowser" in repr(browser)


def test_browser_buttons(data: Any) -> None:
    """On every backend (the ``data`` fixture)."""
    data.write_table(pd.DataFrame({"a": [1]}), "a.parquet")
    data.commit("main", "a")
    browser = DataBrowser(data)
    assert browser.branch.options == ("main",)
    assert "a.parquet" in browser.objects.value and "B</td>" in browser.objects.value
    assert browser.commit_button.button_style == ""  # nothing to commit: not the action
    assert "nothing to commit on main" in browser.commit_button.tooltip

    browser.new_name.value = "exp"
    browser.create_button.click()
    assert browser.branch.value == "exp" and "created branch exp" in browser.status.value
    browser.new_name.value = "exp"
    browser.create_button.click()  # exists: one line, nothing changes
    assert "ConflictError" in browser.status.value and browser.branch.options == ("exp", "main")

    # the diff offers main against the new branch, never main against main
    assert (browser.left.value, browser.right.value) == ("main", "exp")
    assert "merge <b>exp</b>" in browser.merge_from.value  # what the merge takes

    data.write_table(pd.DataFrame({"a": [2]}), "a.parquet", "exp")
    browser.refresh_button.click()
    assert "a.parquet" in browser.staged.value
    assert browser.commit_button.button_style == "success"
    browser.message.value = "change a"
    browser.commit_button.click()
    assert "committed exp" in browser.status.value
    assert "change a" in browser.log.value

    browser.left.value, browser.right.value = "main", "exp"
    browser.diff_button.click()
    assert "changed" in browser.diff_view.value
    # counts per change kind, drawn: one "changed" bar
    assert 'class="mlops-bar" data-label="changed"' in browser.diff_view.value

    # merge asks first; cancel changes nothing
    head = data.resolve("main")
    browser.merge_into.value = "main"
    browser.merge_button.click()
    assert browser.pending_merge == ("exp", "main")
    assert (
        browser.confirm_box.layout.display == "flex" and "a.parquet" in browser.confirm_view.value
    )
    browser.cancel_button.click()
    assert data.resolve("main") == head and browser.pending_merge is None
    browser.confirm_button.click()  # nothing pending
    assert "nothing to confirm" in browser.status.value and data.resolve("main") == head

    # a conflict shows the paths and changes nothing
    data.write_table(pd.DataFrame({"a": [3]}), "a.parquet", "main")
    head = data.commit("main", "main edits a")
    browser.merge_button.click()
    browser.confirm_button.click()
    assert "conflict, nothing merged: a.parquet" in browser.status.value
    assert data.resolve("main") == head

    # a clean merge after resolving
    data.write_table(pd.DataFrame({"a": [3]}), "a.parquet", "exp")
    data.commit("exp", "take main's a")
    data.write_table(pd.DataFrame({"b": [1]}), "b.parquet", "exp")
    data.commit("exp", "add b")
    browser.merge_button.click()
    browser.confirm_button.click()
    assert "merged exp into main" in browser.status.value
    assert data.resolve("main") != head
    assert {o.path for o in data.ls("main")} == {"a.parquet", "b.parquet"}
    with pytest.raises(ConflictError):
        data.create_branch("exp")


def test_help_describes_every_action(shell: Any) -> None:
    text = mlops(shell, "help data")
    for action in (
        "branch",
        "branches",
        "commit",
        "log",
        "diff",
        "merge",
        "tag",
        "protect",
        "ls",
        "reset",
        "read",
        "write",
        "browse",
    ):
        assert f"\n    {action} " in text
    assert "df = %mlops data read PATH" in text
    assert mlops(shell, "data commit -h") is None
