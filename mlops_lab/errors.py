"""The one exception root of the lab.

``str(error)`` is the single line a user sees: what failed and what to do next.
IPython shows ``_render_traceback_`` instead of a traceback, so a failing magic prints
that line and still raises (papermill marks the cell failed). Errors pickle with their
fields intact because they cross Ray process boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlops_lab.redact import redact_text


class LabError(Exception):
    """Root of every error the lab raises on purpose."""

    http_status = 500

    def __init__(self, message: str, **fields: Any) -> None:
        message = redact_text(message)  # a URL's password or token never reaches the user
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        return f"{type(self).__name__}: {self.message}"

    def _render_traceback_(self) -> list[str]:
        return [self.one_line()]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.fields))


def _rebuild(cls: type[LabError], message: str, fields: dict[str, Any]) -> LabError:
    return cls(message, **fields)


class UsageError(LabError):
    """The user asked for something malformed: wrong flag, bad value, bad name."""

    http_status = 400


class TooLargeError(UsageError):
    """A name, value or request over the lab's size limits."""

    http_status = 413


class ConfigError(LabError):
    """mlops.toml or the environment holds something the lab cannot use."""

    http_status = 400


class SecretInConfigError(ConfigError):
    """A secret was put where secrets must never be."""


class NotFoundError(LabError):
    http_status = 404


class ConflictError(LabError):
    """The target exists already, or changed concurrently (merge conflict, branch exists)."""

    http_status = 409


class AccessDeniedError(LabError):
    """Wrong credentials, forbidden, or a protected branch."""

    http_status = 403


class UnreachableError(LabError):
    """A backend endpoint did not answer in time."""

    http_status = 503


class BackendError(LabError):
    """A backend answered with a failure that is not the user's mistake."""

    http_status = 502


class NotAvailableError(LabError):
    """The capability is not part of this version or needs an optional install."""

    http_status = 501


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely means (case-insensitive), or None when none is close."""
    import difflib

    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def require(module: str, install: str | None = None) -> Any:
    """Import an optional heavy SDK on first use, with an install hint when it is missing
    (``pip install INSTALL``, by default the module's top-level package)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        target = install or module.split(".")[0]
        raise NotAvailableError(
            f"{module} is not installed ({exc}); run: pip install '{target}'"
        ) from None
