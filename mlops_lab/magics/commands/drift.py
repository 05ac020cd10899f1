"""`%mlops drift MODEL`: compare data with the model version's training data."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Drift of a DataFrame, data path or prediction window against MODEL's training data."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="fraud@champion or fraud/3")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--current", default=None, help="notebook variable holding a DataFrame")
    source.add_argument("--path", default=None, help="data path to compare (read at --ref)")
    source.add_argument("--window", default=None, help="prediction-log window, e.g. 1h, 15m, 2d")
    parser.add_argument("--ref", default=None, help="data ref for --path (default branch)")
    parser.add_argument("--endpoint", default=None, help="serving endpoint (default: model name)")
    parser.add_argument("--variant", choices=["stable", "canary"], default=None)
    parser.add_argument("--method", default=None, help="one test for every column, e.g. psi")
    parser.add_argument("--columns", default=None, help="comma-separated columns to compare")
    parser.add_argument("--save", default=None, help="also write the report to this HTML file")
    parser.add_argument("--no-record", action="store_true", help="no MLflow run, no metrics")
    parser.add_argument(
        "--widget", action="store_true", help="column picker and window slider (not recorded)"
    )


def run(ctx: Any, args: argparse.Namespace) -> Any:
    from mlops_lab.errors import UsageError

    if args.current is None and args.path is None and args.window is None:
        raise UsageError("%mlops drift needs --current VAR, --path PATH or --window 1h")
    current = ctx.variable(args.current) if args.current else args.path
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if args.widget:
        from mlops_lab.widgets.drift import DriftWidget

        if args.path is not None:
            raise UsageError("--widget compares a --current DataFrame or a --window of predictions")
        widget = DriftWidget(
            ctx.lab,
            args.model,
            current,
            window=args.window or "1h",
            endpoint=args.endpoint,
            variant=args.variant,
        )
        widget.check()
        return widget
    report = ctx.lab.drift.for_model(
        args.model,
        current,
        ref=args.ref,
        window=args.window,
        endpoint=args.endpoint,
        variant=args.variant,
        columns=columns,
        method=args.method,
        record=not args.no_record,
    )
    if args.save:
        report.save(args.save)
    return report
