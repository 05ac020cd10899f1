"""The behavioural suite of lab.data, run unchanged against every backend (``data`` fixture:
the embedded store, lakeFS through the contract-checking server, and live lakeFS with -m live)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_lab import lineage
from mlops_lab.errors import AccessDeniedError, ConflictError, NotFoundError, UsageError


def frame(n: int = 5, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": range(start, start + n), "amount": [float(i) * 1.5 for i in range(n)]}
    )


def test_new_store_has_the_default_branch_and_one_commit(data: Any) -> None:
    assert [b.name for b in data.branches()] == ["main"]
    log = data.log("main")
    assert len(log) == 1
    assert log[0].id == data.resolve("main")
    assert list(data.ls("main")) == []


def test_staged_writes_are_visible_on_the_branch_until_committed(data: Any) -> None:
    first = data.resolve("main")
    info = data.write_table(frame(), "sales/a.parquet", "main")
    assert info.size > 0
    pd.testing.assert_frame_equal(data.read_table("sales/a.parquet", "main"), frame())
    assert [(c.kind, c.path) for c in data.diff("main")] == [("added", "sales/a.parquet")]
    with pytest.raises(NotFoundError):
        data.read_table("sales/a.parquet", first)  # not in the committed state
    commit = data.commit("main", "add sales", metadata={"source": "test"})
    assert len(commit) == 64 and commit == data.resolve("main") != first
    assert list(data.diff("main")) == []
    pd.testing.assert_frame_equal(data.read_table("sales/a.parquet", commit), frame())
    info = data.get_commit(commit)
    assert info.message == "add sales"
    assert info.parents == (first,)
    assert info.metadata["source"] == "test"
    assert info.metadata["mlops.user"]


def test_committing_unchanged_data_makes_no_new_commit(data: Any) -> None:
    data.write_table(frame(), "t.parquet")
    head = data.commit("main", "first")
    assert data.commit("main", "nothing staged") == head
    data.write_table(frame(), "t.parquet")  # identical bytes again
    assert data.commit("main", "same content") == head
    assert len(data.log("main")) == 2


def test_branches_diff_and_clean_merge(data: Any) -> None:
    data.write_table(frame(), "a.parquet")
    data.write_table(frame(3), "gone.parquet")
    base = data.commit("main", "base")
    branch = data.create_branch("exp")
    assert branch.commit_id == base
    assert {b.name for b in data.branches()} == {"main", "exp"}
    data.write_table(frame(7), "a.parquet", "exp")
    data.write_table(frame(2), "new.parquet", "exp")
    data.delete("gone.parquet", "exp")
    data.commit("exp", "change a, add new, remove gone")
    changes = {c.path: c for c in data.diff("main", "exp")}
    assert {p: c.kind for p, c in changes.items()} == {
        "a.parquet": "changed",
        "new.parquet": "added",
        "gone.parquet": "removed",
    }
    assert changes["new.parquet"].size == data.stat("new.parquet", "exp").size
    assert changes["gone.parquet"].size == data.stat("gone.parquet", "main").size
    data.write_table(frame(1), "main-only.parquet", "main")
    data.commit("main", "main moves on")
    merged = data.merge("exp", "main")
    assert merged == data.resolve("main")
    assert sorted(o.path for o in data.ls("main")) == [
        "a.parquet",
        "main-only.parquet",
        "new.parquet",
    ]
    pd.testing.assert_frame_equal(data.read_table("a.parquet", "main"), frame(7))
    assert data.get_commit("main").parents[0] != base
    # merging again brings nothing new and changes nothing
    assert data.merge("exp", "main") == merged


def test_diff_compares_the_two_refs_as_they_are(data: Any) -> None:
    data.write_table(frame(), "a.parquet")
    data.commit("main", "a")
    data.create_branch("exp")
    data.write_table(frame(2), "exp.parquet", "exp")
    data.commit("exp", "exp adds")
    data.write_table(frame(3), "main.parquet", "main")
    data.commit("main", "main adds")
    assert [(c.kind, c.path) for c in data.diff("main", "exp")] == [
        ("added", "exp.parquet"),
        ("removed", "main.parquet"),
    ]
    assert [(c.kind, c.path) for c in data.diff("exp", "main")] == [
        ("removed", "exp.parquet"),
        ("added", "main.parquet"),
    ]


def test_merge_conflict_lists_paths_and_leaves_destination_unchanged(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    data.write_table(frame(), "y.parquet")
    data.commit("main", "base")
    data.create_branch("left")
    data.write_table(frame(4), "x.parquet", "left")
    data.write_table(frame(4), "y.parquet", "left")
    data.commit("left", "left edits")
    data.write_table(frame(6), "x.parquet", "main")
    data.write_table(frame(6), "y.parquet", "main")
    head = data.commit("main", "main edits")
    with pytest.raises(ConflictError) as caught:
        data.merge("left", "main")
    assert caught.value.fields["paths"] == ["x.parquet", "y.parquet"]
    assert "x.parquet" in str(caught.value) and "main' is unchanged" in str(caught.value)
    assert data.resolve("main") == head
    assert list(data.diff("main")) == []
    data.create_branch("theirs", "main")
    data.merge("left", "main", strategy="dest-wins")
    pd.testing.assert_frame_equal(data.read_table("x.parquet", "main"), frame(6))
    data.merge("left", "theirs", strategy="source-wins")
    pd.testing.assert_frame_equal(data.read_table("x.parquet", "theirs"), frame(4))


def test_merge_into_a_branch_with_uncommitted_changes_is_refused(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    data.commit("main", "base")
    data.create_branch("b")
    data.write_table(frame(2), "y.parquet", "b")
    data.commit("b", "y")
    data.write_table(frame(3), "z.parquet", "main")
    head = data.resolve("main")
    with pytest.raises(ConflictError, match="uncommitted changes"):
        data.merge("b", "main")
    assert data.resolve("main") == head


def test_tags_pin_a_commit(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    commit = data.commit("main", "v1")
    assert data.tag("v1", "main") == commit
    data.write_table(frame(9), "x.parquet")
    data.commit("main", "v2")
    pd.testing.assert_frame_equal(data.read_table("x.parquet", "v1"), frame())
    assert data.resolve("v1") == commit
    assert [t.name for t in data.tags()] == ["v1"]
    with pytest.raises(ConflictError):
        data.tag("v1", "main")


def test_reset_drops_uncommitted_changes(data: Any) -> None:
    data.write_table(frame(), "keep.parquet")
    head = data.commit("main", "keep")
    data.write_table(frame(2), "drop.parquet")
    data.write_table(frame(3), "keep.parquet")
    assert len(data.diff("main")) == 2
    data.reset("main")
    assert list(data.diff("main")) == []
    assert [o.path for o in data.ls("main")] == ["keep.parquet"]
    assert data.resolve("main") == head
    pd.testing.assert_frame_equal(data.read_table("keep.parquet"), frame())


def test_log_can_follow_one_path(data: Any) -> None:
    data.write_table(frame(), "a.parquet")
    c1 = data.commit("main", "a")
    data.write_table(frame(), "b/one.parquet")
    c2 = data.commit("main", "b")
    data.write_table(frame(2), "a.parquet")
    c3 = data.commit("main", "a again")
    assert [c.id for c in data.log("main")][:3] == [c3, c2, c1]
    assert [c.id for c in data.log("main", path="a.parquet")] == [c3, c1]
    assert [c.id for c in data.log("main", path="b/")] == [c2]
    assert len(data.log("main", limit=2)) == 2


def test_files_bytes_folders_and_csv(data: Any, tmp_path: Path) -> None:
    data.write_file(b"hello", "raw/hello.txt", "main")
    local = tmp_path / "local.bin"
    local.write_bytes(b"\x00\x01" * 1000)
    data.write_file(local, "raw/local.bin")
    folder = tmp_path / "folder"
    (folder / "part").mkdir(parents=True)
    (folder / "one.txt").write_text("1")
    (folder / "part" / "two.txt").write_text("22")
    written = data.write_file(folder, "dataset")
    assert sorted(o.path for o in written) == ["dataset/one.txt", "dataset/part/two.txt"]
    data.write_table(frame(), "t.csv")
    commit = data.commit("main", "files")
    with data.open("raw/hello.txt", commit) as fh:
        assert fh.read() == b"hello"
    with data.open("raw/local.bin") as fh:
        assert fh.read() == local.read_bytes()
    assert [o.path for o in data.ls("main", prefix="dataset/")] == [
        "dataset/one.txt",
        "dataset/part/two.txt",
    ]
    assert data.stat("dataset/part/two.txt").size == 2
    pd.testing.assert_frame_equal(data.read_table("t.csv"), frame())
    with pytest.raises(NotFoundError, match="not found"):
        data.write_file(tmp_path / "missing.bin", "x.bin")


def test_reads_feed_the_lineage_of_a_run(data: Any) -> None:
    data.write_table(frame(), "a.parquet")
    commit = data.commit("main", "a")
    data.read_table("a.parquet")  # outside a run: nothing to remember
    with lineage.collecting() as seen:
        data.read_table("a.parquet", "main")
        data.open("a.parquet", commit).close()
    assert seen.values[lineage.DATA_COMMIT] == [commit]
    assert seen.values[lineage.DATA_PATHS] == ["a.parquet"]
    data.write_table(frame(2), "a.parquet")  # staged, not committed
    with lineage.collecting(), pytest.warns(UserWarning, match="uncommitted changes"):
        data.read_table("a.parquet", "main")


def test_uri_names_readable_immutable_data(data: Any) -> None:
    data.write_table(frame(), "f/a.parquet")
    commit = data.commit("main", "a")
    uri = data.uri(commit, "f/a.parquet")
    if data.backend.kind == "local":
        assert Path(uri).is_file()
        pd.testing.assert_frame_equal(pd.read_parquet(uri), frame())
        with pytest.raises(UsageError):
            data.uri(commit, "f/a.parquet", s3=True)
    else:
        repo = data.backend.repository
        assert uri == f"lakefs://{repo}/{commit}/f/a.parquet"
        assert data.uri(commit, "f/a.parquet", s3=True) == f"s3://{repo}/{commit}/f/a.parquet"


def test_delete_branch(data: Any) -> None:
    data.create_branch("tmp")
    data.delete_branch("tmp")
    assert [b.name for b in data.branches()] == ["main"]
    with pytest.raises(NotFoundError):
        data.delete_branch("tmp")
    with pytest.raises(UsageError, match="default branch"):
        data.delete_branch("main")


# ------------------------------------------------------------------ bad input: one line, nothing written


def test_unknown_ref(data: Any) -> None:
    for call in (
        lambda: data.read_table("a.parquet", "nope"),
        lambda: data.resolve("nope"),
        lambda: data.diff("main", "nope"),
        lambda: data.create_branch("b", "nope"),
        lambda: data.merge("nope", "main"),
        lambda: data.write_table(frame(), "a.parquet", "nope"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert "\n" not in str(caught.value) and "nope" in str(caught.value)
    assert [b.name for b in data.branches()] == ["main"]


def test_branch_already_exists(data: Any) -> None:
    data.create_branch("exp")
    with pytest.raises(ConflictError, match="exp"):
        data.create_branch("exp")


@pytest.mark.parametrize(
    "path", ["../escape.parquet", "/etc/passwd", "a/../../b.parquet", "", "dir/", "./a"]
)
def test_paths_escaping_the_repository_are_refused(data: Any, path: str) -> None:
    with pytest.raises(UsageError) as caught:
        data.write_table(frame(), path, "main")
    assert "\n" not in str(caught.value)
    with pytest.raises(UsageError):
        data.write_file(b"x", path)
    with pytest.raises(UsageError):
        data.read_table(path)
    assert list(data.diff("main")) == []


@pytest.mark.parametrize("name", ["bad name", "../x", "-lead", "", "\u00e9t\u00e9", "v1.0"])
def test_invalid_branch_names_are_refused(data: Any, name: str) -> None:
    with pytest.raises(UsageError):
        data.create_branch(name)
    assert [b.name for b in data.branches()] == ["main"]


def test_protected_branches_change_only_by_merges(data: Any) -> None:
    data.write_table(frame(), "a.parquet")
    data.commit("main", "a")
    data.create_branch("work")
    assert data.protect("main") == ["main"]
    assert data.protect("release-*") == ["main", "release-*"]
    head = data.resolve("main")
    for write in (
        lambda: data.write_table(frame(2), "a.parquet", "main"),
        lambda: data.write_file(b"x", "x.bin", "main"),
        lambda: data.delete("a.parquet", "main"),
    ):
        with pytest.raises(AccessDeniedError) as caught:
            write()
        assert "protected" in str(caught.value) and "\n" not in str(caught.value)
    assert list(data.diff("main")) == [] and data.resolve("main") == head
    data.create_branch("release-1")
    with pytest.raises(AccessDeniedError, match="protected"):
        data.delete_branch("release-1")  # the lab's rule on every backend (lakeFS allows it)
    assert "release-1" in [b.name for b in data.branches()]
    data.write_table(frame(2), "a.parquet", "work")
    data.commit("work", "a changes")
    merged = data.merge("work", "main")  # the way in
    assert merged != head
    pd.testing.assert_frame_equal(data.read_table("a.parquet", "main"), frame(2))
    assert data.unprotect("main") == ["release-*"]
    data.write_table(frame(3), "a.parquet", "main")
    assert data.commit("main", "unprotected again") != merged
    with pytest.raises(NotFoundError):
        data.unprotect("main")


def test_a_frame_parquet_cannot_hold_is_one_line(data: Any) -> None:
    with pytest.raises(UsageError, match="cannot write this DataFrame as parquet") as caught:
        data.write_table(pd.DataFrame({"a": [object()]}), "bad.parquet")
    assert "\n" not in str(caught.value)
    with pytest.raises(UsageError):
        data.write_table([1, 2], "bad.parquet")
    assert list(data.diff("main")) == []


def test_reading_a_file_that_is_not_a_table_is_one_line(data: Any) -> None:
    data.write_file(b"not parquet", "notes.parquet")
    with pytest.raises(
        UsageError, match=r"cannot read 'notes\.parquet' at 'main' as parquet"
    ) as caught:
        data.read_table("notes.parquet")
    assert "\n" not in str(caught.value)


def test_bad_commit_input(data: Any) -> None:
    data.write_table(frame(), "a.parquet")
    with pytest.raises(UsageError, match="message"):
        data.commit("main", "  ")
    with pytest.raises(UsageError, match="str"):
        data.commit("main", "m", metadata={"n": 1})
    with pytest.raises(UsageError, match="strategy"):
        data.merge("main", "main", strategy="ours")
    assert len(data.diff("main")) == 1


def test_commits_record_the_notebook_its_git_state_and_the_user(
    data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    code = tmp_path / "code"
    code.mkdir()
    notebook = code / "train.ipynb"
    notebook.write_text("{}")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=code, check=True)
    subprocess.run([*git, "add", "train.ipynb"], cwd=code, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "nb"], cwd=code, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=code, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setenv("MLOPS_NOTEBOOK_PATH", str(notebook))
    data.write_table(frame(), "a.parquet")
    meta = data.get_commit(data.commit("main", "from a notebook")).metadata
    assert meta[lineage.NOTEBOOK_PATH] == str(notebook.resolve())
    assert meta[lineage.NOTEBOOK_GIT_SHA] == sha
    assert meta[lineage.NOTEBOOK_GIT_DIRTY] == "false"
    assert meta["mlops.user"]
    notebook.write_text('{"changed": true}')
    data.write_table(frame(2), "a.parquet")
    meta = data.get_commit(data.commit("main", "edited notebook")).metadata
    assert meta[lineage.NOTEBOOK_GIT_DIRTY] == "true"


# ------------------------------------------------------------------ merges, names and refs as lakeFS has them


def _diverged(data: Any) -> tuple[str, str]:
    """x.parquet changed differently on 'left' and on main since their base."""
    data.write_table(frame(), "x.parquet")
    data.commit("main", "base")
    data.create_branch("left")
    data.write_table(frame(4), "x.parquet", "left")
    left = data.commit("left", "left edits x")
    data.write_table(frame(6), "x.parquet", "main")
    return left, data.commit("main", "main edits x")


def test_dest_wins_merge_then_merge_again_is_clean(data: Any) -> None:
    left, head = _diverged(data)
    merged = data.merge("left", "main", strategy="dest-wins")
    info = data.get_commit(merged)
    assert merged != head and info.parents == (head, left)  # a merge commit, even unchanged
    assert info.metadata[".lakefs.merge.strategy"] == "dest-wins"
    assert list(data.diff(head, merged)) == []
    assert data.merge("left", "main") == merged  # nothing new on left: no conflict again
    data.write_table(frame(2), "y.parquet", "left")
    data.commit("left", "left adds y")
    again = data.merge("left", "main")
    assert data.get_commit(again).metadata[".lakefs.merge.strategy"] == "default"
    pd.testing.assert_frame_equal(data.read_table("x.parquet", "main"), frame(6))
    pd.testing.assert_frame_equal(data.read_table("y.parquet", "main"), frame(2))


def test_the_same_change_on_both_sides_merges_without_conflict(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    data.commit("main", "base")
    data.create_branch("left")
    data.write_table(frame(3), "x.parquet", "left")
    left = data.commit("left", "same edit")
    data.write_table(frame(3), "x.parquet", "main")
    head = data.commit("main", "same edit")
    merged = data.merge("left", "main")
    assert data.get_commit(merged).parents == (head, left)
    assert list(data.diff(head, merged)) == []
    assert data.merge("left", "main") == merged


def test_a_source_with_nothing_new_changes_nothing(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    data.commit("main", "base")
    data.create_branch("idle")
    data.write_table(frame(2), "x.parquet", "main")
    head = data.commit("main", "main moves on")
    assert data.merge("idle", "main") == head
    assert data.merge("main", "main") == head


def test_deleting_a_path_that_is_not_there_is_one_line(data: Any) -> None:
    with pytest.raises(NotFoundError, match=r"missing\.parquet") as caught:
        data.delete("missing.parquet")
    assert "\n" not in str(caught.value)
    assert list(data.diff("main")) == []


def test_log_of_a_path_skips_merge_commits(data: Any) -> None:
    data.write_table(frame(), "a.parquet")
    data.commit("main", "a")
    data.create_branch("b")
    data.write_table(frame(2), "a.parquet", "b")
    on_branch = data.commit("b", "a on b")
    data.write_table(frame(3), "other.parquet", "main")
    data.commit("main", "other")
    merged = data.merge("b", "main")
    assert merged in [c.id for c in data.log("main")]
    assert [c.id for c in data.log("main", path="a.parquet")][:1] == [on_branch]
    assert merged not in [c.id for c in data.log("main", path="a.parquet")]


def test_branch_and_tag_names_never_collide(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    commit = data.commit("main", "x")
    data.tag("v1.0", "main")  # git-style tag names
    assert data.resolve("v1.0") == commit
    data.create_branch("exp")
    with pytest.raises(ConflictError, match="exp"):
        data.tag("exp", "main")
    data.tag("release", "main")
    with pytest.raises(ConflictError, match="release"):
        data.create_branch("release")
    with pytest.raises(ConflictError):
        data.create_branch(commit)  # a branch named like a commit id
    assert {b.name for b in data.branches()} == {"main", "exp"}
    for bad in ("v1..0", "v1/0", "v1.lock", "bad tag", "@", "v1^"):
        with pytest.raises(UsageError):
            data.tag(bad, "main")


def test_a_branch_named_like_a_commit_prefix_resolves_to_the_branch(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    first = data.commit("main", "x")
    data.write_table(frame(2), "x.parquet")
    second = data.commit("main", "x again")
    data.create_branch(second[:12], first)
    assert data.resolve(second[:12]) == first
    assert data.resolve(second) == second  # a full commit id comes first


def test_ref_modifiers(data: Any) -> None:
    data.write_table(frame(), "x.parquet")
    c1 = data.commit("main", "one")
    data.write_table(frame(2), "x.parquet")
    c2 = data.commit("main", "two")
    data.create_branch("side", c1)
    data.write_table(frame(3), "y.parquet", "side")
    side = data.commit("side", "side")
    merged = data.merge("side", "main")
    assert data.resolve("main~1") == c2 and data.resolve("main^1") == c2
    assert data.resolve("main^2") == side and data.resolve("main~2") == c1
    assert data.resolve(f"{merged}~1~1") == c1 and data.resolve("main^") == c2
    data.write_table(frame(9), "x.parquet")  # staged on main
    pd.testing.assert_frame_equal(data.read_table("x.parquet", "main@"), frame(2))
    pd.testing.assert_frame_equal(data.read_table("x.parquet", "main$"), frame(9))
    pd.testing.assert_frame_equal(data.read_table("x.parquet", "main~2"), frame())
    with pytest.raises(NotFoundError):
        data.resolve("main~99")


def test_empty_files_round_trip(data: Any) -> None:
    data.write_file(b"", "empty.txt")
    commit = data.commit("main", "an empty file")
    assert data.stat("empty.txt", commit).size == 0
    with data.open("empty.txt", commit) as fh:
        assert fh.read() == b""
