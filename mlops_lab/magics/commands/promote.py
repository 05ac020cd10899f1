"""`%mlops promote ENDPOINT`: make the canary stable and move the champion alias to it."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Make ENDPOINT's canary the stable version (100%) and move @champion to it."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", help="endpoint name")


def run(ctx: Any, args: argparse.Namespace) -> Any:
    print(ctx.lab.serving.promote(args.endpoint))
    return None
