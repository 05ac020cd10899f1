"""Name and size limits, one place for every surface: a NUL byte or an over-long name or
path is one line (a 4xx over REST), never a raw ValueError or OSError."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_lab.errors import TooLargeError, UsageError

LONG = "b" * 260


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda data: data.create_branch(LONG), TooLargeError, "branch name 'bbbb"),
        (lambda data: data.tag(LONG), TooLargeError, "tag name 'bbbb"),
        (lambda data: data.log(ref=LONG), TooLargeError, "ref 'bbbb"),
        (lambda data: data.log(ref="main\x00x"), UsageError, "contains a NUL byte"),
        (lambda data: data.stat("a\x00b.csv"), UsageError, "contains a NUL byte"),
        (lambda data: data.write_file(b"x", "d/" + "p" * 5_000_000), TooLargeError, "path 'd/ppp"),
        (lambda data: data.create_branch("x\x00y"), UsageError, "contains a NUL byte"),
    ],
)
def test_data_names_and_paths_are_bounded(
    project: Any, call: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as info:
        call(project.data)
    message = str(info.value)
    assert words in message and "\n" not in message and len(message) < 300


def test_magic_says_one_line(ipython: Any, capsys: Any, project: Any) -> None:
    result = ipython.run_cell(f"%mlops data log {LONG}")
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert isinstance(result.error_in_exec, TooLargeError)
    assert text.strip() == (
        f"TooLargeError: ref '{'b' * 60}'... (260 characters) is too long "
        "(260 characters, at most 200)"
    )
