"""Training backends: the local Ray head the lab manages, Ray Job Submission against any
head (local, remote, KubeRay head service), and KubeRay RayJob custom resources, chosen by
``[training] backend`` (or ``--on``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mlops_lab.backends.probes import Probe, http, http_get, http_json
from mlops_lab.backends.registry import Backend, Registry

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_lab.backends.training.base import TrainingBackend
    from mlops_lab.backends.training.local_head import LocalHead
    from mlops_lab.config import Config
    from mlops_lab.lab import Lab


def http_address(address: str) -> str:
    """Job Submission speaks HTTP to the dashboard; ray://host:10001 means host:8265 there."""
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    if address.startswith("ray://"):
        host = address.removeprefix("ray://").split("/")[0].rsplit(":", 1)[0]
        return f"http://{host}:8265"
    return f"http://{address.rstrip('/')}"


def _make_local(lab: Lab, cluster: LocalHead, start: bool) -> TrainingBackend:
    from mlops_lab.backends.training.ray_jobs import RayJobSubmission
    from mlops_lab.errors import NotFoundError

    address = cluster.address()
    if address is None and not start:
        raise NotFoundError(
            "the local Ray head is not running (its jobs ended with it); "
            "start one with %mlops ray up or submit a job"
        )
    return RayJobSubmission(address or cluster.up().dashboard_url, "ray-local")


def _probe_local(config: Config) -> tuple[str, Probe]:
    state = config.state_dir / "ray" / "head.json"
    return str(state.parent), _head_answers(state)


def _head_answers(state: Path) -> Probe:
    def probe(timeout: float) -> tuple[bool, str]:
        try:
            head = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True, "not running; starts on first job (%mlops ray up)"
        url = head.get("dashboard_url", "")
        ok, reason = http_get(f"{url}/api/version", timeout)
        return (
            (True, f"head running at {url}") if ok else (False, f"head recorded but down: {reason}")
        )

    return probe


def _make_remote(lab: Lab, cluster: LocalHead, start: bool) -> TrainingBackend:
    from mlops_lab.backends.training.ray_jobs import RayJobSubmission
    from mlops_lab.errors import ConfigError

    address = lab.config.training.address
    if not address:
        raise ConfigError("no remote Ray head: set RAY_ADDRESS or [training] address")
    return RayJobSubmission(http_address(address), "ray-remote")


def _probe_remote(config: Config) -> tuple[str, Probe]:
    address = config.training.address
    url = f"{http_address(address)}/api/version" if address else ""
    answers = http(url, "set RAY_ADDRESS")

    def probe(timeout: float) -> tuple[bool, str]:
        ok, detail = answers(timeout)
        version = http_json(url, timeout) if ok else None
        if isinstance(version, dict) and version.get("ray_version"):
            return True, f"Ray {version['ray_version']} head"
        return ok, detail

    return address or "(unset)", probe


def _make_kuberay(lab: Lab, cluster: LocalHead, start: bool) -> TrainingBackend:
    from mlops_lab.backends.training.kuberay import RayJobBackend

    return RayJobBackend(lab)


def _probe_kuberay(config: Config) -> tuple[str, Probe]:
    from mlops_lab.backends.k8s.client import probe

    return config.kubernetes.namespace, probe(config)


BACKENDS: Registry[TrainingBackend] = Registry(
    "training",
    {
        "ray-local": Backend(_make_local, _probe_local),
        "ray-remote": Backend(_make_remote, _probe_remote),
        "kubernetes": Backend(_make_kuberay, _probe_kuberay),
    },
    aliases={"local": "ray-local", "remote": "ray-remote", "k8s": "kubernetes"},
)


def make(lab: Lab, cluster: LocalHead, kind: str, start: bool = True) -> TrainingBackend:
    """The training backend ``kind`` names (``start=False``: never start a local head)."""
    return BACKENDS.get(kind).make(lab, cluster, start)


def probe(config: Config) -> tuple[str, str, Probe]:
    """(kind, target, probe) of the configured training backend, for ``lab.status()``."""
    kind = BACKENDS.canonical(config.training.backend)
    target, check = BACKENDS.get(kind).probe(config)
    return kind, target, check
