"""The Kubernetes objects of a scheduled notebook: a CronJob running ``mlops-lab run`` in an
image, and a ConfigMap shipping the notebook (outputs cleared) and the project's
``mlops.toml`` (which never holds secrets). Credentials reach the pod only as
``secretKeyRef`` environment variables."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import limits, lineage
from mlops_lab.backends.k8s.credentials import (
    DEFAULT_CREDENTIALS_SECRET,
    SecretEnv,
    check_no_url_credentials,
    plain_env,
    secret_refs,
)
from mlops_lab.backends.k8s.validation import validate

if TYPE_CHECKING:
    from mlops_lab.config import Config

MANAGED_BY = "mlops-lab"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_SCHEDULE = "mlops-lab/schedule"
COMPONENT = "notebook-schedule"
ANNOTATION_PARAMETERS = "mlops-lab/parameters"
ANNOTATION_NOTEBOOK_URI = "mlops-lab/notebook-uri"
ANNOTATION_SOURCE = "mlops-lab/source"

CONFIGMAP_LIMIT = 900 * 1024
"""Largest notebook shipped in a ConfigMap (Kubernetes caps one at 1 MiB)."""
WORKDIR = "/mlops/project"
NOTEBOOK_DIR = "/mlops/notebook"
OUTPUT_DIR = "/mlops/runs"
MAX_NAME = 52  # a CronJob's Jobs append 11 characters to its name, within 63


@dataclass
class ScheduleSpec:
    """Everything a schedule is made of; ``manifests()`` turns it into Kubernetes objects."""

    name: str
    notebook: Path
    cron: str
    image: str
    namespace: str
    parameters: dict[str, Any] = field(default_factory=dict)
    gpus: int = 0
    cpu: str = "1"
    memory: str = "2Gi"
    timeout: float | None = None
    """Per-cell timeout passed to `mlops-lab run --timeout`."""
    deadline_s: int = 6 * 3600
    """activeDeadlineSeconds of each Job."""
    starting_deadline_s: int = 300
    retries: int = 1
    """backoffLimit of each Job."""
    history: int = 3
    timezone: str = ""
    credentials_secret: str = DEFAULT_CREDENTIALS_SECRET
    secret_env: tuple[SecretEnv, ...] = ()
    suspend: bool = False


def shipped_notebook(source: Path) -> bytes:
    """The notebook as the schedule ships it: outputs and execution counts cleared."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return json.dumps(nb, indent=1, ensure_ascii=False).encode("utf-8")


def build(
    config: Config, spec: ScheduleSpec, notebook_uri: str | None = None
) -> list[dict[str, Any]]:
    """The ConfigMap and CronJob of a schedule, validated against the Kubernetes schemas.

    The notebook travels in the ConfigMap (outputs cleared), or, when ``notebook_uri`` is
    given, is read back from that URI when the job runs."""
    labels = {LABEL_MANAGED: MANAGED_BY, LABEL_COMPONENT: COMPONENT, LABEL_SCHEDULE: spec.name}
    source_name = spec.notebook.name
    data: dict[str, str] = {}
    check_no_url_credentials(config)
    if config.file is not None:
        data["mlops.toml"] = config.file.read_text(encoding="utf-8")
    if notebook_uri is None:
        data["notebook.ipynb"] = shipped_notebook(spec.notebook).decode("utf-8")
        target = f"{NOTEBOOK_DIR}/{source_name}"
    else:
        target = notebook_uri
    annotations = {
        ANNOTATION_SOURCE: str(spec.notebook),
        ANNOTATION_PARAMETERS: json.dumps(spec.parameters, sort_keys=True, default=str),
        lineage.NOTEBOOK_PATH: str(spec.notebook),
    }
    annotations.update(lineage.git_state(spec.notebook, only_path=True))
    if notebook_uri:
        annotations[ANNOTATION_NOTEBOOK_URI] = notebook_uri
    limits.check_annotations(annotations, f"schedule {spec.name}")

    command = ["mlops-lab", "run", target, "--output", f"{OUTPUT_DIR}/{spec.name}.ipynb"]
    for key, value in spec.parameters.items():
        command += ["-p", key, value if isinstance(value, str) else json.dumps(value)]
    if spec.timeout is not None:
        command += ["--timeout", f"{spec.timeout:g}"]

    env: list[dict[str, Any]] = [
        {"name": "MLOPS_SCHEDULE", "value": spec.name},
        *plain_env(config, spec.credentials_secret),
    ]
    env += secret_refs(spec.credentials_secret, skip={e.variable for e in spec.secret_env})
    for extra in spec.secret_env:
        env.append(
            {
                "name": extra.variable,
                "valueFrom": {"secretKeyRef": {"name": extra.secret, "key": extra.key}},
            }
        )

    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": spec.cpu, "memory": spec.memory},
        "limits": {"memory": spec.memory},
    }
    if spec.gpus:
        resources["requests"]["nvidia.com/gpu"] = spec.gpus
        resources["limits"]["nvidia.com/gpu"] = spec.gpus

    mounts: list[dict[str, Any]] = [
        {"name": "work", "mountPath": WORKDIR},
        {"name": "runs", "mountPath": OUTPUT_DIR},
    ]
    items = []
    if "mlops.toml" in data:
        mounts.append(
            {
                "name": "shipped",
                "mountPath": f"{WORKDIR}/mlops.toml",
                "subPath": "mlops.toml",
                "readOnly": True,
            }
        )
        items.append({"key": "mlops.toml", "path": "mlops.toml"})
    if notebook_uri is None:
        mounts.append(
            {"name": "shipped", "mountPath": target, "subPath": source_name, "readOnly": True}
        )
        items.append({"key": "notebook.ipynb", "path": source_name})
    volumes: list[dict[str, Any]] = [
        {"name": "work", "emptyDir": {}},
        {"name": "runs", "emptyDir": {}},
    ]
    config_map_name = f"{spec.name}-notebook"
    if items:
        volumes.append({"name": "shipped", "configMap": {"name": config_map_name, "items": items}})
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "notebook",
                "image": spec.image,
                "command": command,
                "workingDir": WORKDIR,
                "env": env,
                "resources": resources,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if spec.gpus:
        pod_spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    cron_job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "schedule": spec.cron,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": spec.starting_deadline_s,
            "successfulJobsHistoryLimit": spec.history,
            "failedJobsHistoryLimit": spec.history,
            "suspend": spec.suspend,
            "jobTemplate": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "backoffLimit": spec.retries,
                    "activeDeadlineSeconds": spec.deadline_s,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }
    if spec.timezone:
        cron_job["spec"]["timeZone"] = spec.timezone
    out: list[dict[str, Any]] = []
    if data:
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": config_map_name,
                    "namespace": spec.namespace,
                    "labels": labels,
                    "annotations": {"mlops-lab/sha256": digest},
                },
                "data": data,
            }
        )
    out.append(cron_job)
    for manifest in out:
        validate(manifest)
    return out
