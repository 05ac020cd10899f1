"""Feature-store backends: Feast (the only one so far; ``[features]`` has no backend key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_lab.backends.registry import Backend, Registry

if TYPE_CHECKING:
    from mlops_lab.backends.probes import Probe
    from mlops_lab.config import Config

DEFAULT = "feast"


def _make_feast(config: Config) -> Any:
    from mlops_lab.backends.features.feast import open_store

    return open_store(config.resolve(config.features.repo), config.features)


def _probe_feast(config: Config) -> tuple[str, Probe]:
    from mlops_lab.backends.features.feast import probe as feast_probe

    return feast_probe(config)


BACKENDS: Registry[Any] = Registry("features", {"feast": Backend(_make_feast, _probe_feast)})


def make(config: Config) -> Any:
    """Feast's ``FeatureStore`` for the project's repository."""
    return BACKENDS.get(DEFAULT).make(config)


def probe(config: Config) -> tuple[str, str, Probe]:
    """(kind, target, probe) of the feature store, for ``lab.status()``."""
    target, check = BACKENDS.get(DEFAULT).probe(config)
    return DEFAULT, target, check
