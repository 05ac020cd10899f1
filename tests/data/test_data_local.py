"""The embedded store's safety: writers killed mid-commit, concurrent writers in separate
processes, content addressing (an unchanged dataset stores nothing new), immutable objects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_lab.backends.data.local import LocalBackend
from mlops_lab.lab import Lab


def files(root: Path, sub: str) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / sub).rglob("*") if p.is_file()}


def store(lab: Lab) -> Path:
    return lab.config.resolve(lab.config.data.path)


WRITER = textwrap.dedent(
    """
    import sys
    import mlops_lab
    lab = mlops_lab.connect(sys.argv[1])
    branch, count, tag = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    for i in range(count):
        lab.data.write_file(f"{tag}-{i}".encode(), f"{tag}/{i}.txt", branch)
    print(lab.data.commit(branch, f"writer {tag}"))
    """
)


def spawn(lab: Lab, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(lab.root), *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("point", ["before-ref", "before-rename:heads"])
def test_writer_killed_mid_commit_leaves_the_previous_head(
    project: Lab, tmp_path: Path, point: str
) -> None:
    data = project.data
    data.write_table(pd.DataFrame({"a": [1]}), "a.parquet")
    head = data.commit("main", "before")
    marker = tmp_path / "paused"
    proc = spawn(project, "main", "3", "w", env={"MLOPS_DATA_TEST_PAUSE": f"{point}={marker}"})
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "writer never reached the commit"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    fresh = LocalBackend(store(project))  # a new reader, no cached state
    assert fresh.resolve("main") == head
    assert (store(project) / "refs" / "heads" / "main").read_text().strip() == head
    assert [o.path for o in fresh.ls(head, "")] == ["a.parquet"]
    # the lock died with the writer; the staged writes are still there to commit
    assert len(data.diff("main")) == 3
    after = data.commit("main", "after the crash")
    assert after != head and data.get_commit(after).parents == (head,)


LOOP = textwrap.dedent(
    """
    import sys
    import mlops_lab
    lab = mlops_lab.connect(sys.argv[1])
    i = 0
    while True:
        i += 1
        lab.data.write_file(str(i).encode() * 1000, f"loop/{i % 7}.bin")
        lab.data.commit("main", f"loop {i}")
    """
)


def test_writers_killed_at_random_moments_leave_a_consistent_store(project: Lab) -> None:
    import random

    rng = random.Random(3)
    root = store(project)
    project.data.branches()
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", LOOP, str(project.root)])
        time.sleep(0.8 + rng.random() * 0.8)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        fresh = LocalBackend(root)
        assert fresh.check(deep=True) == []
        head = fresh.resolve("main")
        for info in fresh.ls(head, "loop/"):
            with fresh.open(head, info.path) as fh:
                assert len(fh.read()) == info.size
    assert len(project.data.log("main", limit=1000)) > 2
    project.data.write_file(b"after", "after.bin")
    assert project.data.commit("main", "still works")


def test_check_reports_damage(project: Lab) -> None:
    data = project.data
    data.write_file(b"payload", "p.bin")
    commit = data.commit("main", "p")
    root = store(project)
    target = Path(data.uri(commit, "p.bin"))
    assert data.backend.check(deep=True) == []
    os.chmod(target, 0o644)
    target.write_bytes(b"PAYLOAD")
    assert "does not match its hash" in data.backend.check(deep=True)[0]
    target.unlink()
    assert "is missing" in data.backend.check()[0]
    (root / "refs" / "tags" / "broken").write_text("f" * 64 + "\n")
    assert any("tag broken points to missing commit" in p for p in data.backend.check())


def test_concurrent_writers_in_processes_lose_nothing(project: Lab) -> None:
    data = project.data
    data.create_branch("shared")
    writers = [spawn(project, "shared", "15", tag) for tag in ("p", "q", "r")]
    for proc in writers:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    paths = [o.path for o in data.ls("shared")]
    assert len(paths) == 45
    assert list(data.diff("shared")) == []  # every writer's commit landed
    for tag in ("p", "q", "r"):
        for i in range(15):
            with data.open(f"{tag}/{i}.txt", "shared") as fh:
                assert fh.read() == f"{tag}-{i}".encode()
    # staging is shared per branch (as in lakeFS): a writer may commit another's files
    assert 1 <= sum(c.message.startswith("writer") for c in data.log("shared")) <= 3


def test_unchanged_dataset_stores_nothing_new(project: Lab, tmp_path: Path) -> None:
    data = project.data
    folder = tmp_path / "dataset"
    folder.mkdir()
    for i in range(4):
        pd.DataFrame({"x": range(i * 100, i * 100 + 100)}).to_parquet(folder / f"part-{i}.parquet")
    time.sleep(0.1)  # leave the racy window so the stat cache may trust these files
    data.write_file(folder, "ds")
    head = data.commit("main", "dataset")
    root = store(project)

    def stored() -> set[str]:
        return (
            files(root, "objects")
            | files(root, "commits")
            | files(root, "refs")
            | files(root, "staging")
        )

    before = stored()
    assert len(files(root, "objects")) == 4 and len(files(root, "commits")) == 2
    data.write_file(folder, "ds")
    assert data.commit("main", "same again") == head
    assert stored() == before
    (folder / "part-0.parquet").unlink()
    pd.DataFrame({"x": range(100)}).to_parquet(folder / "part-0.parquet")  # same bytes, new file
    data.write_file(folder, "ds")
    assert data.commit("main", "rewritten, same bytes") == head
    assert stored() == before


def test_a_folder_is_staged_file_by_file(project: Lab, tmp_path: Path) -> None:
    """Nested and hidden files and symlinks to files are staged; a symlinked folder is not
    entered, and a FIFO is no file."""
    folder = tmp_path / "dataset"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "top.csv").write_text("1")
    (folder / ".hidden").write_text("2")
    (folder / "a" / "b" / "deep.txt").write_text("3")
    (folder / "a-b.txt").write_text("4")
    (folder / "link.csv").symlink_to(folder / "top.csv")
    (folder / "linked-dir").symlink_to(folder / "a")
    os.mkfifo(folder / "pipe")
    staged = project.data.write_file(folder, "ds")
    assert isinstance(staged, list)
    names = [o.path for o in staged]
    assert names == ["ds/.hidden", "ds/a/b/deep.txt", "ds/a-b.txt", "ds/link.csv", "ds/top.csv"]
    commit = project.data.commit("main", "folder")
    with project.data.open("ds/link.csv", commit) as fh:
        assert fh.read() == b"1"


def test_identical_content_is_stored_once(project: Lab) -> None:
    data = project.data
    data.write_file(b"same bytes", "a.txt")
    data.write_file(b"same bytes", "b.bin")
    data.write_file(b"same bytes", "c.txt")
    data.commit("main", "three names, two objects (the extension is kept for readers)")
    assert len(files(store(project), "objects")) == 2


def test_a_rewritten_file_is_hashed_again(project: Lab, tmp_path: Path) -> None:
    """The stat cache must never hide a change, even one of the same size."""
    data = project.data
    local = tmp_path / "f.bin"
    local.write_bytes(b"A" * 64)
    time.sleep(0.1)
    data.write_file(local, "f.bin")
    first = data.commit("main", "A")
    local.write_bytes(b"B" * 64)
    data.write_file(local, "f.bin")
    second = data.commit("main", "B")
    assert second != first
    with data.open("f.bin", second) as fh:
        assert fh.read() == b"B" * 64
    with data.open("f.bin", first) as fh:
        assert fh.read() == b"A" * 64


def test_objects_and_commits_are_read_only_and_refs_have_no_leftovers(project: Lab) -> None:
    data = project.data
    data.write_table(pd.DataFrame({"a": [1]}), "a.parquet")
    commit = data.commit("main", "a")
    path = Path(data.uri(commit, "a.parquet"))
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    root = store(project)
    assert not [p for p in (root / "refs").rglob("*.tmp")]
    assert (root / "refs" / "heads" / "main").read_text() == commit + "\n"


def test_store_is_created_on_first_use_under_the_configured_path(project: Lab) -> None:
    root = store(project)
    assert not root.exists()
    project.data.branches()
    assert (root / "refs" / "heads" / "main").is_file()


def test_gc_frees_only_what_nothing_refers_to(project: Lab) -> None:
    data = project.data
    data.write_file(b"kept", "kept.txt")
    first = data.commit("main", "kept")
    data.create_branch("gone")
    data.write_file(b"on a deleted branch", "old.txt", "gone")
    data.commit("gone", "old")
    data.delete_branch("gone")
    data.write_file(b"dropped", "dropped.txt")
    data.reset("main")
    data.write_file(b"staged", "staged.txt")
    root = store(project)
    (root / "tmp" / "left-by-a-killed-writer").write_bytes(b"x" * 10)
    assert len(files(root, "objects")) == 4
    assert data.gc(grace_seconds=3600).startswith("removed 0 ")  # all too young
    assert data.gc(grace_seconds=0) == "removed 2 unreferenced file(s), 17 B freed"
    assert (
        len(files(root, "objects")) == 3
    )  # kept, old (its commit may be in a run's lineage), staged
    with data.open("kept.txt", first) as fh:
        assert fh.read() == b"kept"
    assert data.commit("main", "staged survives") != first


# ------------------------------------------------------------------ a store that checks itself


def _damage(root: Path, commit: str, where: str) -> str:
    """Damage a real user or a crash could leave; returns what check() must name."""
    if where == "staging":
        (root / "staging" / "main.json").write_bytes(b"{broken")
        return "staging/main.json"
    if where == "ref":
        (root / "refs" / "heads" / "main").write_bytes("\u00e9t\u00e9".encode("latin-1"))
        return "refs/heads/main"
    if where == "commit":
        record = root / "commits" / f"{commit}.json"
        os.chmod(record, 0o644)
        record.write_bytes(b'{"tree')
        return f"commits/{commit}.json"
    if where == "protection":
        (root / "refs" / "protected.json").write_bytes(b"[nope")
        return "refs/protected.json"
    objects = [p for p in (root / "objects").rglob("*") if p.is_file()]
    for path in objects:
        path.unlink()
    return "is missing"


@pytest.mark.parametrize("where", ["staging", "ref", "commit", "protection", "object"])
def test_a_damaged_store_is_reported_and_every_read_fails_in_one_line(
    project: Lab, where: str
) -> None:
    from mlops_lab.errors import LabError

    data = project.data
    data.write_file(b"payload", "p.bin")
    commit = data.commit("main", "p")
    data.write_file(b"staged", "s.bin")
    assert data.check() == [] and data.check(deep=True) == []
    name = _damage(store(project), commit, where)
    problems = data.check()
    assert problems and any(name in p for p in problems), problems
    assert all("\n" not in p for p in problems)
    reads = [
        lambda: data.ls("main"),
        lambda: data.open("p.bin", "main").close(),
        lambda: data.read_table("p.bin", "main"),
        lambda: data.diff("main"),
        lambda: data.log("main"),
        lambda: data.write_file(b"more", "more.bin"),
        lambda: data.commit("main", "more"),
    ]
    failures = 0
    for read in reads:
        try:
            read()
        except LabError as exc:
            if "as parquet" in str(exc):  # p.bin is no table: read_table's own refusal
                continue
            failures += 1
            assert "\n" not in str(exc) and "damaged" in str(exc), str(exc)
            assert "mlops-lab data check" in str(exc)
    assert failures >= 1


def test_a_commit_whose_object_points_outside_the_store_is_refused(
    project: Lab, tmp_path: Path
) -> None:
    import hashlib
    import json

    from mlops_lab.errors import LabError

    data = project.data
    data.branches()
    root = store(project)
    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"not yours")
    head = data.resolve("main")
    escape = os.path.relpath(secret, root / "objects")
    record = {
        "tree": {"x.txt": {"sha256": "0" * 64, "size": 9, "object": escape}},
        "parents": [head],
        "message": "evil",
        "metadata": {},
        "committer": "x",
        "created": time.time(),
    }
    raw = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    commit = hashlib.sha256(raw).hexdigest()
    (root / "commits" / f"{commit}.json").write_bytes(raw)
    (root / "refs" / "heads" / "main").write_text(commit + "\n")
    with pytest.raises(LabError) as caught:
        data.open("x.txt", "main")
    assert "outside" in str(caught.value) or "damaged" in str(caught.value)
    with pytest.raises(LabError):
        data.uri("main", "x.txt")
    assert any("x.txt" in p for p in data.check())


def test_check_from_the_api_the_magic_and_the_cli(
    project: Lab, ipython: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mlops_lab.cli import main

    data = project.data
    data.write_file(b"payload", "p.bin")
    commit = data.commit("main", "p")
    monkeypatch.chdir(project.root)
    clean = CliRunner().invoke(main, ["data", "check", "--deep"])
    assert clean.exit_code == 0 and "no problems" in clean.output, clean.output
    assert "no problems" in repr(ipython.run_line_magic("mlops", "data check"))
    target = Path(data.uri(commit, "p.bin"))
    os.chmod(target, 0o644)
    target.write_bytes(b"PAYLOAD")
    (store(project) / "staging" / "main.json").write_bytes(b"{")
    result = CliRunner().invoke(main, ["data", "check", "--deep"])
    assert result.exit_code == 1, result.output
    assert "does not match its hash" in result.output and "staging/main.json" in result.output
    assert "Traceback" not in result.output
    table = ipython.run_line_magic("mlops", "data check --deep")
    assert len(table.rows) == 2


# ------------------------------------------------------------------ leftovers of killed writers


KILLED_FILE_WRITER = textwrap.dedent(
    """
    import sys
    import mlops_lab
    lab = mlops_lab.connect(sys.argv[1])
    lab.data.write_file(sys.argv[2], "big.bin")
    """
)


def _kill_at(project: Lab, point: str, marker: Path, source: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_FILE_WRITER, str(project.root), str(source)],
        env={**os.environ, "MLOPS_DATA_TEST_PAUSE": f"{point}={marker}"},
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"writer never reached {point}"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_leftovers_of_killed_writers_go_on_the_next_write(project: Lab, tmp_path: Path) -> None:
    data = project.data
    data.branches()
    root = store(project)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(2 << 20))
    _kill_at(project, "before-rename:staging", tmp_path / "m1", source)
    source.write_bytes(os.urandom(2 << 20))  # new bytes: no stat cache hit, a new spool
    _kill_at(project, "spooled", tmp_path / "m2", source)  # killed before it stages
    assert files(root, "tmp"), "the killed writer left no spool file"
    assert [p for p in (root / "staging").iterdir() if p.name.endswith(".tmp")]
    live = root / "tmp" / f"{os.getpid()}-inflight"  # a live writer's spool stays
    live.write_bytes(b"x")
    data.write_file(b"next", "next.txt")
    assert files(root, "tmp") == {f"tmp/{live.name}"}
    assert not [p for p in (root / "staging").iterdir() if p.name.endswith(".tmp")]
    assert data.commit("main", "next") and data.check(deep=True) == []


def test_gc_removes_leftovers_of_dead_writers_only(project: Lab) -> None:
    data = project.data
    data.branches()
    root = store(project)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    staging = root / "staging" / f".main.json.{dead}.0123abcd.tmp"  # written under the lock
    staging.write_bytes(b"{}")
    spool = root / "tmp" / f"{dead}-0123abcd"
    spool.write_bytes(b"x" * 10)
    live = root / "tmp" / f"{os.getpid()}-0123abcd-7"  # a writer storing a file right now
    live.write_bytes(b"x" * 100)
    (root / "objects" / "ab").mkdir()
    small = root / "objects" / "ab" / f".{'c' * 62}.csv.{dead}.0123abcd.tmp"  # a small object's
    small.write_bytes(b"x" * 5)
    assert data.gc(grace_seconds=0) == "removed 3 unreferenced file(s), 17 B freed"
    assert not staging.exists() and not spool.exists() and not small.exists() and live.exists()
