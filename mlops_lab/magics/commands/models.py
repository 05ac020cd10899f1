"""`%mlops models [NAME]`: registered models, or one model's versions."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "List registered models, or the versions of NAME (metrics, aliases, lineage)."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, help="a registered model")
    parser.add_argument(
        "--widget",
        action="store_true",
        help="open the registry widget (versions, lineage, move an alias)",
    )


def run(ctx: Any, args: argparse.Namespace) -> Any:
    from mlops_lab.display import Table

    registry = ctx.lab.models
    if args.widget:
        from mlops_lab.widgets.registry import RegistryWidget

        return RegistryWidget(ctx.lab, model=args.name).widget
    if args.name is None:
        rows = [
            [
                m.name,
                m.latest_version or "",
                ", ".join(f"@{a}=v{v}" for a, v in sorted(m.aliases.items())),
                m.description,
            ]
            for m in registry.list()
        ]
        return Table(
            ["model", "latest", "aliases", "description"],
            rows,
            title="registered models",
            max_rows=ctx.max_rows,
        )
    return versions_table(registry.versions(args.name), args.name, ctx.max_rows)


def versions_table(versions: list[Any], name: str, max_rows: int = 50) -> Any:
    from mlops_lab import lineage
    from mlops_lab.display import Table

    rows = []
    for v in versions:
        metrics = ", ".join(f"{k}={m:.4g}" for k, m in sorted(v.metrics.items())[:4])
        data = v.lineage.get(lineage.DATA_COMMIT, "")
        rows.append(
            [
                v.version,
                " ".join(f"@{a}" for a in v.aliases),
                metrics,
                ",".join(c[:12] for c in data.split(",") if c),
                v.run_id or "",
                v.created.strftime("%Y-%m-%d %H:%M:%S") if v.created else "",
            ]
        )
    return Table(
        ["version", "aliases", "metrics", "data", "run", "created"],
        rows,
        title=f"versions of '{name}' (%mlops lineage {name}/VERSION)",
        max_rows=max_rows,
    )
