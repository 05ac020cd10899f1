from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Create mlops.toml, .mlops/ and a .gitignore entry in the project directory."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="replace a different mlops.toml")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    result = ctx.lab.init(force=args.force)
    print(result)
