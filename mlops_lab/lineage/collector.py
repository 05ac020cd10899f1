"""The collector that services feed while a run is open.

Services that read or create something call ``note(key, value)``; a tracked run opens a
collector and stamps what was noted as MLflow tags when it ends. Outside a run, ``note``
does nothing.

Two ways to collect:

- ``collecting()`` scopes a collector to the current context (a ``with`` block, a thread,
  an asyncio task);
- ``activate()`` / ``deactivate()`` open a process-wide collector, for a run that a notebook
  opens in one cell and ends in another: IPython kernels run each cell in a fresh context,
  so a context variable set in one cell is not seen by the next.

``note`` feeds every collector open at that moment.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlops_lab.lineage.keys import encode


@dataclass
class Collector:
    """What a run touched, key -> values in the order first seen."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, value: str) -> None:
        seen = self.values.setdefault(key, [])
        if value not in seen:
            seen.append(value)

    def tags(self) -> dict[str, str]:
        return {key: encode(values) for key, values in self.values.items() if values}


_context: contextvars.ContextVar[Collector | None] = contextvars.ContextVar(
    "mlops_lineage", default=None
)
_active: list[Collector] = []
_active_lock = threading.Lock()


def collecting_now() -> bool:
    """Whether a run (or ``collecting()``) is gathering lineage at this moment."""
    return _context.get() is not None or bool(_active)


def note(key: str, value: str) -> None:
    collector = _context.get()
    if collector is not None:
        collector.add(key, str(value))
    if _active:
        with _active_lock:
            for other in _active:
                if other is not collector:
                    other.add(key, str(value))


def activate(collector: Collector | None = None) -> Collector:
    """Open a process-wide collector (seen from every cell and thread) until ``deactivate``."""
    collector = collector if collector is not None else Collector()
    with _active_lock:
        if not any(c is collector for c in _active):
            _active.append(collector)
    return collector


def deactivate(collector: Collector) -> None:
    with _active_lock:
        _active[:] = [c for c in _active if c is not collector]


@contextlib.contextmanager
def collecting() -> Iterator[Collector]:
    collector = Collector()
    token = _context.set(collector)
    try:
        yield collector
    finally:
        _context.reset(token)
