"""What each backend's ``probe(config)`` is built from: standard-library checks only (no SDK
import), each bounded by the timeout it is given."""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mlops_lab.redact import redact_text, redact_url, without_credentials

Probe = Callable[[float], tuple[bool, str]]
"""timeout -> (reachable, detail)."""


def http_get(url: str, timeout: float, path: str = "") -> tuple[bool, str]:
    """GET ``url`` (with ``path`` appended to its path, before any query); userinfo in it
    is sent as basic auth, and never shown."""
    bare, login = without_credentials(url)
    if path:
        parts = urllib.parse.urlsplit(bare)
        bare = urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))
    request = urllib.request.Request(bare)
    if login is not None:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    shown = redact_url(bare)
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
