"""What the kernel hands a job (a notebook job's kernel, a Ray job's driver and workers):
one dataclass, carried as ``MLOPS_<FIELD>`` environment variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

PREFIX = "MLOPS_"


@dataclasses.dataclass(frozen=True)
class JobEnv:
    """Each field travels as ``MLOPS_<FIELD>`` (upper case); empty fields are not set."""

    project: str = ""
    """Project root of the job, when the job runs where the project is."""
    notebook_path: str = ""
    """Absolute path of the source notebook (read by lineage as the code's origin)."""
    job_id: str = ""
    """Id of a notebook job (tagged on its runs as mlops.job.id)."""
    job_name: str = ""
    ray_job_id: str = ""
    code_hash: str = ""
    origin_tags: str = ""
    """JSON of the lineage tags of the code that submitted a Ray job."""
    workers: str = ""
    cpus: str = ""
    gpus: str = ""
    max_failures: str = ""
    deadline_s: str = ""
    register: str = ""
    """Model name to register the job's model under."""
    run_id: str = ""
    """The MLflow run a Ray job's driver opened (set for its workers)."""
    tracking_uri: str = ""
    model_uri: str = ""

    def to_env(self) -> dict[str, str]:
        return {
            variable(f.name): value
            for f in dataclasses.fields(self)
            if (value := getattr(self, f.name))
        }

    @classmethod
    def current(cls, env: Mapping[str, str] | None = None) -> JobEnv:
        """The job environment of this process (``os.environ`` by default)."""
        env = os.environ if env is None else env
        return cls(**{f.name: env.get(variable(f.name), "") for f in dataclasses.fields(cls)})


def variable(field: str) -> str:
    """The environment variable that carries ``field``."""
    return PREFIX + field.upper()
