from __future__ import annotations

import tempfile
from pathlib import Path

import click

from mlops_lab import config, resources
from mlops_lab.lab import Lab


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project directory to run in (default: a new scratch directory).",
)
def demo(directory: Path | None) -> None:
    """Run the quickstart notebook end to end on embedded defaults."""
    root = (directory or Path(tempfile.mkdtemp(prefix="mlops-demo-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    lab = Lab(config.Config(root=root, file=None))
    lab.init()
    source = resources.notebook("quickstart.ipynb")
    click.echo(f"Running {source.name} in {root} ...")
    out = lab.notebooks.run(source, output=root / "quickstart.out.ipynb", cwd=root)
    click.echo(f"Executed notebook: {out}")


COMMANDS = [demo]
