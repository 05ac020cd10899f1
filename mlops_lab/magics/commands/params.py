from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "List a notebook's parameters (its 'parameters' cell) with types and defaults."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="path of the .ipynb")


def run(ctx: Any, args: argparse.Namespace) -> Any:
    return ctx.lab.notebooks.parameters(args.notebook).table(ctx.max_rows)
