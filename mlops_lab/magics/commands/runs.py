"""`%mlops runs`: the latest MLflow runs of the project's experiment, with their lineage."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "List the latest tracked runs: status, metrics, data commit, notebook."
PLOT_RUNS = 8
"""Runs drawn by --plot (more lines than this are not told apart)."""
PLOT_METRICS = 6


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", default=None, help="experiment (default: [tracking])")
    parser.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    parser.add_argument("--filter", default="", help='MLflow filter, e.g. "metrics.auc > 0.8"')
    parser.add_argument(
        "--plot",
        action="store_true",
        help=f"draw each metric's curve by step for the newest {PLOT_RUNS} runs",
    )


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from mlops_lab import lineage
    from mlops_lab.display import BAD, GOOD, Id, Table, colour, file_link, run_id
    from mlops_lab.errors import UsageError

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    runs = ctx.lab.tracking.runs(args.experiment, max_results=args.limit, filter_string=args.filter)
    if args.plot:
        return plot(ctx, runs[:PLOT_RUNS])
    config = ctx.lab.config
    rows = []
    for r in runs:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items())[:4])
        commits = r.lineage.get(lineage.DATA_COMMIT, "")
        notebook = r.lineage.get(lineage.NOTEBOOK_PATH, "")
        rows.append(
            [
                run_id(config, r.run_id),
                r.name,
                r.status,
                r.start.strftime("%Y-%m-%d %H:%M:%S") if r.start else "",
                metrics,
                [Id(c) for c in commits.split(",") if c],
                file_link(notebook) if notebook else "",
            ]
        )
    experiment = args.experiment or config.tracking.experiment
    return Table(
        ["run", "name", "status", "started", "metrics", "data", "notebook"],
        rows,
        title=f"runs of experiment '{experiment}' ({ctx.lab.tracking.uri})",
        max_rows=ctx.max_rows,
        style=lambda c, v: (
            {"FINISHED": colour(GOOD), "FAILED": colour(BAD)}.get(v, "") if c == "status" else ""
        ),
    )


def plot(ctx: Context, runs: list[Any]) -> Any:
    """Each metric's history per run: lines by step, or bars when every run logged the
    metric once (a final score)."""
    from mlops_lab.render import Figure, bar_chart, line_chart

    client = ctx.lab.tracking.client
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for r in runs:
        label = f"{r.name or 'run'} {r.run_id[:8]}"
        for key in sorted(r.metrics)[:PLOT_METRICS]:
            history = client.get_metric_history(r.run_id, key)
            curves.setdefault(key, {})[label] = [(float(m.step), float(m.value)) for m in history]
    charts, lines = [], []
    for key, series in curves.items():
        if all(len(points) <= 1 for points in series.values()):
            last = {label: points[-1][1] for label, points in series.items() if points}
            charts.append(bar_chart(key, last))
        else:
            charts.append(line_chart(key, series, "step"))
        finals = ", ".join(f"{label}={p[-1][1]:.4g}" for label, p in series.items() if p)
        lines.append(f"{key}: {finals}")
    if not charts:
        return Figure("metric curves", "<div>no metrics logged yet</div>", "no metrics logged yet")
    body = '<div style="display:flex;flex-wrap:wrap;gap:8px">' + "".join(charts) + "</div>"
    return Figure(f"metric curves of the newest {len(runs)} runs", body, "\n".join(lines))
