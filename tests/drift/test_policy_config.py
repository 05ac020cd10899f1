"""``[serving] rollback_on_drift`` and ``drift_check_interval`` are checked when the project
opens: a value that means nothing is one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lab import config
from mlops_lab.errors import ConfigError


def load(tmp_path: Path, serving: str) -> config.Config:
    (tmp_path / "mlops.toml").write_text(f"[serving]\n{serving}\n", encoding="utf-8")
    return config.load(tmp_path)


def test_the_check_interval_is_a_duration(tmp_path: Path) -> None:
    assert config.load(tmp_path).serving.drift_check_interval_s == 60.0  # the default: 1m
    assert load(tmp_path, 'drift_check_interval = "30s"').serving.drift_check_interval_s == 30
    assert load(tmp_path, "drift_check_interval = 90").serving.drift_check_interval_s == 90
    with pytest.raises(ConfigError, match=r"drift_check_interval = 'soon' is not a duration"):
        load(tmp_path, 'drift_check_interval = "soon"')
    with pytest.raises(ConfigError, match="is not a duration"):
        load(tmp_path, 'drift_check_interval = "0s"')


def test_the_policy_is_a_share_of_columns(tmp_path: Path) -> None:
    assert load(tmp_path, "rollback_on_drift = 0.2").serving.rollback_on_drift == 0.2
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "rollback_on_drift = 1.5")
    message = str(error.value)
    assert "mlops.toml: [serving] rollback_on_drift = 1.5 must be a share" in message
    assert "\n" not in message


def test_an_environment_override_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_SERVING_DRIFT_CHECK_INTERVAL", "often")
    with pytest.raises(ConfigError, match=r"^MLOPS_SERVING_DRIFT_CHECK_INTERVAL: "):
        config.load(tmp_path)


def test_a_check_follows_one_canary_from_the_revision_that_brought_it() -> None:
    from mlops_lab.services._drift_watch import canary_since
    from mlops_lab.services.endpoint_state import Revision

    def revision(number: int, action: str, canary: str | None, weight: int = 0) -> Revision:
        version = {"model": "fraud", "version": "1"}
        spec = {"model": "fraud", "version": canary} if canary else None
        return Revision("fraud", number, action, "me", "", version, spec, weight)

    history = [revision(1, "deploy", None), revision(2, "canary", "2", 10)]
    assert canary_since(history).number == 2  # type: ignore[union-attr]
    history.append(revision(3, "set-weight", "2", 50))  # the same canary, more traffic
    assert canary_since(history).number == 2  # type: ignore[union-attr]
    history.append(revision(4, "canary", "3", 10))  # replaced: a check of its own
    assert canary_since(history).number == 4  # type: ignore[union-attr]
    history.append(revision(5, "promote", None))
    assert canary_since(history) is None
