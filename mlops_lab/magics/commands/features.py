"""`%mlops features`: the project's Feast repository (list, apply, materialize, get, online)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mlops_lab.errors import UsageError
from mlops_lab.widgets.progress import ProgressLine

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Feast features: ls | apply | materialize | get ENTITY_DF_VAR | online KEY=V,..."

USAGE_FEATURES = "view:feature refs, view names, or one feature service name"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("ls", help="entities, feature views (and the data commit they read), services")
    apply = sub.add_parser("apply", help="register the repository's definitions")
    apply.add_argument(
        "--data-ref",
        default=None,
        help="data branch, tag or commit the sources read (default: main)",
    )
    mat = sub.add_parser("materialize", help="load feature rows into the online store")
    mat.add_argument("--start", default=None, help="start time (omit for incremental)")
    mat.add_argument("--end", default=None, help="end time (default: now)")
    mat.add_argument("--views", nargs="+", default=None, help="only these feature views")
    get = sub.add_parser("get", help="point-in-time join onto an entity DataFrame variable")
    get.add_argument("entity_df", metavar="ENTITY_DF_VAR")
    get.add_argument("--features", nargs="+", required=True, help=USAGE_FEATURES)
    get.add_argument(
        "--data-ref", default=None, help="read the sources as of this data commit, branch or tag"
    )
    get.add_argument("--full-names", action="store_true", help="prefix columns with the view")
    online = sub.add_parser("online", help="latest materialized values for entity keys")
    online.add_argument(
        "entities",
        metavar="KEY=V1,V2|VAR",
        help="join key values (card_id=1,2) or a variable with rows/DataFrame",
    )
    online.add_argument("--features", nargs="+", required=True, help=USAGE_FEATURES)


def run(ctx: Context, args: argparse.Namespace) -> Any:
    features = ctx.lab.features
    if args.action in (None, "ls"):
        return features.list().table(ctx.max_rows)
    if args.action == "apply":
        print(features.apply(data_ref=args.data_ref))
        return None
    if args.action == "materialize":
        end = args.end or _now()
        progress = ProgressLine() if ctx.shell is not None else None
        if args.start:
            print(features.materialize(args.start, end, args.views, progress))
        else:
            print(features.materialize_incremental(end, args.views, progress))
        return None
    refs = _refs(args.features)
    if args.action == "get":
        frame = ctx.variable(args.entity_df)
        return features.historical(
            frame, refs, data_ref=args.data_ref, full_feature_names=args.full_names
        )
    rows = _entity_rows(ctx, args.entities)
    return features.online(rows, refs)


def _refs(values: list[str]) -> Any:
    refs = [r.strip() for v in values for r in v.split(",") if r.strip()]
    if len(refs) == 1 and ":" not in refs[0]:
        return refs[0]  # a service or a whole view
    return refs


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(tz=UTC).isoformat()


def _entity_rows(ctx: Context, text: str) -> Any:
    if "=" not in text:
        return ctx.variable(text)
    key, _, values = text.partition("=")
    key = key.strip()
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not key or not items:
        raise UsageError(f"'{text}' is not KEY=V1,V2; e.g. card_id=1,2,3")
    return [{key: int(v) if v.lstrip("-").isdigit() else v} for v in items]
