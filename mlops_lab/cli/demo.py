from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from mlops_lab import config, resources
from mlops_lab.backends.training.local_head import free_port, port_taken
from mlops_lab.lab import Lab

PORT_VARIABLE = "MLOPS_SERVING_HTTP_PORT"


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project directory to run in (default: a new scratch directory).",
)
@click.option("--keep-ray", is_flag=True, help="Leave the Ray head the demo started running.")
def demo(directory: Path | None, keep_ray: bool) -> None:
    """Run the quickstart notebook end to end on embedded defaults."""
    root = (directory or Path(tempfile.mkdtemp(prefix="mlops-demo-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    lab = Lab(config.Config(root=root, file=None))
    lab.init()
    source = resources.notebook("quickstart.ipynb")
    local_ray = lab.config.training.backend == "ray-local"
    head_was_running = local_ray and lab.training.cluster.address() is not None
    port = lab.config.serving.http_port
    chosen = PORT_VARIABLE in os.environ
    if local_ray and not head_was_running and not chosen and port_taken(port):
        # Serve starts on the demo's new head; its kernel reads the port from the environment
        os.environ[PORT_VARIABLE] = str(free_port())
        click.echo(f"Port {port} is in use; the demo serves on {os.environ[PORT_VARIABLE]}.")
    click.echo(f"Running {source.name} in {root} ...")
    try:
        out = lab.notebooks.run(source, output=root / "quickstart.out.ipynb", cwd=root)
    finally:
        if local_ray and not head_was_running and not keep_ray and lab.training.down():
            click.echo("Stopped the Ray head the demo started (--keep-ray keeps it).")
    click.echo(f"Executed notebook: {out}")


COMMANDS = [demo]
