"""Lineage keys (a public contract: stored in lakeFS commit metadata, MLflow tags and
Kubernetes annotations) and the one encoding of a multi-value tag."""

from __future__ import annotations

import re
from collections.abc import Iterable

DATA_COMMIT = "mlops.data.commit"  # commit ids read or written (several: see encode)
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

MAX_TAG = 5000  # MLflow stores at most 8000 characters per tag value (5000 in older servers)

SEPARATOR = ","
_MORE = re.compile(r"^\.\.\.\(\+\d+ more\)$")


def encode(values: Iterable[str], limit: int = MAX_TAG) -> str:
    """Several values as one tag value, cut to ``limit`` characters with a last item
    ``...(+N more)`` saying how many were left out (``decode`` drops it)."""
    items = [str(v) for v in values if v]
    text = SEPARATOR.join(items)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for item in items:
        if len(SEPARATOR.join([*kept, item])) > limit - 20:
            break
        kept.append(item)
    return SEPARATOR.join([*kept, f"...(+{len(items) - len(kept)} more)"])


def decode(value: str | None) -> list[str]:
    """The values of a tag written by ``encode`` (the truncation marker is not a value)."""
    return [v for v in (value or "").split(SEPARATOR) if v and not _MORE.match(v)]
