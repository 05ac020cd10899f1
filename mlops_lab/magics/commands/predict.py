"""`%mlops predict ENDPOINT VARIABLE`: score a DataFrame (or row dicts) on an endpoint."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Score the rows in VARIABLE (DataFrame, dict or list of dicts) on ENDPOINT."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", help="endpoint name")
    parser.add_argument("variable", help="notebook variable holding the rows")


def run(ctx: Any, args: argparse.Namespace) -> Any:
    from mlops_lab.display import Table

    answer = ctx.lab.serving.predict(args.endpoint, ctx.variable(args.variable))
    predictions = answer.get("predictions", [])
    return Table(
        ["row", "prediction"],
        list(enumerate(predictions)),
        title=(
            f"{args.endpoint}: {answer.get('model')}/{answer.get('version')} "
            f"({answer.get('variant')})"
        ),
        max_rows=ctx.max_rows,
    )
