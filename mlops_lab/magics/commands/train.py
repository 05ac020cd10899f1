"""`%%mlops train`: the cell body is the training script, run as a Ray job."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "Run the cell body as a Ray training job (local head, remote head or Kubernetes)."
TAKES_CELL = True


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="job name (lowercase letters, digits, '-')")
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers (default 2)")
    parser.add_argument("--cpus", type=float, default=1.0, help="CPUs per worker (default 1)")
    parser.add_argument(
        "--gpus",
        type=float,
        default=0.0,
        help="GPUs in all (sets ScalingConfig(use_gpu=True) and the requests)",
    )
    parser.add_argument(
        "--max-failures",
        type=int,
        default=0,
        help="worker failures to survive, resuming from the last checkpoint",
    )
    parser.add_argument(
        "--register",
        metavar="MODEL",
        help="register the logged model as MODEL with alias 'challenger'",
    )
    parser.add_argument(
        "--with",
        dest="variables",
        action="append",
        default=[],
        metavar="VAR[,VAR]",
        help="notebook variables to pass to the script",
    )
    parser.add_argument(
        "--deadline",
        type=int,
        default=None,
        metavar="SECONDS",
        help="stop the job when it runs longer (deadline exceeded)",
    )
    parser.add_argument(
        "--on",
        choices=["local", "remote", "kubernetes"],
        default=None,
        help="where to run (default: [training] backend in mlops.toml)",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="return at once; the monitor keeps following the job"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --on kubernetes: print the RayJob YAML, submit nothing",
    )


def notebook_path(ctx: Context) -> str:
    if ctx.shell is None:  # `mlops-lab train --file BODY.py`: the script is the origin
        return str(getattr(ctx, "cell_path", ""))
    namespace = ctx.shell.user_ns if ctx.shell is not None else {}
    return str(namespace.get("__session__") or os.environ.get("JPY_SESSION_NAME") or "")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from mlops_lab.errors import LabError, UsageError

    params: dict[str, Any] = {}
    for group in args.variables:
        for var in filter(None, (v.strip() for v in group.split(","))):
            params[var] = ctx.variable(var)
    script = ctx.cell or ""
    if not script.strip():
        raise UsageError("%%mlops train needs the training script as the cell body")
    monitor = None
    if not args.dry_run and ctx.shell is not None:
        from IPython.display import display

        from mlops_lab.display import tracking_ui
        from mlops_lab.widgets.job import JobMonitor

        # Shown before the submission, which may first start a local Ray head (~30 s).
        monitor = JobMonitor(
            None, wait=not args.no_wait, name=args.name, tracking_ui=tracking_ui(ctx.lab.config)
        )
        display(monitor)
    try:
        result = ctx.lab.training.submit(
            script,
            name=args.name,
            workers=args.workers,
            cpus=args.cpus,
            gpus=args.gpus,
            max_failures=args.max_failures,
            register=args.register,
            on=args.on,
            params=params,
            deadline=args.deadline,
            notebook=notebook_path(ctx) or None,
            dry_run=args.dry_run,
        )
    except LabError as exc:
        if monitor is not None:
            monitor.fail(str(exc))
        raise
    if args.dry_run:
        print(result)
        return None
    if monitor is None:  # `mlops-lab train`: no notebook to draw in
        return follow_in_terminal(result, wait=not args.no_wait)
    return follow(result, wait=not args.no_wait, monitor=monitor.attach(result))


def follow(job: Any, wait: bool, monitor: Any = None) -> Any:
    """Show the monitor (unless given, already shown); when waiting, fail the cell if the
    job did not succeed."""
    from IPython.display import display

    from mlops_lab.backends.training.base import SUCCEEDED
    from mlops_lab.services.training import training_failed
    from mlops_lab.widgets.job import JobMonitor, summary

    if monitor is None:
        monitor = JobMonitor(job, wait=wait)
        display(monitor)
    if not wait:
        monitor.start()
        return None
    status = monitor.run()
    print(summary(job, status, monitor.metrics, monitor.duration()))
    if status.state != SUCCEEDED:
        tail = monitor.lines[-15:]
        if tail:
            print("\n".join(tail))
        raise training_failed(status)
    return None


def follow_in_terminal(job: Any, wait: bool) -> None:
    """`mlops-lab train`: stream the job's logs to stdout, then the monitor's summary line."""
    from mlops_lab.backends.training.base import SUCCEEDED, parse_metrics
    from mlops_lab.services.training import training_failed
    from mlops_lab.widgets.job import summary

    print(f"{job.id}: submitted to {job.backend.kind} {job.backend.target}", flush=True)
    if not wait:
        print(f"follow it with: mlops-lab logs {job.id}; mlops-lab jobs")
        return
    metrics: list[dict[str, Any]] = []

    def update(_status: Any, text: str) -> None:
        if text:
            metrics.extend(parse_metrics(text))
            print(text, end="" if text.endswith("\n") else "\n", flush=True)

    try:
        status = job.follow(update, 1.0)
    except KeyboardInterrupt:
        job.stop()
        print(f"{job.id}: interrupted; the job was asked to stop")
        raise
    print(summary(job, status, metrics))
    if status.state != SUCCEEDED:
        raise training_failed(status)
