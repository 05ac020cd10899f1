"""What each backend's ``probe(config)`` is built from: standard-library checks only (no SDK
import), each bounded by the timeout it is given."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

Probe = Callable[[float], tuple[bool, str]]
"""timeout -> (reachable, detail)."""


def http_get(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return True, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return True, f"answers (HTTP {exc.code}: check credentials)"
        return False, f"HTTP {exc.code} from {url}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"cannot connect to {url}: {reason}"


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
