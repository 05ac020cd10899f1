"""`%mlops deploy MODEL@ALIAS`: serve a model version on an endpoint (canary when one is live)."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = "Serve MODEL@ALIAS or MODEL/VERSION: 100% on a new endpoint, else a canary."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model reference, e.g. fraud@challenger or fraud/3")
    parser.add_argument("--endpoint", default=None, help="endpoint name (default: the model's)")
    parser.add_argument("--canary", default="10", help="canary weight in percent (default 10)")
    parser.add_argument(
        "--force", action="store_true", help="deploy even if validation failed (recorded)"
    )
    parser.add_argument("--on", default=None, help="local (Ray head) or kubernetes")
    parser.add_argument("--sticky-key", default=None, help="route by this request column")
    parser.add_argument("--steps", default=None, help="staged rollout weights, e.g. 10,50,100")
    parser.add_argument("--interval", default=None, help="time per step, e.g. 60s")
    parser.add_argument("--max-error-rate", type=float, default=None, help="e.g. 0.01")
    parser.add_argument("--max-p99-ms", type=float, default=None, help="e.g. 50")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --on kubernetes: print the RayService YAML, change nothing",
    )


def run(ctx: Any, args: argparse.Namespace) -> Any:
    revision = ctx.lab.serving.deploy(
        args.model,
        endpoint=args.endpoint,
        canary=args.canary,
        force=args.force,
        on=args.on,
        steps=args.steps,
        interval=args.interval,
        max_error_rate=args.max_error_rate,
        max_p99_ms=args.max_p99_ms,
        sticky_key=args.sticky_key,
        dry_run=args.dry_run,
    )
    if not args.dry_run:  # a dry run printed the manifest, and changed nothing
        print(revision)
    return None
