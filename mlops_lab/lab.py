"""The Lab: one object per project (and per kernel) exposing one service per concern.

Services are typed attributes created on first access, so ``connect()`` costs a TOML read
and nothing else; each service imports its heavy SDK only when it first needs it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from mlops_lab import config as config_module
from mlops_lab.errors import ConflictError, NotAvailableError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlops_lab.services.data import DataService
    from mlops_lab.services.drift import DriftService
    from mlops_lab.services.features import FeatureService
    from mlops_lab.services.lineage import Lineage
    from mlops_lab.services.models import ModelRegistry
    from mlops_lab.services.notebooks import NotebookService
    from mlops_lab.services.serving import ServingService
    from mlops_lab.services.status import StatusReport
    from mlops_lab.services.tracking import TrackingService
    from mlops_lab.services.training import TrainingService

T = TypeVar("T")

SERVICES: dict[str, str] = {}
"""concern -> "module:Class", filled by each :class:`Service` attribute of :class:`Lab`."""


class Service(Generic[T]):
    """A typed attribute of the lab: ``Class(lab)`` from ``"module:Class"``, imported and
    built on first access, then kept."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        SERVICES[name] = self.target

    @overload
    def __get__(self, lab: None, owner: type) -> Service[T]: ...
    @overload
    def __get__(self, lab: Lab, owner: type) -> T: ...
    def __get__(self, lab: Lab | None, owner: type) -> Service[T] | T:
        if lab is None:
            return self
        return cast(T, lab.service(self.name))


GITIGNORE_ENTRIES = (".mlops/", "mlops-runs/")
"""The lab's own state and the executed notebooks of the default [notebooks] output_dir."""


@dataclass(frozen=True)
class InitResult:
    root: Path
    created: tuple[str, ...]
    unchanged: tuple[str, ...]

    def __str__(self) -> str:
        parts = [f"Project at {self.root}"]
        if self.created:
            parts.append("created " + ", ".join(self.created))
        if self.unchanged:
            parts.append("already there: " + ", ".join(self.unchanged))
        return "; ".join(parts)


class Lab:
    """Entry point of the Python API; magics, widgets, REST handlers and the CLI call it."""

    data: Service[DataService] = Service("mlops_lab.services.data:DataService")
    features: Service[FeatureService] = Service("mlops_lab.services.features:FeatureService")
    tracking: Service[TrackingService] = Service("mlops_lab.services.tracking:TrackingService")
    models: Service[ModelRegistry] = Service("mlops_lab.services.models:ModelRegistry")
    training: Service[TrainingService] = Service("mlops_lab.services.training:TrainingService")
    notebooks: Service[NotebookService] = Service("mlops_lab.services.notebooks:NotebookService")
    serving: Service[ServingService] = Service("mlops_lab.services.serving:ServingService")
    drift: Service[DriftService] = Service("mlops_lab.services.drift:DriftService")

    def __init__(self, config: config_module.Config) -> None:
        from mlops_lab.backends.checks import checked

        self.config = checked(config)
        self._services: dict[str, Any] = {}

    @property
    def root(self) -> Path:
        return self.config.root

    def service(self, name: str) -> Any:
        """The service ``name`` of :data:`SERVICES`, built on first use."""
        if name not in self._services:
            self._services[name] = _load_service(name)(self)
        return self._services[name]

    if not TYPE_CHECKING:  # hidden from mypy, so a misspelt service is a type error

        def __getattr__(self, name: str) -> Any:
            # a service registered in SERVICES without a typed attribute (yet)
            if name not in SERVICES:
                raise AttributeError(name)
            return self.service(name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *SERVICES})

    def __repr__(self) -> str:
        source = self.config.file or "embedded defaults"
        return f"<Lab root={str(self.root)!r} config={str(source)!r}>"

    def init(
        self, force: bool = False, settings: Mapping[str, Mapping[str, Any]] | None = None
    ) -> InitResult:
        """Create mlops.toml (every key commented at its default), .mlops/ and a .gitignore entry.

        ``settings`` ({section: {key: value}}, e.g. the team profile) are written set.
        Idempotent; refuses to replace a different mlops.toml unless ``force``.
        """
        root = self.root
        created: list[str] = []
        unchanged: list[str] = []
        config_file = root / config_module.CONFIG_FILE
        wanted = config_module.render_default(settings)
        if config_file.exists():
            if config_file.read_text(encoding="utf-8") == wanted:
                unchanged.append(config_module.CONFIG_FILE)
            elif not force:
                raise ConflictError(
                    f"{config_file} already exists with other settings; keep it, or rerun "
                    "with --force to replace it with the defaults"
                )
            else:
                _write_atomic(config_file, wanted)
                created.append(f"{config_module.CONFIG_FILE} (replaced)")
        else:
            _write_atomic(config_file, wanted)
            created.append(config_module.CONFIG_FILE)

        state = root / config_module.STATE_DIR
        if state.is_dir():
            unchanged.append(config_module.STATE_DIR + "/")
        else:
            state.mkdir(parents=True)
            created.append(config_module.STATE_DIR + "/")

        gitignore = root / ".gitignore"
        existing = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
        missing = [e for e in GITIGNORE_ENTRIES if e not in existing.splitlines()]
        if not missing:
            unchanged.append(".gitignore entry")
        else:
            prefix = "" if not existing or existing.endswith("\n") else "\n"
            _write_atomic(gitignore, existing + prefix + "\n".join(missing) + "\n")
            created.append(".gitignore entry")

        from mlops_lab.backends.checks import checked
        from mlops_lab.backends.features.feast import scaffold

        scaffold(config_module.load(root), created, unchanged)

        self.config = checked(config_module.load(root))
        self._services.clear()
        return InitResult(root, tuple(created), tuple(unchanged))

    def lineage(self, target: str) -> Lineage:
        """Walk the lineage thread of a model (``name@alias``, ``name/3``) or a run id: back
        to its run, data commits, features and notebook, and forward to what used it."""
        from mlops_lab.services.lineage import LineageService

        return LineageService(self).walk(target)

    def status(self, timeout: float = 2.5) -> StatusReport:
        """Per backend: kind, target, and whether it answers, each probe bounded by ``timeout``."""
        from mlops_lab.services.status import probe_all

        return probe_all(self.config, timeout)


def _load_service(name: str) -> Any:
    module_name, _, cls_name = SERVICES[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NotAvailableError(f"lab.{name} is not part of this version of mlops-lab") from None
    return getattr(module, cls_name)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def connect(path: str | os.PathLike[str] | None = None) -> Lab:
    """Open the project at ``path`` (or the one found from the working directory)."""
    from mlops_lab.notices import quiet_kernel

    quiet_kernel()
    return Lab(config_module.load(path))
