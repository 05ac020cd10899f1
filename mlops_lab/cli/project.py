from __future__ import annotations

from pathlib import Path

import click

from mlops_lab.lab import Lab


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing, different mlops.toml.")
def init(directory: Path | None, force: bool) -> None:
    """Create mlops.toml, .mlops/ and a .gitignore entry in DIRECTORY (default: here)."""
    root = (directory or Path.cwd()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    from mlops_lab import config

    lab = Lab(config.Config(root=root, file=None))
    click.echo(str(lab.init(force=force)))


COMMANDS = [init]
