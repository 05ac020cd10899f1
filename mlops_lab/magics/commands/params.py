from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "List a notebook's parameters (its 'parameters' cell) with types and defaults."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="path of the .ipynb")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    return ctx.lab.notebooks.parameters(args.notebook).table(ctx.max_rows)
