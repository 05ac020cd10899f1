"""The team profile that `mlops-lab init --team` writes: shared servers instead of the
embedded defaults, with every URL checked before anything is written."""

from __future__ import annotations

import urllib.parse
from typing import Any

from mlops_lab.errors import SecretInConfigError, UsageError
from mlops_lab.redact import redact_url

# (what, option, environment variable, schemes, where its password goes instead)
_URLS = {
    "tracking": (
        "the MLflow tracking server",
        "--tracking-uri",
        "MLFLOW_TRACKING_URI",
        ("http", "https"),
        "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD",
    ),
    "registry": (
        "the Feast registry's PostgreSQL database",
        "--registry",
        "MLOPS_FEATURES_REGISTRY",
        ("postgresql", "postgres"),
        "PGPASSWORD or ~/.pgpass",
    ),
    "online_store": (
        "the Redis online store",
        "--online-store",
        "MLOPS_FEATURES_ONLINE_STORE",
        ("redis", "rediss"),
        "the URL in MLOPS_FEATURES_ONLINE_STORE (environment only)",
    ),
    "ray": ("the remote Ray head", "--ray-address", "RAY_ADDRESS", ("http", "https", "ray"), ""),
}


def team_settings(
    tracking_uri: str | None,
    registry: str | None,
    online_store: str | None,
    ray_address: str | None,
) -> dict[str, dict[str, Any]]:
    """{section: {key: value}} of the team profile. The Ray address may be left to
    RAY_ADDRESS at run time; the others are required."""
    given = {
        "tracking": tracking_uri,
        "registry": registry,
        "online_store": online_store,
        "ray": ray_address,
    }
    missing = [_URLS[k] for k, v in given.items() if not v and k != "ray"]
    if missing:
        raise UsageError(
            "--team needs "
            + ", ".join(f"{what} ({option} or {env})" for what, option, env, _, _ in missing)
        )
    for key, url in given.items():
        if url:
            _check(key, url)
    settings: dict[str, dict[str, Any]] = {
        "tracking": {"uri": tracking_uri},
        "features": {"registry": registry, "online_store": online_store},
        "training": {"backend": "ray-remote"},
    }
    if ray_address:
        settings["training"]["address"] = ray_address
    return settings


def _check(key: str, url: str) -> None:
    what, option, _env, schemes, password_home = _URLS[key]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise UsageError(
            f"{option} '{redact_url(url)}' is not a URL of {what}; expected {schemes[0]}://host:port"
        )
    if parts.password:
        raise SecretInConfigError(
            f"{option} carries a password and mlops.toml never holds one; drop it from the "
            f"URL and set {password_home} instead"
        )
