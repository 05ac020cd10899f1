"""`%mlops alias NAME ALIAS VERSION`: move (or with --delete, remove) a model alias."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Point NAME@ALIAS at VERSION (e.g. fraud champion 3), or --delete it."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="registered model")
    parser.add_argument("alias", help="alias, e.g. champion or challenger")
    parser.add_argument("version", nargs="?", default=None, help="version number")
    parser.add_argument("--delete", action="store_true", help="remove the alias")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from mlops_lab.errors import LabError, UsageError

    registry = ctx.lab.models
    if args.delete:
        if args.version is not None:
            raise UsageError("%mlops alias: --delete takes no VERSION; see %mlops help alias")
        registry.delete_alias(args.name, args.alias)
        print(f"removed {args.name}@{args.alias}")
        return None
    if args.version is None:
        raise UsageError("%mlops alias: VERSION is required (or --delete); see %mlops help alias")
    previous = None
    try:
        previous = registry.get(f"{args.name}@{args.alias}").version
    except LabError:
        previous = None
    version = registry.set_alias(args.name, args.alias, args.version)
    moved = f" (was {previous})" if previous not in (None, version.version) else ""
    print(f"{version.name}@{args.alias} -> version {version.version}{moved}")
    return None
