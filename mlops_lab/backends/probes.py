"""What each backend's ``probe(config)`` is built from: standard-library checks only (no SDK
import), each bounded by the timeout it is given."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import struct
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_lab.redact import redact_text, redact_url, without_credentials

Probe = Callable[[float], tuple[bool, str]]
"""timeout -> (reachable, detail)."""


def _request(url: str, path: str) -> tuple[urllib.request.Request, str]:
    """A GET of ``url`` (with ``path`` appended to its path, before any query) whose
    userinfo is sent as basic auth; and the URL as it may be shown."""
    bare, login = without_credentials(url)
    if path:
        parts = urllib.parse.urlsplit(bare)
        bare = urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))
    request = urllib.request.Request(bare)
    if login is not None:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request, redact_url(bare)


def http_get(url: str, timeout: float, path: str = "") -> tuple[bool, str]:
    """GET ``url`` + ``path``: reachable or not, with credentials used but never shown."""
    request, shown = _request(url, path)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return True, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return True, f"answers (HTTP {exc.code}: check credentials)"
        return False, f"HTTP {exc.code} from {shown}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, redact_text(f"cannot connect to {shown}: {reason}")


def http_json(url: str, timeout: float, path: str = "") -> Any:
    """The JSON (or plain text) ``url`` + ``path`` answers, or None when it does not."""
    request, _ = _request(url, path)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(65536).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.strip()


def http(url: str, hint: str) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        if not url:
            return False, f"no endpoint configured; {hint}"
        return http_get(url, timeout)

    return probe


def local_dir(path: Path) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        if path.is_dir():
            ok = os.access(path, os.W_OK)
            return ok, "ready" if ok else "not writable"
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and os.access(parent, os.W_OK):
            return True, "created on first use"
        return False, f"cannot create {path}"

    return probe


def host_port(url: str, default_port: int) -> tuple[str, int]:
    """(host, port) of a URL such as postgresql://user@host:5432/db or redis://host:6379/0."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "localhost", parts.port or default_port


def redis(url: str) -> Probe:
    """PING, then the server's version from INFO (AUTH first when the URL has a password)."""

    def probe(timeout: float) -> tuple[bool, str]:
        host, port = host_port(url, 6379)
        parts = urllib.parse.urlsplit(url)
        try:
            with socket.create_connection((host, port), timeout=timeout) as conn:
                conn.settimeout(timeout)
                if parts.password:
                    user = [parts.username] if parts.username else []
                    _redis_call(conn, "AUTH", *user, urllib.parse.unquote(parts.password))
                info = _redis_call(conn, "INFO", "server")
        except OSError as exc:
            return False, f"cannot connect to Redis at {host}:{port}: {exc}"
        except ValueError as exc:
            return False, f"Redis at {host}:{port} refused: {exc}"
        version = re.search(r"redis_version:(\S+)", info)
        return True, f"Redis {version.group(1) if version else '(version unknown)'}"

    return probe


def _redis_call(conn: socket.socket, *words: str) -> str:
    request = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    conn.sendall(request.encode())
    reader = conn.makefile("rb")
    first = reader.readline().decode().rstrip("\r\n")
    if first.startswith("-"):
        raise ValueError(first[1:])
    if first.startswith("$"):
        size = int(first[1:])
        return reader.read(size + 2).decode()[:size] if size >= 0 else ""
    return first[1:]


def postgres(url: str) -> Probe:
    """PostgreSQL's startup handshake: the server version when it lets the user in without a
    password, else that it answers and asks for one (a probe never sends credentials)."""

    def probe(timeout: float) -> tuple[bool, str]:
        host, port = host_port(url, 5432)
        parts = urllib.parse.urlsplit(url)
        user = parts.username or "postgres"
        database = parts.path.lstrip("/") or user
        params = f"user\0{user}\0database\0{database}\0\0".encode()
        startup = struct.pack("!ii", 8 + len(params), 196608) + params
        try:
            with socket.create_connection((host, port), timeout=timeout) as conn:
                conn.settimeout(timeout)
                conn.sendall(startup)
                return _postgres_answer(conn.makefile("rb"))
        except (OSError, struct.error) as exc:
            return False, f"cannot connect to PostgreSQL at {host}:{port}: {exc}"

    return probe


def _postgres_answer(reader: Any) -> tuple[bool, str]:
    while True:
        header = reader.read(5)
        if len(header) < 5:
            return False, "PostgreSQL closed the connection"
        kind, size = header[:1], struct.unpack("!i", header[1:])[0]
        body = reader.read(size - 4)
        if kind == b"E":
            fields = dict((f[:1], f[1:]) for f in body.split(b"\0") if f)
            message = fields.get(b"M", b"error").decode("utf-8", "replace")
            return False, f"PostgreSQL refused: {message}"
        if kind == b"R" and struct.unpack("!i", body[:4])[0] != 0:
            return True, "PostgreSQL answers (password required)"
        if kind == b"S":
            name, _, value = body.partition(b"\0")
            if name == b"server_version":
                return True, "PostgreSQL " + value.rstrip(b"\0").decode()


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this machine (one owned by another user
    counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
