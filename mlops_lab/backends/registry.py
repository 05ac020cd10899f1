"""Implementations of a concern by name, papermill-style: the built-in ones, and any a
package adds through the ``mlops_lab.backends.<concern>`` entry point group (the entry point
names a :class:`Backend`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mlops_lab.errors import ConfigError, closest

if TYPE_CHECKING:
    from mlops_lab.backends.probes import Probe
    from mlops_lab.config import Config

T = TypeVar("T")


@dataclass(frozen=True)
class Backend(Generic[T]):
    """One implementation: how it is built, and how ``lab.status()`` probes it."""

    make: Callable[..., T]
    """Builds the implementation; each concern's ``make`` says what it passes."""
    probe: Callable[[Config], tuple[str, Probe]]
    """config -> (target shown by status, probe); the probe imports no SDK."""


class Registry(Generic[T]):
    def __init__(
        self,
        concern: str,
        builtin: Mapping[str, Backend[T]],
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.concern = concern
        self.group = f"mlops_lab.backends.{concern}"
        self._builtin = dict(builtin)
        self._aliases = dict(aliases or {})
        self._added: dict[str, Backend[T]] | None = None

    def names(self) -> list[str]:
        return [*self._builtin, *(n for n in self._entry_points() if n not in self._builtin)]

    def canonical(self, name: str) -> str:
        """The registered name ``name`` means (an alias resolved); ConfigError when unknown."""
        name = self._aliases.get(name, name)
        if name in self._builtin or name in self._entry_points():
            return name
        known = [*self.names(), *self._aliases]
        close = closest(name, known)
        hint = f"did you mean '{close}'?" if close else f"known: {', '.join(self.names())}"
        raise ConfigError(f"[{self.concern}] backend = '{name}' is not known; {hint}")

    def get(self, name: str) -> Backend[T]:
        name = self.canonical(name)
        found = self._builtin.get(name)
        if found is not None:
            return found
        return self._entry_points()[name]

    def _entry_points(self) -> dict[str, Backend[T]]:
        if self._added is None:
            self._added = {}
            for point in metadata.entry_points(group=self.group):
                self._added[point.name] = _loaded(point)
        return self._added


def _loaded(point: Any) -> Any:
    try:
        return point.load()
    except Exception as exc:
        raise ConfigError(
            f"the backend '{point.name}' ({point.value}) failed to load: {exc}; reinstall the "
            "package that provides it"
        ) from None
