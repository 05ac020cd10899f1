"""Ray Serve's REST calls: a dashboard port that answers with something that is not HTTP (a
GCS port given by mistake) fails in one line, not with http.client's BadStatusLine; Serve
started on a taken HTTP port fails in one line before anything is sent."""

from __future__ import annotations

import dataclasses
import socket
import threading
from pathlib import Path

import pytest

from mlops_lab.backends.serving.ray_serve import RayServeBackend, _request
from mlops_lab.config import Config, ServingConfig
from mlops_lab.errors import ConfigError, UnreachableError


def test_a_port_that_does_not_speak_http_is_one_line() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_garbage() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"\x00\x01not http\r\n\r\n")

    threading.Thread(target=answer_garbage, daemon=True).start()
    try:
        with pytest.raises(
            UnreachableError, match=r"^the Ray head at http://127\.0\.0\.1:\d+ did not answer"
        ):
            _request("GET", f"http://127.0.0.1:{port}/api/serve/applications/", timeout=5)
    finally:
        server.close()


def test_serve_starting_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    config = Config(root=tmp_path, file=None)
    config = dataclasses.replace(config, serving=ServingConfig(http_port=port))
    # nothing answers on port 9: had the PUT been sent, it would fail as UnreachableError
    try:
        with pytest.raises(ConfigError, match=rf"^port {port} \(\[serving\] http_port\) is taken"):
            RayServeBackend(config)._put("http://127.0.0.1:9", {}, [])
    finally:
        taken.close()
