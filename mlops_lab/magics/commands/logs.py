"""`%mlops logs JOB`: the logs of a training job."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Print the logs of a training job (the last --tail lines)."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="job id, as %%mlops jobs lists it")
    parser.add_argument("--tail", type=int, default=200, help="lines to show (0: all)")
    parser.add_argument("--on", choices=["local", "remote", "kubernetes"], default=None)


def run(ctx: Context, args: argparse.Namespace) -> Any:
    job = ctx.lab.training.job(args.job, on=args.on)
    lines = job.logs().splitlines()
    if args.tail and len(lines) > args.tail:
        print(f"... {len(lines) - args.tail} earlier lines (--tail 0 shows all)")
        lines = lines[-args.tail :]
    print("\n".join(lines))
    return None
