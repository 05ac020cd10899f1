from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Show each backend: its kind, target, and whether it answers."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for each backend (default: MLOps.status_timeout)",
    )


def run(ctx: Context, args: argparse.Namespace) -> Any:
    timeout = args.timeout if args.timeout is not None else ctx.magics.status_timeout
    return ctx.lab.status(timeout=timeout)
