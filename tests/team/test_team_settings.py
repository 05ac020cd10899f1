"""The team profile's URL handling, without servers: what Feast is given, what is shown."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mlops_lab import config
from mlops_lab.backends.features.feast import redis_connection, repo_settings, sqlalchemy_url
from mlops_lab.backends.probes import redact_url
from mlops_lab.errors import ConfigError, SecretInConfigError, UsageError
from mlops_lab.services.team import team_settings


def test_redis_url_becomes_feasts_connection_string_with_timeouts() -> None:
    assert redis_connection("redis://:pw@cache:6380/2", 1.5) == (
        "cache:6380,db=2,socket_timeout=1.5,socket_connect_timeout=1.5,password=pw"
    )
    assert redis_connection("rediss://cache", 5.0).endswith(",ssl=true")
    with pytest.raises(ConfigError, match="not a redis:// URL"):
        redis_connection("cache:6379", 5.0)


def test_registry_url_uses_psycopg_and_passwords_are_masked() -> None:
    assert sqlalchemy_url("postgresql://mlops@db:5432/feast") == (
        "postgresql+psycopg://mlops@db:5432/feast"
    )
    assert redact_url("postgresql://mlops:pw@db/feast") == "postgresql://mlops:***@db/feast"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"


def test_repo_settings_replace_registry_and_online_store(tmp_path: Path) -> None:
    lab_config = config.Config(root=tmp_path, file=None)
    from mlops_lab.backends.features.feast import scaffold

    scaffold(lab_config, [], [])
    shared = config.FeaturesConfig(
        registry="postgresql://mlops@db/feast", online_store="redis://cache:6379/0"
    )
    settings = repo_settings(tmp_path / "feature_repo", shared)
    assert settings["registry"]["registry_type"] == "sql"
    assert settings["online_store"]["type"] == "redis"
    assert settings["offline_store"] == {"type": "file"}


def test_team_settings_need_the_three_shared_servers() -> None:
    with pytest.raises(UsageError, match="Redis online store"):
        team_settings("http://mlflow:5000", "postgresql://mlops@db/feast", None, None)
    with pytest.raises(SecretInConfigError):
        team_settings("http://mlflow:5000", "postgresql://u:p@db/f", "redis://c:6379", None)
    settings = team_settings(
        "http://mlflow:5000", "postgresql://mlops@db/feast", "redis://c:6379", "http://ray:8265"
    )
    text = config.render_default(settings)
    loaded = tomllib.loads(text)
    assert loaded["training"] == {"backend": "ray-remote", "address": "http://ray:8265"}
    assert loaded["features"]["online_store"] == "redis://c:6379"
