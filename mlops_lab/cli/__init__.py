"""`mlops-lab`: a click group whose commands live one module each in this package.

Each module defines ``COMMANDS``, a list of click commands; modules import heavy SDKs
inside the command bodies only. ``magics`` generates one command per `%mlops` subcommand
from its module in ``mlops_lab.magics.commands`` (one parser, one implementation); the other
modules hold the commands a terminal needs beyond the magics (demo, pipeline, schedules).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sys
from typing import Any

import click

from mlops_lab.errors import LabError, UsageError


def for_terminal(text: str) -> str:
    """A message written for notebooks, with its `%mlops` hints as the `mlops-lab` commands."""
    text = re.sub(r"%mlops help (\w+)", r"mlops-lab \1 --help", text)
    text = text.replace("%config MLOps.max_rows", "mlops-lab --max-rows N")
    return re.sub(r"%%?mlops\b", "mlops-lab", text)


class LabGroup(click.Group):
    def _all(self) -> dict[str, click.Command]:
        found: dict[str, click.Command] = {}
        for info in pkgutil.iter_modules(__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{__name__}.{info.name}")
            for command in getattr(module, "COMMANDS", []):
                found[command.name] = command
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._all())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._all().get(name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabError as exc:
            if os.environ.get("MLOPS_DEBUG"):
                raise
            click.echo(f"error: {for_terminal(str(exc))}", err=True)
            sys.exit(2 if isinstance(exc, UsageError) else 1)


@click.group(cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlops-lab")
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Most rows a table prints (the magics' MLOps.max_rows).",
)
def main(max_rows: int) -> None:
    """Run the model lifecycle from JupyterLab, and notebooks as production jobs."""
