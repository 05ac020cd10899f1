"""`%mlops register`: a new model version from a run or model URI."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Register a run's model (run id, runs:/ID/NAME, models:/..., or a run variable)."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="run id, runs:/ID/NAME, models:/m-..., or a variable")
    parser.add_argument("--name", required=True, help="registered model name, e.g. fraud")
    parser.add_argument("--alias", default=None, help="then point this alias at the version")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    source: Any = args.source
    namespace = ctx.shell.user_ns if ctx.shell is not None else {}
    if re.fullmatch(r"[A-Za-z_]\w*", source) and source in namespace:
        source = namespace[source]
    version = ctx.lab.models.register(source, args.name, alias=args.alias)
    aliases = " ".join(f"@{a}" for a in version.aliases)
    print(
        f"registered {version.name}/{version.version}"
        + (f" {aliases}" if aliases else "")
        + (f" from run {version.run_id}" if version.run_id else "")
    )
    return None
