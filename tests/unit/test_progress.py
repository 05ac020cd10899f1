"""Progress of long operations: the record the panel reads, the callback a data commit
calls, and the notebook's progress line (rendered HTML, and its clock counting)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from mlops_lab import render
from mlops_lab.errors import UsageError
from mlops_lab.lab import Lab
from mlops_lab.services import progress
from mlops_lab.services.progress import Progress
from mlops_lab.widgets.progress import ProgressLine


def test_a_data_commit_reports_its_size_start_and_end(project: Lab, tmp_path: Path) -> None:
    big = tmp_path / "events.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    project.data.write_file(big, "raw/events.bin")
    project.data.write_file(b"a,b\n1,2\n", "raw/small.csv")
    seen: list[Progress] = []

    commit = project.data.commit(message="raw events", progress=seen.append)

    assert [p.state for p in seen] == ["running", "succeeded"]
    assert seen[0].label == "commit main: 2 changes, 3.0 MB"
    assert seen[0].fraction is None and seen[-1].fraction == 1.0
    assert seen[-1].updated >= seen[0].started
    assert project.data.get_commit(commit).message == "raw events"
    # the panel reads the same record from the project
    (last,) = [p for p in progress.recent(project.root) if p.operation == "data commit"]
    assert last.state == "succeeded" and last.label == seen[0].label


def test_without_a_callback_the_commit_is_still_recorded(project: Lab) -> None:
    project.data.write_file(b"x", "one.txt")
    project.data.commit(message="one file")
    (record,) = progress.recent(project.root)
    assert (record.operation, record.label, record.state) == (
        "data commit",
        "commit main",
        "succeeded",
    )


def test_a_failed_operation_says_why_and_old_records_are_pruned(tmp_path: Path) -> None:
    with (
        pytest.raises(UsageError),
        progress.track(tmp_path, "materialize", "materialize card", 3, "views") as tracker,
    ):
        tracker.advance(1)
        raise UsageError("materialize failed: no online store\nsecond line")
    (failed,) = progress.recent(tmp_path)
    assert failed.state == "failed" and failed.error == "materialize failed: no online store"
    assert failed.done == 1 and failed.fraction == pytest.approx(1 / 3)
    for n in range(progress.KEEP + 5):
        with progress.track(tmp_path, "data commit", f"commit {n}"):
            pass
    kept = progress.recent(tmp_path, limit=100)
    assert len(kept) == progress.KEEP
    assert kept[0].label == f"commit {progress.KEEP + 4}"


def _at(state: str, done: int, total: int | None, seconds: float, error: str = "") -> Progress:
    now = time.time()
    return Progress("materialize", "materialize card_daily (2/3)", done, total, "views",
                    now - seconds, now, state, error)  # fmt: skip


def test_the_progress_line_shows_label_share_time_and_reason() -> None:
    running = render.progress_line("materialize card_daily (2/3)", 1 / 3, 75.4)
    text = re.sub(r"<[^>]+>", "", running)
    assert "materialize card_daily (2/3) · 1 min 15 s · 33%" in text.replace("&middot;", "·")
    assert 'aria-valuenow="33"' in running and 'data-state="running"' in running
    # a long label never runs out of its line: cut with an ellipsis, the full text on hover
    long = render.progress_line("commit main: " + "x" * 300, None, 3)
    assert "text-overflow:ellipsis" in long and 'title="commit main: xxx' in long
    assert "repeating-linear-gradient" in long  # amount not known: a striped bar
    done = render.progress_line("commit main", None, 4, "succeeded")
    assert 'aria-valuenow="100"' in done and "&#10003;" in done
    failed = render.progress_line("commit main", 0.5, 4, "failed", "disk full")
    assert "&#10007;" in failed and ">disk full<" in failed
    assert [render.duration(s) for s in (0.4, 59.9, 61, 3725)] == [
        "0 s",
        "59 s",
        "1 min 01 s",
        "1 h 02 min",
    ]


def test_the_notebook_line_keeps_counting_until_the_end(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_lab.widgets import progress as widget

    monkeypatch.setattr(widget, "_in_kernel", lambda: True)
    line = ProgressLine(tick=0.05)
    line(_at("running", 1, 3, 2.0))
    first = line._repr_html_()
    time.sleep(0.3)
    assert line._ticker is not None and line._ticker.is_alive()
    ticked = capsys.readouterr().out.count("materialize card_daily (2/3): running 33%")
    assert ticked >= 3  # redrawn by the clock, not only by the reports
    line(_at("succeeded", 3, 3, 9.0))
    line._ticker.join(1)
    assert not line._ticker.is_alive()
    assert ">materialize card_daily (2/3)<" in first and "33%" in first
    assert repr(line) == "materialize card_daily (2/3): succeeded 100%, 9 s"


def test_outside_a_kernel_each_report_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = ProgressLine(tick=0.05)
    line(_at("running", 0, None, 1.0))
    time.sleep(0.2)
    line(_at("failed", 0, None, 3.0, error="disk full"))
    assert line._ticker is None
    assert capsys.readouterr().out.splitlines() == [
        "materialize card_daily (2/3): running, 1 s",
        "materialize card_daily (2/3): failed, 3 s (disk full)",
    ]


def test_each_reports_every_item_and_turns_a_library_error_into_one_line(tmp_path: Path) -> None:
    from mlops_lab.errors import BackendError

    seen: list[str] = []
    progress.each(tmp_path, "materialize", ["a", "b"], "views", lambda p: seen.append(p.label),
                  lambda view: None, "materialized a, b")  # fmt: skip
    assert seen == [
        "materialize",
        "materialize a (1/2)",
        "materialize b (2/2)",
        "materialized a, b",
    ]

    def broken(view: str) -> None:
        if view == "b":
            raise ValueError("no table card_stats\nTraceback ...")

    with pytest.raises(BackendError, match=r"^materialize failed: no table card_stats$"):
        progress.each(tmp_path, "materialize", ["a", "b"], "views", None, broken, "")
    failed = progress.recent(tmp_path)[0]
    assert (failed.state, failed.done, failed.total) == ("failed", 1, 2)
