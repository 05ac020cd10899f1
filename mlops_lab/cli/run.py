"""`mlops-lab run`: a notebook as a tracked papermill job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mlops_lab.lab import connect
from mlops_lab.services.notebooks.recorder import job_recorder

F = TypeVar("F", bound=Callable[..., Any])


def parameter_options(command: F) -> F:
    """-p NAME VALUE (repeatable) and -f params.yaml, shared by run and schedule."""
    command = click.option(
        "-f",
        "--parameters-file",
        "file",
        type=click.Path(path_type=Path),
        help="YAML file of parameters; -p overrides it.",
    )(command)
    return click.option(
        "-p",
        "--parameter",
        "pairs",
        type=(str, str),
        multiple=True,
        metavar="NAME VALUE",
        help="Set a parameter (repeatable); parsed to its type.",
    )(command)


@click.command()
@click.argument("notebook", type=click.Path(path_type=Path))
@parameter_options
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Where to write the executed notebook (default: [notebooks] output_dir).",
)
@click.option("--timeout", type=float, help="Seconds any one cell may run before the job fails.")
@click.option(
    "--cwd",
    type=click.Path(file_okay=False, path_type=Path),
    help="Working directory of the kernel (default: the project root).",
)
def run(
    notebook: Path,
    pairs: tuple[tuple[str, str], ...],
    file: Path | None,
    output: Path | None,
    timeout: float | None,
    cwd: Path | None,
) -> None:
    """Run NOTEBOOK with papermill on the MLOps kernel, as an MLflow-tracked job.

    Exits non-zero when a cell fails; the executed notebook is kept either way.
    """
    lab = connect()
    # First thing: the recorder imports MLflow while papermill is imported and the kernel starts
    with job_recorder(lab) as recorder:
        values = lab.notebooks.resolve_parameters(notebook, pairs, file)
        result = lab.notebooks.execute(
            notebook, values, output=output, timeout=timeout, cwd=cwd, recorder=recorder
        )
    click.echo(
        f"{result.notebook.name}: succeeded in {result.duration_s:.1f} s; executed "
        f"notebook {result.output}; MLflow run {result.run_id}"
    )
    for key, produced in result.produced.items():
        click.echo(f"  {key}: {', '.join(produced)}")
    exit_now(0)


def exit_now(code: int) -> None:
    """End the `mlops-lab` process at once when the job is fully recorded: the exit
    handlers run (logging flushes), but not the interpreter's teardown of MLflow, pandas and
    SQLAlchemy modules, which takes most of a second. Only for the console script, never
    when the command is called in-process (tests, other Python code)."""
    import atexit
    import os
    import sys

    if Path(sys.argv[0]).name != "mlops-lab":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


COMMANDS = [run]
