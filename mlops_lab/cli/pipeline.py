"""`mlops-lab pipeline`: notebooks as gated, ordered stages under one MLflow run."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_lab.lab import connect


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where each stage's executed notebook goes (default: under [notebooks] output_dir).",
)
@click.option("--check", is_flag=True, help="Only check the file (stages, references, gates).")
def pipeline(file: Path, output_dir: Path | None, check: bool) -> None:
    """Run the stages of FILE (TOML) in order; stop at the first failed stage or gate."""
    from mlops_lab.services.notebooks import pipelines

    lab = connect()
    if check:
        loaded = pipelines.load(lab, file)
        click.echo(
            f"pipeline {loaded.name}: stages "
            f"{' -> '.join(s.name for s in loaded.stages)}; file is valid"
        )
        return
    try:
        result = pipelines.run(lab, file, output_dir)
    except pipelines.PipelineFailed as exc:
        click.echo(repr(exc.fields["result"]))
        raise
    click.echo(repr(result))
    from mlops_lab.cli.run import exit_now

    exit_now(0)


COMMANDS = [pipeline]
