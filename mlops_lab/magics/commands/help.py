from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any

from mlops_lab.display import Table

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "List the subcommands, or show one subcommand's options."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subcommand", nargs="?", help="subcommand to describe")


class HelpText(str):
    """Shown as plain preformatted text in notebooks and terminals alike."""

    def __repr__(self) -> str:
        return str(self)


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from mlops_lab import magics

    if args.subcommand:
        module = magics.command_module(args.subcommand)
        return HelpText(magics.build_parser(args.subcommand, module).format_help())
    rows = []
    for name in magics.command_names():
        module = importlib.import_module(f"{magics.commands_package.__name__}.{name}")
        form = "%%mlops" if getattr(module, "TAKES_CELL", False) else "%mlops"
        rows.append([f"{form} {name}", module.DESCRIPTION])
    return Table(
        ["command", "what it does"],
        rows,
        title="mlops-lab magics (%mlops help SUBCOMMAND for its options)",
        max_rows=ctx.max_rows,
    )
