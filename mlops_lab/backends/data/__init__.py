"""Data-versioning backends: the embedded store (local) and lakeFS, chosen by
``[data] backend``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab.backends.probes import Probe, http, local_dir
from mlops_lab.backends.registry import Backend, Registry

if TYPE_CHECKING:
    from mlops_lab.backends.data.base import DataBackend
    from mlops_lab.config import Config


def _make_local(config: Config) -> DataBackend:
    from mlops_lab.backends.data.base import check_name
    from mlops_lab.backends.data.local import LocalBackend

    return LocalBackend(config.resolve(config.data.path), check_name(config.data.default_branch))


def _probe_local(config: Config) -> tuple[str, Probe]:
    path = config.resolve(config.data.path)
    return str(path), local_dir(path)


def _make_lakefs(config: Config) -> DataBackend:
    from mlops_lab.backends.data.lakefs import LakeFSBackend

    return LakeFSBackend.from_config(config)


def _probe_lakefs(config: Config) -> tuple[str, Probe]:
    data = config.data
    endpoint = data.endpoint.rstrip("/")
    url = f"{endpoint}/api/v1/healthcheck" if endpoint else ""
    target = f"{endpoint or '(no endpoint)'} repo={data.repository or '(unset)'}"
    return target, http(url, "set LAKECTL_SERVER_ENDPOINT_URL")


BACKENDS: Registry[DataBackend] = Registry(
    "data",
    {
        "local": Backend(_make_local, _probe_local),
        "lakefs": Backend(_make_lakefs, _probe_lakefs),
    },
)


def make(config: Config) -> DataBackend:
    """The data backend ``[data] backend`` names."""
    return BACKENDS.get(config.data.backend).make(config)


def probe(config: Config) -> tuple[str, str, Probe]:
    """(kind, target, probe) of the configured data backend, for ``lab.status()``."""
    kind = config.data.backend
    target, check = BACKENDS.get(kind).probe(config)
    return kind, target, check
