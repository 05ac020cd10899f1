"""`%mlops runs`: the latest MLflow runs of the project's experiment, with their lineage."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "List the latest tracked runs: status, metrics, data commit, notebook."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", default=None, help="experiment (default: [tracking])")
    parser.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    parser.add_argument("--filter", default="", help='MLflow filter, e.g. "metrics.auc > 0.8"')


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from mlops_lab import lineage
    from mlops_lab.display import BAD, GOOD, Table, colour
    from mlops_lab.errors import UsageError

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    runs = ctx.lab.tracking.runs(args.experiment, max_results=args.limit, filter_string=args.filter)
    rows = []
    for r in runs:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items())[:4])
        commits = r.lineage.get(lineage.DATA_COMMIT, "")
        notebook = r.lineage.get(lineage.NOTEBOOK_PATH, "")
        rows.append(
            [
                r.run_id,
                r.name,
                r.status,
                r.start.strftime("%Y-%m-%d %H:%M:%S") if r.start else "",
                metrics,
                ",".join(c[:12] for c in commits.split(",") if c),
                notebook.rsplit("/", 1)[-1],
            ]
        )
    experiment = args.experiment or ctx.lab.config.tracking.experiment
    return Table(
        ["run", "name", "status", "started", "metrics", "data", "notebook"],
        rows,
        title=f"runs of experiment '{experiment}' ({ctx.lab.tracking.uri})",
        max_rows=ctx.max_rows,
        style=lambda c, v: (
            {"FINISHED": colour(GOOD), "FAILED": colour(BAD)}.get(v, "") if c == "status" else ""
        ),
    )
