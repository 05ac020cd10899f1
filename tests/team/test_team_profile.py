"""`mlops-lab init --team` and `mlops-lab status` against the real shared servers."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_servers import TeamServers

from mlops_lab import config
from mlops_lab.cli import main
from mlops_lab.lab import connect

pytestmark = pytest.mark.slow


def test_init_team_writes_a_documented_profile(team_servers: TeamServers, tmp_path: Path) -> None:
    lab = team_servers.project(tmp_path / "p")
    text = (tmp_path / "p" / "mlops.toml").read_text()
    assert "# Team profile" in text
    settings = tomllib.loads(text)
    assert settings["tracking"]["uri"] == team_servers.mlflow.url
    assert settings["features"]["registry"] == team_servers.postgres.url("feast")
    assert settings["features"]["online_store"] == team_servers.redis.url
    assert settings["training"] == {"backend": "ray-remote"}
    loaded = config.load(tmp_path / "p", env={"RAY_ADDRESS": "http://10.0.0.9:8265"})
    assert loaded.training.address == "http://10.0.0.9:8265"
    assert lab.config.features.registry == team_servers.postgres.url("feast")
    assert (tmp_path / "p" / "feature_repo" / "feature_store.yaml").is_file()


def test_status_shows_each_server_with_version_and_credentials_redacted(
    team_ray: TeamServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team_servers = team_ray
    team_servers.project(tmp_path / "p")
    monkeypatch.chdir(tmp_path / "p")
    monkeypatch.setenv("RAY_ADDRESS", team_servers.ray_address)
    # The password travels in the environment only (trust auth lets any password in).
    monkeypatch.setenv(
        "MLOPS_FEATURES_REGISTRY", team_servers.postgres.url("feast", password="s3cret-pw")
    )
    result = CliRunner().invoke(main, ["status", "--timeout", "10"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "s3cret-pw" not in out
    assert "mlops:***@127.0.0.1" in out
    assert "MLflow " in out and team_servers.mlflow.url in out
    assert "PostgreSQL 1" in out
    assert "Redis 7" in out or "Redis 6" in out
    assert "Ray 2." in out
    report = connect(tmp_path / "p").status(timeout=10)
    assert all(b.reachable for b in report.backends), report


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        (["--tracking-uri", "http://127.0.0.1:1"], "needs the Feast registry", 2),
        (
            [
                "--tracking-uri",
                "http://127.0.0.1:1",
                "--registry",
                "postgresql://mlops:hunter2@127.0.0.1/feast",
                "--online-store",
                "redis://127.0.0.1:6379/0",
            ],
            "carries a password",
            1,
        ),
        (
            [
                "--tracking-uri",
                "127.0.0.1:5000",
                "--registry",
                "postgresql://mlops@127.0.0.1/feast",
                "--online-store",
                "redis://127.0.0.1:6379/0",
            ],
            "is not a URL of the MLflow tracking server",
            2,
        ),
    ],
)
def test_init_team_refuses_bad_urls_in_one_line(
    tmp_path: Path, args: list[str], expected: str, code: int
) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "p"), "--team", *args])
    assert result.exit_code == code  # 2: usage, 1: a lab error
    assert expected in result.output
    assert result.output.count("\n") == 1
    assert "hunter2" not in result.output
    assert not (tmp_path / "p" / "mlops.toml").exists()
