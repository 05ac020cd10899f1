"""Every configured backend name checked against its registry once, when a project is
opened (``Lab``): an unknown name is one line with a did-you-mean, and an alias
("local", "k8s") becomes the name it stands for."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlops_lab.backends import data, serving, training
from mlops_lab.backends.data.base import check_name
from mlops_lab.backends.registry import Registry
from mlops_lab.config import Config
from mlops_lab.errors import ConfigError, LabError


def checked(config: Config) -> Config:
    """``config`` with each backend name resolved through its registry, and the names the
    backends would refuse on first use (serving backend, default branch) checked now."""
    for section, check in (
        ("serving.backend", serving.backend_name),
        ("data.default_branch", check_name),
    ):
        group, _, key = section.partition(".")
        try:
            check(getattr(getattr(config, group), key))
        except LabError as exc:
            where = config.overrides.get(section) or config.file or "embedded defaults"
            raise ConfigError(f"{where}: [{group}] {key}: {exc}") from None
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, backend=_name(config, "data", data.BACKENDS)),
        training=dataclasses.replace(
            config.training, backend=_name(config, "training", training.BACKENDS)
        ),
    )


def _name(config: Config, section: str, registry: Registry[Any]) -> str:
    name = str(getattr(config, section).backend)
    try:
        return registry.canonical(name)
    except ConfigError as exc:
        where = config.overrides.get(f"{section}.backend") or config.file or "embedded defaults"
        raise ConfigError(f"{where}: {exc}") from None
