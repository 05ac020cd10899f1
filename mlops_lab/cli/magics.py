"""The `%mlops` subcommands as `mlops-lab` subcommands, generated from the same modules.

Each module in ``mlops_lab.magics.commands`` keeps its one argparse parser (``configure``)
and its one implementation (``run``); here each becomes a click command that hands its
arguments to that parser and prints what ``run`` returns as text. Outside a kernel:

- a `%%mlops` cell body comes from ``--file BODY.py`` (``-`` reads standard input);
- an argument naming a notebook variable names a file instead: ``.json`` is parsed (rows or a
  dict), ``.csv`` and ``.parquet`` are read into a DataFrame, any other file is its path;
- widgets (``--widget``, ``data browse``) need a notebook and are refused with one line;
- a module may define ``exit_code(args, result)`` for a result that should fail a script
  (``data check`` with problems, a validation that did not pass).

Command modules are imported only when their command runs or ``--help`` lists them, so
`mlops-lab run` does not pay for IPython.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from mlops_lab.cli import for_terminal
from mlops_lab.errors import LabError, UsageError

DEFAULT_MAX_ROWS = 50

COMMANDS_DIR = Path(__file__).resolve().parents[1] / "magics" / "commands"
COMMANDS_PACKAGE = "mlops_lab.magics.commands"

# Magics with no `mlops-lab` twin, and why.
KERNEL_ONLY = {
    "help": "`mlops-lab --help` and `mlops-lab COMMAND --help` print the same parsers' help",
}
# Magics whose `mlops-lab` command is the click command of the same name in this package,
# because the terminal form takes more than the kernel's, and why.
CLICK_TWINS = {
    "init": "takes the project DIRECTORY (a kernel already has its project)",
    "run": "--cwd, and ends the process as soon as the job is recorded",
    "schedule": "all CronJob options; its --list/--delete are `schedules`/`unschedule`",
}


def twin_names() -> list[str]:
    """The magics generated here: every command module but the two lists above."""
    return sorted(
        path.stem
        for path in COMMANDS_DIR.glob("*.py")
        if not path.stem.startswith("_") and path.stem not in KERNEL_ONLY | CLICK_TWINS
    )


class CliParser(argparse.ArgumentParser):
    """A command module's parser: usage errors become UsageError, help exits 0."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        command = " ".join(self.prog.split()[:2])
        raise UsageError(f"{self.prog}: {message}; see {command} --help")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            self.error(message or "invalid arguments")
        raise click.exceptions.Exit(0)

    def format_help(self) -> str:
        return for_terminal(super().format_help())


def build_parser(name: str, module: Any) -> CliParser:
    parser = CliParser(prog=f"mlops-lab {name}", description=module.DESCRIPTION)
    module.configure(parser)
    if getattr(module, "TAKES_CELL", False):
        parser.add_argument(
            "--file",
            dest="cell_file",
            required=True,
            metavar="BODY.py",
            help="the script a %%%%mlops cell would hold ('-' reads standard input)",
        )
    return parser


class TerminalContext:
    """What a command module's ``run`` gets in a terminal (the magics' Context, no kernel)."""

    shell = None
    status_timeout = 2.5

    def __init__(self, name: str, cell_file: str | None, max_rows: int) -> None:
        self.name = name
        self.cell = _cell(name, cell_file)
        self.cell_path = str(Path(cell_file).resolve()) if cell_file and cell_file != "-" else ""
        self.max_rows = max_rows
        self.magics = self  # modules read display options (status_timeout) from here
        self._lab: Any = None

    @property
    def lab(self) -> Any:
        if self._lab is None:
            from mlops_lab.lab import connect

            self._lab = connect()
        return self._lab

    def variable(self, name: str) -> Any:
        """A notebook variable's stand-in: the file ``name``."""
        path = Path(name)
        if not path.is_file():
            raise UsageError(
                f"mlops-lab {self.name}: '{name}' is not a file; outside a notebook pass a file "
                "(.json rows, .csv or .parquet table, or any file to upload)"
            )
        suffix = path.suffix.lower()
        if suffix == ".json":
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise UsageError(f"{path} is not valid JSON ({exc}); fix the file") from None
        if suffix in (".csv", ".parquet"):
            import pandas as pd

            try:
                return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
            except (ValueError, OSError, pd.errors.ParserError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise UsageError(f"cannot read {path} as {suffix[1:]} ({reason})") from None
        return str(path)


def _cell(name: str, file: str | None) -> str | None:
    if file is None:
        return None
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"mlops-lab {name}: cannot read --file {file} ({exc})") from None


def _is_widget(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith(("ipywidgets", "mlops_lab.widgets"))


def show(result: Any, max_rows: int) -> None:
    """Print what ``run`` returned: its text form (the repr a notebook falls back to; a
    DataFrame cut at ``max_rows``), with `%mlops` hints given as the `mlops-lab` commands."""
    if result is None:
        return
    if type(result).__module__.startswith("pandas"):
        click.echo(result.to_string(max_rows=max_rows))
        return
    click.echo(for_terminal(result if type(result) is str else repr(result)))


def invoke(name: str, argv: list[str], max_rows: int = DEFAULT_MAX_ROWS) -> int:
    """Parse ``argv`` with the module's parser, run it, print the result; the exit code."""
    module = importlib.import_module(f"{COMMANDS_PACKAGE}.{name}")
    parser = build_parser(name, module)
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        parser.error(str(exc))
    if getattr(args, "widget", False):
        raise UsageError(f"mlops-lab {name}: --widget needs a notebook; leave it out here")
    ctx = TerminalContext(name, getattr(args, "cell_file", None), max_rows)
    try:
        result = module.run(ctx, args)
    except (LabError, click.exceptions.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise LabError(
            f"mlops-lab {name} failed unexpectedly: {type(exc).__name__}: {exc} "
            "(MLOPS_DEBUG=1 shows the traceback)"
        ) from exc
    if _is_widget(result):
        raise UsageError(f"mlops-lab {name}: this shows a widget, which needs a notebook")
    show(result, max_rows)
    exit_code = getattr(module, "exit_code", None)
    return int(exit_code(args, result)) if exit_code else 0


class MagicCommand(click.Command):
    """A click command that passes everything to the magic's own parser."""

    def __init__(self, name: str) -> None:
        super().__init__(
            name,
            params=[click.Argument(["argv"], nargs=-1, type=click.UNPROCESSED)],
            callback=self._run,
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )

    def _module(self) -> Any:
        return importlib.import_module(f"{COMMANDS_PACKAGE}.{self.name}")

    def get_short_help_str(self, limit: int = 150) -> str:
        description: str = self._module().DESCRIPTION
        return description if len(description) <= limit else description[: limit - 3] + "..."

    def get_help(self, ctx: click.Context) -> str:
        return build_parser(str(self.name), self._module()).format_help()

    def _run(self, argv: tuple[str, ...]) -> None:
        options = click.get_current_context().find_root().params
        code = invoke(str(self.name), list(argv), options.get("max_rows") or DEFAULT_MAX_ROWS)
        if code:
            sys.exit(code)


COMMANDS: list[click.Command] = [MagicCommand(name) for name in twin_names()]
