"""The KubeRay RayJob custom resource of a training job, as a plain dict: a head group and
one worker group running the configured image, ``nvidia.com/gpu`` limits when GPUs are
asked, ``activeDeadlineSeconds``, ``shutdownAfterJobFinishes`` with a TTL, and credentials
only as ``secretKeyRef``."""

from __future__ import annotations

from importlib import metadata as importlib_metadata
from typing import Any

from mlops_lab.backends.k8s.credentials import secret_refs
from mlops_lab.backends.k8s.names import is_name, quantity
from mlops_lab.errors import ConfigError, UsageError

GROUP, VERSION, PLURAL, KIND = "ray.io", "v1", "rayjobs", "RayJob"
MANAGED_BY = "mlops-lab"
DEFAULT_TTL_S = 600


def ray_version() -> str:
    try:
        return importlib_metadata.version("ray")
    except importlib_metadata.PackageNotFoundError:
        return "2.60.0"


def build_rayjob(
    name: str,
    namespace: str,
    image: str,
    entrypoint: str,
    runtime_env: dict[str, Any],
    workers: int = 2,
    cpus: float = 1.0,
    gpus: float = 0.0,
    memory: str = "2Gi",
    deadline_s: int | None = None,
    ttl_s: int = DEFAULT_TTL_S,
    credentials: str = "",
    annotations: dict[str, str] | None = None,
    extra_env: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The RayJob custom resource as a plain dict (see the module docstring)."""
    import yaml

    check_values(name, namespace, image, workers, cpus, gpus, deadline_s, ttl_s, credentials)
    env = [*(secret_refs(credentials) if credentials else []), *(extra_env or [])]

    def container(role: str, cpu: float, gpu: int) -> dict[str, Any]:
        limits: dict[str, Any] = {"cpu": quantity(cpu), "memory": memory}
        if gpu:
            limits["nvidia.com/gpu"] = gpu
        item: dict[str, Any] = {
            "name": f"ray-{role}",
            "image": image,
            "resources": {"requests": {"cpu": quantity(cpu), "memory": memory}, "limits": limits},
        }
        if env:
            item["env"] = env
        if role == "head":
            item["ports"] = [
                {"containerPort": 6379, "name": "gcs"},
                {"containerPort": 8265, "name": "dashboard"},
                {"containerPort": 10001, "name": "client"},
            ]
        return item

    per_worker_gpu = int(gpus // workers) if gpus else 0
    worker_pod: dict[str, Any] = {"containers": [container("worker", cpus, per_worker_gpu)]}
    if per_worker_gpu:
        worker_pod["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    spec: dict[str, Any] = {
        "entrypoint": entrypoint,
        "runtimeEnvYAML": yaml.safe_dump(runtime_env, sort_keys=True),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": ttl_s,
        "submissionMode": "K8sJobMode",
        "backoffLimit": 0,
        "rayClusterSpec": {
            "rayVersion": ray_version(),
            "headGroupSpec": {
                # The head only coordinates: its CPUs are not offered to the workers.
                "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
                "template": {"spec": {"containers": [container("head", 1, 0)]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": workers,
                    "minReplicas": workers,
                    "maxReplicas": workers,
                    "rayStartParams": {},
                    "template": {"spec": worker_pod},
                }
            ],
        },
    }
    if deadline_s:
        spec["activeDeadlineSeconds"] = int(deadline_s)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
    }


def check_values(
    name: str,
    namespace: str,
    image: str,
    workers: int,
    cpus: float,
    gpus: float,
    deadline_s: int | None,
    ttl_s: int,
    credentials: str,
) -> None:
    """One line for the first value Kubernetes or KubeRay would refuse."""
    if not is_name(name, 47):
        raise UsageError(
            f"invalid RayJob name '{name}': use at most 47 lowercase letters, "
            "digits and '-' (KubeRay derives pod names from it)"
        )
    if not is_name(namespace, 63):
        raise UsageError(f"invalid namespace '{namespace}': use a DNS label such as 'ml-team'")
    if not image or any(c.isspace() for c in image):
        raise ConfigError(
            "no container image for the RayJob: set [kubernetes] image in "
            "mlops.toml to an image with mlops-lab and ray installed"
        )
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if cpus <= 0 or cpus * 1000 != int(cpus * 1000):
        raise UsageError(f"--cpus must be a positive number of millicores, got {cpus}")
    if gpus and (gpus < 0 or gpus % workers or not float(gpus).is_integer()):
        raise UsageError(
            f"--gpus {gpus:g} cannot be split over {workers} pods on Kubernetes: "
            "give a whole number of GPUs per worker (a multiple of --workers)"
        )
    if deadline_s is not None and deadline_s <= 0:
        raise UsageError(f"--deadline must be a positive number of seconds, got {deadline_s}")
    if ttl_s < 0:
        raise UsageError(f"the RayJob TTL must be 0 or more seconds, got {ttl_s}")
    if credentials and not is_name(credentials, 63):
        raise ConfigError(f"[kubernetes] credentials '{credentials}' is not a valid Secret name")
