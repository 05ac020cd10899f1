"""`%mlops ray up|down|status`: the local Ray head the lab manages."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Start, stop or show the local Ray head the lab manages (state in .mlops/ray)."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status"], nargs="?", default="status")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs the head offers (up)")
    parser.add_argument("--num-gpus", type=int, default=None,
                        help="GPUs the head offers (up; default: detected)")


def run(ctx: Any, args: argparse.Namespace) -> Any:
    from mlops_lab.display import Table

    training = ctx.lab.training
    if args.action == "up":
        info = training.up(num_cpus=args.num_cpus, num_gpus=args.num_gpus)
    elif args.action == "down":
        stopped = training.down()
        print("stopped the lab's Ray head" if stopped else "no Ray head started by the lab")
        return None
    else:
        info = training.cluster.info()
    return Table(["", ""], info.rows(), title=f"Ray head of {ctx.lab.root}")
