"""`mlops-lab data check`: the embedded data store's own consistency check."""

from __future__ import annotations

import sys

import click

from mlops_lab.lab import connect


@click.group()
def data() -> None:
    """Versioned data of the project."""


@data.command()
@click.option("--deep", is_flag=True, help="Also re-hash every object (reads all the data).")
def check(deep: bool) -> None:
    """List every problem of the embedded store, one a line; exit 1 when there is any."""
    problems = connect().data.check(deep=deep)
    click.echo(problems.title)
    for problem in problems:
        click.echo(f"  {problem}")
    sys.exit(1 if problems else 0)


COMMANDS = [data]
