"""`%mlops validate MODEL@ALIAS`: the validation gate before a deploy."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = (
    "Gate a model version: MLflow evaluation vs the baseline, thresholds, latency, slices."
)

EXAMPLES = """\
thresholds:
  --threshold roc_auc>=0.8        the candidate's roc_auc must be at least 0.8
  --threshold log_loss<=0.3       ... at most 0.3 (<= means lower is better)
  --min-change roc_auc=+0.01      at least 0.01 above the baseline's roc_auc
  --min-change roc_auc=+0         no worse than the baseline
  --min-change log_loss=-2%       at least 2% below the baseline's log_loss
Without any, the model's main metric (roc_auc, or root_mean_squared_error for a regressor)
must be no worse than the baseline. With no baseline (the --against alias is not set) only
the thresholds are checked, and the result says so.

examples:
  %mlops validate fraud@challenger --data holdout --target is_fraud --threshold roc_auc>=0.8
  %mlops validate fraud@challenger --data fraud/holdout.parquet --ref main --target is_fraud \\
      --min-change roc_auc=+0 --latency-budget-ms 50 --slice region --max-slice-gap 0.05

The verdict, summary, evaluation run and holdout data commit are tagged on the version
(mlops.validation.*); a deploy of a failed version needs --force.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument("model", help="the candidate: NAME@ALIAS or NAME/VERSION")
    parser.add_argument(
        "--data", required=True, help="holdout: a DataFrame variable, or a path in the data store"
    )
    parser.add_argument("--target", required=True, help="the label column of the holdout")
    parser.add_argument(
        "--ref", default=None, help="branch, tag or commit to read a data path at (pinned)"
    )
    parser.add_argument(
        "--against",
        default="champion",
        help="baseline: an alias of the same model or NAME/VERSION; 'none' for thresholds only",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="METRIC>=VALUE",
        help="absolute threshold (>= greater is better, <= lower is better); repeatable",
    )
    parser.add_argument(
        "--min-change",
        action="append",
        default=[],
        metavar="METRIC=+AMOUNT",
        help="minimum change vs the baseline: +0.01, -0.01, +2%%; repeatable",
    )
    parser.add_argument(
        "--latency-budget-ms",
        type=float,
        default=None,
        help="p99 of one-row predictions must be at most this many milliseconds",
    )
    parser.add_argument(
        "--predict",
        default=None,
        metavar="VARIABLE",
        help="a callable in the notebook (e.g. a served endpoint's client) to time instead of "
        "the model loaded in this kernel",
    )
    parser.add_argument(
        "--slice", default=None, metavar="COLUMN", help="compare the metric per value of COLUMN"
    )
    parser.add_argument(
        "--max-slice-gap", type=float, default=None, help="largest allowed gap between slices"
    )
    parser.add_argument(
        "--slice-metric", default=None, help="metric per slice (default: the first threshold's)"
    )
    parser.add_argument(
        "--model-type",
        choices=["classifier", "regressor"],
        default=None,
        help="how MLflow evaluates (default: guessed from the target column)",
    )


def exit_code(args: argparse.Namespace, result: Any) -> int:
    """`mlops-lab validate` fails a script (a CI step) when the gate does not pass."""
    return 0 if result.passed else 1


def run(ctx: Any, args: argparse.Namespace) -> Any:
    from mlops_lab.errors import UsageError
    from mlops_lab.services.validation_rules import thresholds_from_flags

    data: Any = args.data
    namespace = ctx.shell.user_ns if ctx.shell is not None else {}
    if data.isidentifier() and data in namespace:
        data = namespace[data]
    predict = ctx.variable(args.predict) if args.predict else None
    if predict is not None and not callable(predict):
        raise UsageError(
            f"--predict {args.predict} is not callable; pass a function of a DataFrame"
        )
    return ctx.lab.models.validate(
        args.model,
        data,
        target=args.target,
        thresholds=thresholds_from_flags(args.threshold, args.min_change),
        against=None if args.against.lower() == "none" else args.against,
        data_ref=args.ref,
        model_type=args.model_type,
        latency_budget_ms=args.latency_budget_ms,
        predict=predict,
        slice_column=args.slice,
        max_slice_gap=args.max_slice_gap,
        slice_metric=args.slice_metric,
    )
