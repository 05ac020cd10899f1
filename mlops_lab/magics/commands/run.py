from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Run a notebook with papermill as an MLflow-tracked job (-p NAME VALUE ...)."


def add_parameter_arguments(parser: argparse.ArgumentParser) -> None:
    """-p NAME VALUE (repeatable) and -f params.yaml, shared by run and schedule."""
    parser.add_argument(
        "-p",
        "--parameter",
        dest="pairs",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter (repeatable)",
    )
    parser.add_argument("-f", "--parameters-file", dest="file", help="YAML file of parameters")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="path of the .ipynb to run")
    add_parameter_arguments(parser)
    parser.add_argument("--output", help="where to write the executed notebook")
    parser.add_argument("--timeout", type=float, help="seconds any one cell may run")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    notebooks = ctx.lab.notebooks
    values = notebooks.resolve_parameters(args.notebook, [tuple(p) for p in args.pairs], args.file)
    return notebooks.execute(args.notebook, values, output=args.output, timeout=args.timeout)
