"""`mlops-lab schedule / schedules / unschedule`: notebooks as Kubernetes CronJobs."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_lab.cli.run import parameter_options
from mlops_lab.lab import connect


@click.command()
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option(
    "--cron",
    "cron_expression",
    required=True,
    help='When to run, five cron fields or a macro: "0 2 * * *", @daily.',
)
@click.option("--image", help="Image with mlops-lab installed (default: [kubernetes] image).")
@parameter_options
@click.option(
    "--gpus", type=int, default=0, show_default=True, help="nvidia.com/gpu the job requests."
)
@click.option("--cpu", default="1", show_default=True, help="CPU request.")
@click.option("--memory", default="2Gi", show_default=True, help="Memory request and limit.")
@click.option("--namespace", help="Namespace (default: [kubernetes] namespace).")
@click.option("--name", help="Schedule name (default: from the notebook's file name).")
@click.option("--timeout", type=float, help="Seconds any one cell may run.")
@click.option(
    "--deadline",
    type=int,
    default=6 * 3600,
    show_default=True,
    help="Seconds a whole run may take (activeDeadlineSeconds).",
)
@click.option(
    "--retries",
    type=int,
    default=1,
    show_default=True,
    help="Retries of a failed run (backoffLimit).",
)
@click.option("--timezone", default="", help="IANA time zone of the cron expression (default UTC).")
@click.option(
    "--credentials-secret",
    default="",
    help="Secret whose keys named like the lab's credential variables are mapped in "
    "(default: [kubernetes] credentials, else mlops-lab-credentials).",
)
@click.option(
    "--secret-env",
    multiple=True,
    metavar="NAME=SECRET:KEY",
    help="Extra variable from a Secret key (repeatable).",
)
@click.option("--suspend", is_flag=True, help="Create it suspended.")
@click.option("--dry-run", is_flag=True, help="Print the manifests as YAML; create nothing.")
def schedule(
    notebook: Path,
    cron_expression: str,
    image: str | None,
    pairs: tuple[tuple[str, str], ...],
    file: Path | None,
    gpus: int,
    cpu: str,
    memory: str,
    namespace: str | None,
    name: str | None,
    timeout: float | None,
    deadline: int,
    retries: int,
    timezone: str,
    credentials_secret: str,
    secret_env: tuple[str, ...],
    suspend: bool,
    dry_run: bool,
) -> None:
    """Run NOTEBOOK on a schedule: a Kubernetes CronJob running `mlops-lab run` in IMAGE."""
    lab = connect()
    values = lab.notebooks.resolve_parameters(notebook, pairs, file)
    spec = lab.notebooks.schedule_spec(
        notebook,
        cron_expression,
        image,
        values,
        name=name,
        namespace=namespace,
        gpus=gpus,
        cpu=cpu,
        memory=memory,
        timeout=timeout,
        deadline_s=deadline,
        retries=retries,
        timezone=timezone,
        credentials_secret=credentials_secret,
        secret_env=secret_env,
        suspend=suspend,
    )
    if dry_run:
        click.echo(lab.notebooks.schedule_yaml(spec), nl=False)
        return
    click.echo(repr(lab.notebooks.create_schedule(spec)))


@click.command()
@click.option("--namespace", help="Namespace (default: [kubernetes] namespace).")
def schedules(namespace: str | None) -> None:
    """List the notebook schedules with their last and next run."""
    click.echo(repr(connect().notebooks.schedules(namespace)))


@click.command()
@click.argument("name")
@click.option("--namespace", help="Namespace (default: [kubernetes] namespace).")
def unschedule(name: str, namespace: str | None) -> None:
    """Delete the schedule NAME (its CronJob, Jobs and shipped notebook)."""
    lab = connect()
    lab.notebooks.unschedule(name, namespace)
    click.echo(f"schedule {name} deleted")


COMMANDS = [schedule, schedules, unschedule]
