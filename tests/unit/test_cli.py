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


def test_every_magic_has_a_cli_twin_from_its_own_parser() -> None:
    """Each %mlops subcommand but the kernel-only ones is a mlops-lab command: generated
    from the magic's module (same arguments), or a click command that takes more."""
    import click

    from mlops_lab import magics
    from mlops_lab.cli import magics as twins

    ctx = click.Context(main)
    commands = {name: main.get_command(ctx, name) for name in main.list_commands(ctx)}
    assert set(twins.KERNEL_ONLY) <= set(magics.command_names())
    assert all(why for why in [*twins.KERNEL_ONLY.values(), *twins.CLICK_TWINS.values()])
    for name in magics.command_names():
        if name in twins.KERNEL_ONLY:
            assert name not in commands, name
            continue
        command = commands.get(name)
        assert command is not None, f"%mlops {name} has no mlops-lab twin"
        if name in twins.CLICK_TWINS:
            assert not isinstance(command, twins.MagicCommand), name
            continue
        assert isinstance(command, twins.MagicCommand), name
        module = magics.command_module(name)
        kernel = magics.build_parser(name, module)
        terminal = twins.build_parser(name, module)
        added = {"cell_file"} if getattr(module, "TAKES_CELL", False) else set()
        assert [(a.dest, a.option_strings) for a in terminal._actions if a.dest not in added] == [
            (a.dest, a.option_strings) for a in kernel._actions
        ], name


def test_terminal_help_is_the_magic_parsers_help() -> None:
    from mlops_lab.cli import magics as twins

    for name in twins.twin_names():
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"usage: mlops-lab {name} "), result.output
        assert "%mlops" not in result.output, result.output
    logs = CliRunner().invoke(main, ["logs", "--help"]).output
    assert "Print the logs of a training job" in logs
    assert "job id, as mlops-lab jobs lists it" in logs
