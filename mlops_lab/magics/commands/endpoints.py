"""`%mlops endpoints [ENDPOINT]`: endpoints with their traffic split and live figures."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Endpoints: versions, weights, gate verdict, live rate/errors/p50/p99; --widget."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", nargs="?", default=None, help="one endpoint: its revisions")
    parser.add_argument(
        "--widget", action="store_true", help="open the endpoints widget (deploy buttons)"
    )


def run(ctx: Any, args: argparse.Namespace) -> Any:
    from mlops_lab.display import Table
    from mlops_lab.services.endpoint_state import REVISION_COLUMNS

    if args.widget:
        from mlops_lab.widgets.endpoints import EndpointsWidget

        return EndpointsWidget(ctx.lab).widget
    serving = ctx.lab.serving
    if args.endpoint is not None:
        revisions = serving.revisions(args.endpoint)
        status = serving.status(args.endpoint)
        return Table(
            REVISION_COLUMNS,
            [r.row() for r in reversed(revisions)],
            title=f"{status}",
            max_rows=ctx.max_rows,
        )
    return endpoints_table(serving.endpoints(), serving.metrics_url(), ctx.max_rows)


def endpoints_table(statuses: list[Any], metrics_url: str | None, max_rows: int = 50) -> Any:
    from mlops_lab.display import Table

    rows = []
    for status in statuses:
        traffic = status.traffic()
        if not traffic:
            rows.append([status.endpoint, status.state, "", "", "", "", "", "", "", status.url])
        for item in traffic:
            rows.append(
                [
                    status.endpoint,
                    status.state,
                    f"{item['model']}/{item['version']}",
                    item["variant"],
                    f"{item['weight']}%",
                    item["gate"],
                    f"{item['rate_per_s']:.1f}/s",
                    f"{item['error_rate']:.1%}",
                    _ms(item["p50_ms"], item["p99_ms"]),
                    status.url,
                ]
            )
    notes = [f"Prometheus metrics: {metrics_url}"] if metrics_url else []
    return Table(
        ["endpoint", "state", "version", "variant", "weight", "gate", "rate", "errors",
         "p50/p99 ms", "url"],
        rows,
        title="endpoints",
        notes=notes,
        max_rows=max_rows,
    )  # fmt: skip


def _ms(p50: float | None, p99: float | None) -> str:
    if p50 is None or p99 is None:
        return ""
    return f"{p50:.1f} / {p99:.1f}"
