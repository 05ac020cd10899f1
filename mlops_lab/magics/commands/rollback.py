"""`%mlops rollback ENDPOINT`: all traffic back to the previous stable version."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Drop ENDPOINT's canary, or return to the stable version before the last promote."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", help="endpoint name")


def run(ctx: Any, args: argparse.Namespace) -> Any:
    print(ctx.lab.serving.rollback(args.endpoint))
    return None
