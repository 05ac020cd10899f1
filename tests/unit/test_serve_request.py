"""A Ray head whose dashboard port answers with something that is not HTTP (a GCS port
given by mistake) fails in one line, not with http.client's BadStatusLine."""

from __future__ import annotations

import socket
import threading

import pytest

from mlops_lab.backends.serving.ray_serve import _request
from mlops_lab.errors import UnreachableError


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
