"""Credentials inside URLs: one redaction for every display, log and manifest, and status
probes that use the credentials without showing them."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

import mlops_lab
from mlops_lab.cli import main
from mlops_lab.redact import public_url, redact_text, redact_url, secret_rule


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:S3CRET@host:5000", "http://user:***@host:5000"),
        ("https://host/p?access_token=S3CRET&x=1", "https://host/p?access_token=***&x=1"),
        ("https://h/b?sig=S3CRET&se=2030", "https://h/b?sig=***&se=2030"),
        ("postgresql://u:pw@db/x?password=S3CRET", "postgresql://u:***@db/x?password=***"),
        ("https://h/?apiKey=S3CRET", "https://h/?apiKey=***"),
        ("http://user@host:5000", "http://user@host:5000"),
        ("sqlite:///.mlops/mlflow.db", "sqlite:///.mlops/mlflow.db"),
        ("https://h/?page=2&sort=name", "https://h/?page=2&sort=name"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_every_url() -> None:
    text = "cannot reach http://a:S3CRET@h:1/x nor 'https://h/?token=S3CRET'."
    assert redact_text(text) == "cannot reach http://a:***@h:1/x nor 'https://h/?token=***'."


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("passwd", "word 'passwd'"),
        ("db_pass", "word 'pass'"),
        ("credentials", "word 'credentials'"),
        ("auth_header", "word 'auth'"),
        ("accessToken", "word 'token'"),
        ("github_accesstoken", "ending 'token'"),
        ("apikey", "ending 'apikey'"),
        ("rows", None),
        ("author", None),
        ("threshold", None),
        ("api_key", "word 'key'"),
        ("request_sig", "word 'sig'"),
        ("pass_rate", None),
        ("sig_level", None),
        ("key_column", None),
    ],
)
def test_secret_rule_names_the_rule(name: str, rule: str | None) -> None:
    assert secret_rule(name) == rule


class _BasicAuth(BaseHTTPRequestHandler):
    expected = "Basic " + base64.b64encode(b"user:S3CRET").decode()

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == self.expected and self.path == "/health"
        self.send_response(200 if ok else 403)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def guarded_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BasicAuth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_status_uses_url_credentials_without_showing_them(
    project: Any, monkeypatch: pytest.MonkeyPatch, guarded_server: str
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:S3CRET@{guarded_server}")
    report = mlops_lab.connect(project.root).status(timeout=5)
    row = report["tracking"]
    assert (row.reachable, row.reason) == (True, "HTTP 200")
    assert row.target == f"http://user:***@{guarded_server}"
    result = CliRunner().invoke(main, ["status"])
    assert "S3CRET" not in result.output and f"user:***@{guarded_server}" in result.output


def test_status_hides_a_token_in_the_query(project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9/?access_token=S3CRET")
    row = mlops_lab.connect(project.root).status(timeout=2)["tracking"]
    assert not row.reachable
    assert "S3CRET" not in row.target + row.reason
    assert row.reason.startswith("cannot connect to http://127.0.0.1:9/health?access_token=***")


def test_error_messages_are_redacted() -> None:
    from mlops_lab.errors import UnreachableError

    error = UnreachableError("cannot reach http://u:S3CRET@h:5000/api?token=S3CRET; retry")
    assert str(error) == "cannot reach http://u:***@h:5000/api?token=***; retry"
    assert "S3CRET" not in error.one_line()


def test_public_url_drops_credentials_and_keeps_the_rest() -> None:
    assert public_url("http://u:S3CRET@host:5000/p?x=1") == "http://host:5000/p?x=1"
    assert public_url("https://h/p?access_token=S3CRET&x=1") == "https://h/p?x=1"
    assert public_url("sqlite:///tmp/mlflow.db") == "sqlite:///tmp/mlflow.db"
