from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlops_lab
from mlops_lab.errors import ConflictError, NotAvailableError


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_init_creates_and_is_idempotent(tmp_path: Path) -> None:
    lab = mlops_lab.connect(tmp_path)
    first = lab.init()
    assert "mlops.toml" in first.created and ".mlops/" in first.created
    assert (tmp_path / ".gitignore").read_text() == ".mlops/\nmlops-runs/\n"
    assert lab.config.file == tmp_path / "mlops.toml"
    second = mlops_lab.connect(tmp_path).init()
    assert second.created == ()
    assert (tmp_path / ".gitignore").read_text() == ".mlops/\nmlops-runs/\n"


def test_init_appends_to_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc")
    mlops_lab.connect(tmp_path).init()
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n.mlops/\nmlops-runs/\n"


def test_init_keeps_a_different_config_unless_forced(tmp_path: Path) -> None:
    custom = '[tracking]\nexperiment = "mine"\n'
    (tmp_path / "mlops.toml").write_text(custom)
    lab = mlops_lab.connect(tmp_path)
    with pytest.raises(ConflictError) as info:
        lab.init()
    assert str(info.value) == (
        f"{tmp_path / 'mlops.toml'} already exists with other settings; keep it, or rerun "
        "with --force to replace it with the defaults"
    )
    assert (tmp_path / "mlops.toml").read_text() == custom
    assert not (tmp_path / ".mlops").exists()
    lab.init(force=True)
    assert lab.config.tracking.experiment == "default"


def test_services_are_created_once_on_first_access(project: mlops_lab.Lab) -> None:
    assert "notebooks" not in project._services
    assert project.notebooks is project.notebooks
    with pytest.raises(AttributeError):
        project.nosuch  # noqa: B018


def test_missing_service_module_is_a_clear_error(
    project: mlops_lab.Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_lab import lab as lab_module

    monkeypatch.setitem(lab_module.SERVICES, "serving", "mlops_lab.services.nosuch:X")
    with pytest.raises(NotAvailableError, match=r"^lab.serving is not part of this version"):
        project.serving  # noqa: B018


def test_status_on_embedded_defaults(project: mlops_lab.Lab) -> None:
    report = project.status()
    assert [b.concern for b in report.backends][:4] == ["data", "features", "tracking", "training"]
    assert report["data"].kind == "local" and report["data"].reachable
    assert report["tracking"].target == "sqlite:///.mlops/mlflow.db"
    assert report.notice is None
    text = repr(report)
    assert (
        text.splitlines()[0] == f"mlops-lab project {project.root} ({project.root / 'mlops.toml'})"
    )
    assert "<table" in report._repr_html_()


def test_status_is_bounded_when_endpoints_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hanging_endpoint: str
) -> None:
    (tmp_path / "mlops.toml").write_text('[data]\nbackend = "lakefs"\nrepository = "r"\n')
    monkeypatch.setenv("LAKECTL_SERVER_ENDPOINT_URL", hanging_endpoint)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", hanging_endpoint)
    monkeypatch.setenv("RAY_ADDRESS", hanging_endpoint)
    lab = mlops_lab.connect(tmp_path)
    started = time.monotonic()
    report = lab.status(timeout=1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    for concern in ("data", "tracking", "training"):
        row = report[concern]
        assert not row.reachable, row
        assert "timed out" in row.reason or "no answer within 1 s" in row.reason
    assert report["training"].kind == "ray-remote"


def test_status_reports_a_refused_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    row = mlops_lab.connect(tmp_path).status(timeout=1.0)["tracking"]
    assert not row.reachable
    assert row.reason.startswith(f"cannot connect to http://127.0.0.1:{port}/health:")
