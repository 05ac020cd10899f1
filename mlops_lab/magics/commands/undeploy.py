"""`%mlops undeploy ENDPOINT`: stop serving an endpoint (its revisions and log are kept)."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Stop serving ENDPOINT; its revisions and prediction log are kept."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", help="endpoint name")


def run(ctx: Any, args: argparse.Namespace) -> Any:
    print(ctx.lab.serving.undeploy(args.endpoint))
    return None
