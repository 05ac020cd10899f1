"""Tracking and registry backends: MLflow (the only one so far; ``[tracking]`` has no
backend key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_lab.backends.registry import Backend, Registry

if TYPE_CHECKING:
    from mlops_lab.backends.probes import Probe
    from mlops_lab.config import Config

DEFAULT = "mlflow"


def _make_mlflow(config: Config) -> Any:
    from mlops_lab.backends.tracking.mlflow import open_client, resolve_uri

    return open_client(resolve_uri(config.tracking.uri, config.root))


def _probe_mlflow(config: Config) -> tuple[str, Probe]:
    from mlops_lab.backends.tracking.mlflow import probe as mlflow_probe

    return mlflow_probe(config)


BACKENDS: Registry[Any] = Registry("tracking", {"mlflow": Backend(_make_mlflow, _probe_mlflow)})


def make(config: Config) -> Any:
    """An ``MlflowClient`` for the project's tracking and registry URI."""
    return BACKENDS.get(DEFAULT).make(config)


def probe(config: Config) -> tuple[str, str, Probe]:
    """(kind, target, probe) of the tracking store, for ``lab.status()``."""
    target, check = BACKENDS.get(DEFAULT).probe(config)
    return DEFAULT, target, check
