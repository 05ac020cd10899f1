"""The lineage thread: stable keys, and a collector that services feed while a run is open.

Services that read or create something call ``note(key, value)``; a tracked run opens
``collecting()`` and stamps what was noted as MLflow tags when it ends. Outside a run,
``note`` does nothing. The keys are a public contract: they are stored in lakeFS commit
metadata, MLflow tags and Kubernetes annotations.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field

DATA_COMMIT = "mlops.data.commit"  # commit ids read or written (comma separated when several)
DATA_PATHS = "mlops.data.paths"
DATA_REPOSITORY = "mlops.data.repository"
FEATURES_SERVICE = "mlops.features.service"
FEATURES_VIEWS = "mlops.features.views"
FEATURES_DATA_REF = "mlops.features.data_ref"
NOTEBOOK_PATH = "mlops.notebook.path"
NOTEBOOK_GIT_SHA = "mlops.notebook.git_sha"
NOTEBOOK_GIT_DIRTY = "mlops.notebook.git_dirty"
CODE_HASH = "mlops.code.hash"
RAY_JOB_ID = "mlops.ray.job_id"
RUN_ID = "mlops.run.id"
MODEL_NAME = "mlops.model.name"
MODEL_VERSION = "mlops.model.version"
DEPLOY_REVISION = "mlops.deploy.revision"
PIPELINE_RUN = "mlops.pipeline.run"


@dataclass
class Collector:
    """What a run touched, key -> values in the order first seen."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, value: str) -> None:
        seen = self.values.setdefault(key, [])
        if value not in seen:
            seen.append(value)

    def tags(self) -> dict[str, str]:
        return {key: ",".join(values) for key, values in self.values.items() if values}


_current: contextvars.ContextVar[Collector | None] = contextvars.ContextVar(
    "mlops_lineage", default=None
)


def note(key: str, value: str) -> None:
    collector = _current.get()
    if collector is not None:
        collector.add(key, str(value))


@contextlib.contextmanager
def collecting() -> Iterator[Collector]:
    collector = Collector()
    token = _current.set(collector)
    try:
        yield collector
    finally:
        _current.reset(token)
