"""`%mlops jobs`: this project's training jobs; reattaches monitors to running ones."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = "List this project's training jobs; running ones get a live monitor again."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on", choices=["local", "remote", "kubernetes"], default=None)
    parser.add_argument(
        "--no-attach",
        action="store_true",
        help="only list; do not reattach monitors to running jobs",
    )
    parser.add_argument("--stop", metavar="JOB", help="stop this job")


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from IPython.display import display

    from mlops_lab.display import Table, tracking_ui
    from mlops_lab.widgets.job import JobMonitor

    training = ctx.lab.training
    if args.stop:
        job = training.job(args.stop, on=args.on)
        job.stop()
        print(f"{job.id}: asked to stop")
        return None
    statuses = training.jobs(on=args.on)
    rows = []
    for s in statuses:
        started = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.start_time)) if s.start_time else ""
        )
        took = f"{(s.end_time or time.time()) - s.start_time:.0f} s" if s.start_time else ""
        rows.append(
            [
                s.job_id,
                s.name,
                s.state,
                s.failure or "",
                " ".join(s.reason.split())[:120],
                started,
                took,
            ]
        )
    table = Table(
        ["job", "name", "state", "failure", "reason", "started", "elapsed"],
        rows,
        title=f"training jobs of {ctx.lab.root}",
        max_rows=ctx.max_rows,
    )
    if not args.no_attach and ctx.shell is not None:  # monitors need a notebook
        running = [s for s in statuses if not s.done]
        if running:
            display(table)
            ui = tracking_ui(ctx.lab.config)
            for s in running:
                job = training.job(s.job_id, on=args.on)
                display(JobMonitor(job, wait=False, tracking_ui=ui).start())
            return None
    return table
