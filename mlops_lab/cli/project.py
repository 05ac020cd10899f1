from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlops_lab.lab import Lab


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing, different mlops.toml.")
@click.option(
    "--team",
    is_flag=True,
    help="Point the project at shared servers: MLflow tracking server, Feast registry in "
    "PostgreSQL with a Redis online store, a remote Ray head.",
)
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    help="MLflow tracking server URL (with --team; env: MLFLOW_TRACKING_URI).",
)
@click.option(
    "--registry",
    envvar="MLOPS_FEATURES_REGISTRY",
    help="Feast SQL registry, postgresql://user@host:port/db (with --team; env: "
    "MLOPS_FEATURES_REGISTRY; password: PGPASSWORD or ~/.pgpass).",
)
@click.option(
    "--online-store",
    envvar="MLOPS_FEATURES_ONLINE_STORE",
    help="Feast online store, redis://host:port/db (with --team; env: "
    "MLOPS_FEATURES_ONLINE_STORE).",
)
@click.option(
    "--ray-address",
    envvar="RAY_ADDRESS",
    help="Remote Ray head, http://host:8265 (with --team; env: RAY_ADDRESS).",
)
def init(
    directory: Path | None,
    force: bool,
    team: bool,
    tracking_uri: str | None,
    registry: str | None,
    online_store: str | None,
    ray_address: str | None,
) -> None:
    """Create mlops.toml, .mlops/ and a .gitignore entry in DIRECTORY (default: here)."""
    root = (directory or Path.cwd()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    from mlops_lab import config
    from mlops_lab.services.team import team_settings

    settings: dict[str, dict[str, Any]] | None = None
    if team:
        settings = team_settings(tracking_uri, registry, online_store, ray_address)
    lab = Lab(config.Config(root=root, file=None))
    click.echo(str(lab.init(force=force, settings=settings)))


COMMANDS = [init]
