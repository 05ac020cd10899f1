"""`ray start` that misses Ray's fixed 30 s raylet registration (a busy machine) is tried once
more on fresh ports; any other failure is reported at once, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lab.backends.training import local_head
from mlops_lab.backends.training.local_head import LocalHead
from mlops_lab.errors import BackendError

TIMED_OUT = (
    "Exception: The current node timed out during startup. This could happen because some "
    "of the raylet failed to startup or the GCS has become overloaded."
)


def _head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, last_lines: list[str]) -> list[str]:
    """A head whose `ray start` attempts end with ``last_lines`` (exit 1); the commands run."""
    commands: list[str] = []

    def start(self: LocalHead, command: list[str], env: object, log: Path) -> tuple[int, int]:
        log.write_text(f"starting\n{last_lines[len(commands)]}\n", encoding="utf-8")
        commands.append(command[command.index("--port") + 1])
        return 0, 1

    monkeypatch.setattr(local_head, "_ray_executable", lambda: "ray")
    monkeypatch.setattr(LocalHead, "_start", start)
    monkeypatch.setattr(LocalHead, "_kill_session", lambda self, state: None)
    return commands


def test_a_startup_timeout_is_tried_again_on_fresh_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = _head(tmp_path, monkeypatch, [TIMED_OUT, "Exception: address already in use"])
    with pytest.raises(BackendError) as failure:
        LocalHead(tmp_path / "ray").up()
    assert len(ports) == 2 and ports[0] != ports[1]
    assert "address already in use" in str(failure.value)
    assert "\n" not in str(failure.value)


def test_other_failures_are_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = _head(tmp_path, monkeypatch, ["Exception: address already in use", TIMED_OUT])
    with pytest.raises(BackendError, match="address already in use"):
        LocalHead(tmp_path / "ray").up()
    assert len(ports) == 1
