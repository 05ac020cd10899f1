from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mlops_lab.magics.commands.run import add_parameter_arguments

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = (
    "Run a notebook on a schedule as a Kubernetes CronJob (--cron, --image); --list, --delete."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", nargs="?", help="path of the .ipynb to schedule")
    parser.add_argument("--cron", help='five cron fields or a macro: "0 2 * * *", @daily')
    parser.add_argument("--image", help="image with mlops-lab installed")
    add_parameter_arguments(parser)
    parser.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu per run")
    parser.add_argument("--cpu", default="1", help="CPU request")
    parser.add_argument("--memory", default="2Gi", help="memory request and limit")
    parser.add_argument("--namespace", help="namespace (default: [kubernetes] namespace)")
    parser.add_argument("--name", help="schedule name (default: from the file name)")
    parser.add_argument("--timeout", type=float, help="seconds any one cell may run")
    parser.add_argument("--timezone", default="", help="IANA time zone of the cron expression")
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME=SECRET:KEY",
        help="extra variable from a Secret key (repeatable)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the YAML, create nothing")
    parser.add_argument("--list", action="store_true", help="list the schedules")
    parser.add_argument("--delete", metavar="NAME", help="delete the schedule NAME")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from mlops_lab.errors import UsageError

    notebooks = ctx.lab.notebooks
    if args.list:
        return notebooks.schedules(args.namespace).table(ctx.max_rows)
    if args.delete:
        notebooks.unschedule(args.delete, args.namespace)
        return f"schedule {args.delete} deleted"
    if not args.notebook or not args.cron:
        raise UsageError(
            "%mlops schedule needs NOTEBOOK and --cron (or --list / --delete NAME); "
            "see %mlops help schedule"
        )
    values = notebooks.resolve_parameters(args.notebook, [tuple(p) for p in args.pairs], args.file)
    spec = notebooks.schedule_spec(
        args.notebook,
        args.cron,
        args.image,
        values,
        name=args.name,
        namespace=args.namespace,
        gpus=args.gpus,
        cpu=args.cpu,
        memory=args.memory,
        timeout=args.timeout,
        timezone=args.timezone,
        secret_env=args.secret_env,
    )
    if args.dry_run:
        from mlops_lab.services.notebooks.schedules import preview

        return preview(ctx.lab, spec)
    return notebooks.create_schedule(spec)
