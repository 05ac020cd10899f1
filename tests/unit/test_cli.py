from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_lab.cli import main


def test_init_status_and_idempotence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    target = tmp_path / "proj"
    result = runner.invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Project at {target}; created mlops.toml")
    again = runner.invoke(main, ["init", str(target)])
    assert again.exit_code == 0 and "already there: mlops.toml" in again.output
    monkeypatch.chdir(target)
    status = runner.invoke(main, ["status", "--timeout", "1"])
    assert status.exit_code == 0
    assert status.output.splitlines()[0] == f"mlops-lab project {target} ({target / 'mlops.toml'})"


def test_init_refuses_a_different_config(tmp_path: Path) -> None:
    (tmp_path / "mlops.toml").write_text('[tracking]\nexperiment = "x"\n')
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {tmp_path / 'mlops.toml'} already exists")
    assert "Traceback" not in result.output
    forced = CliRunner().invoke(main, ["init", "--force", str(tmp_path)])
    assert forced.exit_code == 0 and "mlops.toml (replaced)" in forced.output


def test_bad_config_is_one_line_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlops.toml").write_text("[nope]\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {tmp_path / 'mlops.toml'}: unknown section [nope]; known: data, drift, features, "
        "kubernetes, notebooks, serving, tracking, training\n"
    )


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["stauts"])
    assert result.exit_code == 2
    assert "No such command 'stauts'" in result.output
