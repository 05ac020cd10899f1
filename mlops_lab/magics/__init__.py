"""`%mlops` / `%%mlops`: a dispatcher over one module per subcommand.

Each module in ``mlops_lab.magics.commands`` is a subcommand named after the module. It
defines ``DESCRIPTION`` (one line for `%mlops help`), ``configure(parser)`` to add its
arguments, ``run(ctx, args)`` returning what the cell shows, and optionally
``TAKES_CELL = True`` when it reads a `%%mlops` cell body. Modules import heavy SDKs inside
``run`` only, so `%mlops help` and `%load_ext` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shlex
from collections.abc import Sequence
from typing import Any, NoReturn

from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float, Int, Unicode

from mlops_lab.errors import LabError, UsageError, closest
from mlops_lab.lab import Lab, connect
from mlops_lab.magics import commands as commands_package


class _HelpShown(Exception):
    """`-h` printed the help; the magic returns quietly."""


class CommandParser(argparse.ArgumentParser):
    """argparse that raises the lab's UsageError instead of exiting the kernel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("%mlops ").split(" ")[0]
        raise UsageError(f"{self.prog}: {message}; see %mlops help {command}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            self.error(message or "invalid arguments")
        raise _HelpShown()


class Context:
    """What a subcommand gets: the kernel's lab, the shell, display options and the cell."""

    def __init__(self, magics: MLOps, cell: str | None) -> None:
        self.magics = magics
        self.cell = cell

    @property
    def lab(self) -> Lab:
        return self.magics.lab

    @property
    def shell(self) -> Any:
        return self.magics.shell

    @property
    def max_rows(self) -> int:
        return int(self.magics.max_rows)

    def variable(self, name: str) -> Any:
        """A variable of the user's namespace, or a UsageError naming it."""
        namespace = self.shell.user_ns if self.shell is not None else {}
        if name not in namespace:
            raise UsageError(f"no variable named '{name}' in the notebook; define it first")
        return namespace[name]


def command_names() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(commands_package.__path__)
        if not m.name.startswith("_")
    )


def command_module(name: str) -> Any:
    names = command_names()
    if name not in names:
        close = closest(name, names)
        hint = f"did you mean '{close}'? " if close else ""
        raise UsageError(f"unknown subcommand '{name}'; {hint}run %mlops help for the list")
    return importlib.import_module(f"{commands_package.__name__}.{name}")


def build_parser(name: str, module: Any) -> CommandParser:
    parser = CommandParser(prog=f"%mlops {name}", description=module.DESCRIPTION)
    module.configure(parser)
    return parser


def split_line(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot parse '%mlops {line.strip()}': {exc}; check the quotes") from None


def dispatch(magics: MLOps, argv: Sequence[str], cell: str | None) -> Any:
    if not argv:
        argv = ["help"]
    name, rest = argv[0], list(argv[1:])
    module = command_module(name)
    if cell is not None and not getattr(module, "TAKES_CELL", False):
        raise UsageError(f"%%mlops {name} takes no cell body; use the line form %mlops {name}")
    parser = build_parser(name, module)
    try:
        args = parser.parse_args(rest)
    except _HelpShown:
        return None
    except argparse.ArgumentError as exc:
        parser.error(str(exc))
    return module.run(Context(magics, cell), args)


@magics_class
class MLOps(Magics):
    """The `%mlops` magics. Display options: `%config MLOps.max_rows = 100`."""

    max_rows = Int(50, help="Most rows a table shows before '... N more rows'.").tag(config=True)
    status_timeout = Float(2.5, help="Seconds `%mlops status` waits for each backend.").tag(
        config=True
    )
    project = Unicode(
        "", help="Project directory; empty means search for mlops.toml from the working directory."
    ).tag(config=True)
    show_traceback = Bool(
        False, help="Show full tracebacks of unexpected failures (for bug reports)."
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._lab: Lab | None = None

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            self._lab = connect(self.project or None)
        return self._lab

    def reset(self) -> None:
        """Forget the kernel's lab (the next command reconnects and rereads mlops.toml)."""
        self._lab = None

    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None) -> Any:
        argv = split_line(line)
        try:
            return dispatch(self, argv, cell)
        except LabError:
            raise
        except Exception as exc:
            if self.show_traceback:
                raise
            name = argv[0] if argv else "help"
            raise LabError(
                f"%mlops {name} failed unexpectedly: {type(exc).__name__}: {exc} "
                "(%config MLOps.show_traceback = True shows the details)"
            ) from exc


def load(ipython: Any) -> None:
    ipython.register_magics(MLOps(shell=ipython, parent=ipython))


def unload(ipython: Any) -> None:
    magics = ipython.magics_manager.registry.pop("MLOps", None)
    if magics is not None:
        for kind in ("line", "cell"):
            ipython.magics_manager.magics[kind].pop("mlops", None)
