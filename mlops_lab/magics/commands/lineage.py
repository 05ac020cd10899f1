"""`%mlops lineage TARGET`: where a model version or run came from, and what used it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Trace NAME@ALIAS, NAME/VERSION or a run id to data, features, notebook."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="fraud@champion, fraud/3 or a run id")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    return ctx.lab.lineage(args.target)
