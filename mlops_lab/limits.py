"""Name and size limits, in one place for every surface (Python API, magics, REST, CLI):
a value over a limit, or a name with a NUL byte, is one line that quotes at most a short
prefix of it."""

from __future__ import annotations

import json
from typing import Any

from mlops_lab.errors import TooLargeError, UsageError

MAX_NAME = 200
"""Characters of a branch, tag or ref name (lakeFS and file systems stop near 255)."""
MAX_PATH = 4096
"""Characters of a path (PATH_MAX on Linux)."""
MAX_PARAMETER_BYTES = 1024 * 1024
"""JSON size of one notebook parameter value."""
MAX_ANNOTATIONS_BYTES = 256 * 1024
"""Kubernetes' cap on all annotations of one object together."""
MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""Body of one REST request."""
SHOWN = 60
"""Characters of an offending value quoted back in an error."""


def shown(value: object) -> str:
    """``value`` for an error message: repr'd, cut to a short prefix with its full length."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= SHOWN:
        return repr(text)
    return f"{text[:SHOWN]!r}... ({len(text):,} characters)"


def check_text(value: str, what: str, limit: int) -> str:
    """Refuse a NUL byte or more than ``limit`` characters in a name or path."""
    if "\x00" in value:
        raise UsageError(f"{what} {shown(value)} contains a NUL byte; remove it")
    if len(value) > limit:
        raise TooLargeError(
            f"{what} {shown(value)} is too long ({len(value):,} characters, at most {limit:,})"
        )
    return value


def check_name(value: str, what: str) -> str:
    return check_text(value, what, MAX_NAME)


def check_path(value: str, what: str = "path") -> str:
    return check_text(value, what, MAX_PATH)


def check_parameter(name: str, value: Any) -> None:
    size = len(json.dumps(value, default=str).encode("utf-8"))
    if size > MAX_PARAMETER_BYTES:
        raise TooLargeError(
            f"parameter '{name}' is {size:,} bytes, over the limit of {MAX_PARAMETER_BYTES:,}; "
            "pass large inputs as data (lab.data) and give the notebook their path"
        )


def check_annotations(annotations: dict[str, str], what: str) -> None:
    size = sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        raise TooLargeError(
            f"{what}: its annotations (parameters, notebook path) take {size:,} bytes, over "
            f"Kubernetes' limit of {MAX_ANNOTATIONS_BYTES:,}; pass large inputs as data "
            "(lab.data) and give the notebook their path"
        )


def check_request(body: bytes) -> None:
    if len(body) > MAX_REQUEST_BYTES:
        raise TooLargeError(
            f"request body of {len(body):,} bytes is over the limit of {MAX_REQUEST_BYTES:,}"
        )
