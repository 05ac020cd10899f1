"""The %mlops shell: dispatch, help, and every bad input answered by one line, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_lab import magics
from mlops_lab.errors import ConfigError, LabError, UsageError


def run(ipython: Any, capsys: pytest.CaptureFixture[str], line: str) -> tuple[Any, str]:
    result = ipython.run_cell(line)
    out = capsys.readouterr()
    return result, out.out + out.err


def assert_one_line_error(result: Any, shown: str, first_line: str, kind: type[LabError]) -> None:
    assert isinstance(result.error_in_exec, kind), result.error_in_exec
    assert shown.splitlines()[0] == first_line
    assert "Traceback" not in shown and 'File "' not in shown
    assert len(shown.strip().splitlines()) == 1


def test_help_lists_every_subcommand(ipython: Any) -> None:
    table = ipython.run_line_magic("mlops", "help")
    names = [row[0] for row in table.rows]
    assert names == [
        ("%%mlops " if getattr(magics.command_module(n), "TAKES_CELL", False) else "%mlops ") + n
        for n in magics.command_names()
    ]
    assert all(row[1] for row in table.rows)


def test_help_for_one_subcommand(ipython: Any) -> None:
    text = ipython.run_line_magic("mlops", "help status")
    assert text.startswith("usage: %mlops status [-h] [--timeout TIMEOUT]")


def test_status_renders_html_and_text(ipython: Any, project: Any) -> None:
    report = ipython.run_line_magic("mlops", "status")
    assert "<table" in report._repr_html_()
    assert repr(report).splitlines()[0].startswith("mlops-lab project ")


def test_unknown_subcommand_suggests_the_closest(ipython: Any, capsys: Any, project: Any) -> None:
    result, shown = run(ipython, capsys, "%mlops nosuch")
    assert_one_line_error(
        result,
        shown,
        "UsageError: unknown subcommand 'nosuch'; run %mlops help for the list",
        UsageError,
    )
    result, shown = run(ipython, capsys, "%mlops stauts")
    assert shown.startswith("UsageError: unknown subcommand 'stauts'; did you mean 'status'?")
    result, shown = run(ipython, capsys, "%mlops DATA")
    assert shown.startswith("UsageError: unknown subcommand 'DATA'; did you mean 'data'?")
    result, shown = run(ipython, capsys, "%mlops frobnicate")
    assert "did you mean" not in shown


def test_unknown_flag(ipython: Any, capsys: Any, project: Any) -> None:
    result, shown = run(ipython, capsys, "%mlops status --bogus")
    assert_one_line_error(
        result,
        shown,
        "UsageError: %mlops status: unrecognized arguments: --bogus; see %mlops help status",
        UsageError,
    )


def test_bad_flag_value_and_quotes(ipython: Any, capsys: Any, project: Any) -> None:
    result, shown = run(ipython, capsys, "%mlops status --timeout soon")
    assert_one_line_error(
        result,
        shown,
        "UsageError: %mlops status: argument --timeout: invalid float value: 'soon'; "
        "see %mlops help status",
        UsageError,
    )
    result, shown = run(ipython, capsys, "%mlops status 'unclosed")
    assert_one_line_error(
        result,
        shown,
        "UsageError: cannot parse '%mlops status 'unclosed': No closing quotation; check the quotes",
        UsageError,
    )


def test_no_config_anywhere_says_so_and_works(
    ipython: Any, capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result, _ = run(ipython, capsys, "%mlops status")
    assert result.error_in_exec is None
    report = result.result
    assert repr(report).splitlines()[0] == (
        f"No mlops.toml found in {tmp_path} or any parent; using embedded defaults in "
        f"{tmp_path}. Run `mlops-lab init` to create one."
    )
    assert report["data"].reachable
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        (
            "[data\n",
            "ConfigError: {file}:1:6: invalid TOML: Expected ']' at the end of a table "
            "declaration; fix the file and retry",
        ),
        ("[dta]\n", "ConfigError: {file}: unknown section [dta]; did you mean 'data'?"),
        (
            '[data]\nbackned = "x"\n',
            "ConfigError: {file}: unknown key 'backned' in [data]; did you mean 'backend'?",
        ),
        (
            '[tracking]\npassword = "s3cret"\n',
            "SecretInConfigError: {file}: [tracking] password looks like a secret and secrets are "
            "never read from mlops.toml; remove it and set MLFLOW_TRACKING_TOKEN (or "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) instead",
        ),
    ],
)
def test_bad_config_is_one_line(
    ipython: Any,
    capsys: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    first_line: str,
) -> None:
    file = tmp_path / "mlops.toml"
    file.write_text(text)
    monkeypatch.chdir(tmp_path)
    result, shown = run(ipython, capsys, "%mlops status")
    assert_one_line_error(result, shown, first_line.format(file=file), ConfigError)
    assert "s3cret" not in shown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlops.toml"]


def test_unreachable_endpoint_shows_in_status(
    ipython: Any, capsys: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    result, _ = run(ipython, capsys, "%mlops status --timeout 1")
    row = result.result["tracking"]
    assert not row.reachable and row.reason.startswith(
        "cannot connect to http://127.0.0.1:9/health"
    )


def test_unexpected_failures_are_one_line_too(
    ipython: Any, capsys: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, timeout: float = 2.5) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("mlops_lab.lab.Lab.status", broken)
    result, shown = run(ipython, capsys, "%mlops status")
    assert_one_line_error(
        result,
        shown,
        "LabError: %mlops status failed unexpectedly: RuntimeError: boom "
        "(%config MLOps.show_traceback = True shows the details)",
        LabError,
    )


def test_cell_body_refused_where_not_taken(ipython: Any, capsys: Any, project: Any) -> None:
    result, shown = run(ipython, capsys, "%%mlops status\nbody\n")
    assert_one_line_error(
        result,
        shown,
        "UsageError: %%mlops status takes no cell body; use the line form %mlops status",
        UsageError,
    )


def test_display_options_are_traitlets(ipython: Any, project: Any) -> None:
    ipython.run_line_magic("config", "MLOps.max_rows = 1")
    table = ipython.run_line_magic("mlops", "help")
    assert repr(table).splitlines()[-1].startswith("... ")
    assert "more rows" in table._repr_html_()


def test_init_magic(
    ipython: Any, capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result, shown = run(ipython, capsys, "%mlops init")
    assert result.error_in_exec is None
    assert shown.startswith(f"Project at {tmp_path}; created mlops.toml")
    assert (tmp_path / "mlops.toml").is_file()


def test_abbreviated_flags_are_refused(ipython: Any, capsys: Any, project: Any) -> None:
    result, shown = run(ipython, capsys, "%mlops status --time 1")
    assert_one_line_error(
        result,
        shown,
        "UsageError: %mlops status: unrecognized arguments: --time 1; see %mlops help status",
        UsageError,
    )
