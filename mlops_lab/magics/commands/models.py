"""`%mlops models [NAME]`: registered models, or one model's versions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "List registered models, or the versions of NAME (metrics, aliases, lineage)."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, help="a registered model")
    parser.add_argument(
        "--widget",
        action="store_true",
        help="open the registry widget (versions, lineage, move an alias)",
    )


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from mlops_lab.display import Table, model_ref

    registry = ctx.lab.models
    if args.widget:
        from mlops_lab.widgets.registry import RegistryWidget

        return RegistryWidget(ctx.lab, model=args.name).widget
    if args.name is None:
        rows = [
            [
                model_ref(ctx.lab.config, m.name),
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
    return registry.versions(args.name).table(ctx.max_rows)
