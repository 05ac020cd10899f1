"""Kubernetes access shared by RayJobs and schedules: one ApiClient from the user's
kubeconfig, one mapping from API failures to the lab's errors, and the status probe."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlops_lab.backends.probes import Probe
from mlops_lab.config import Config
from mlops_lab.errors import (
    AccessDeniedError,
    BackendError,
    ConfigError,
    ConflictError,
    LabError,
    NotFoundError,
    UnreachableError,
    UsageError,
    require,
)


def api_client(config: Config) -> Any:
    """An ApiClient for the configured kubeconfig and context."""
    client = require("kubernetes.client")
    kube_config = require("kubernetes.config")
    path = config.kubernetes.kubeconfig or str(Path("~/.kube/config").expanduser())
    if not Path(path.split(":")[0]).is_file():
        raise ConfigError(
            f"no kubeconfig at {path}; set KUBECONFIG or [kubernetes] kubeconfig in mlops.toml"
        )
    try:
        return kube_config.new_client_from_config(
            config_file=path, context=config.kubernetes.context or None
        )
    except kube_config.ConfigException as exc:
        context = config.kubernetes.context or "current-context"
        raise ConfigError(f"kubeconfig {path}: cannot use {context}: {exc}") from None
    except client.ApiException as exc:  # pragma: no cover - exec plugins
        raise api_error(exc, "load kubeconfig") from None


def call(action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` against the API server, bounded in time; any failure becomes
    one line saying what could not be done (see :func:`api_error`)."""
    try:
        return fn(*args, _request_timeout=10, **kwargs)
    except LabError:
        raise
    except Exception as exc:  # ApiException, or urllib3 connection errors
        raise api_error(exc, action) from None


def api_error(exc: Any, action: str) -> LabError:
    """Turn a kubernetes ApiException (or connection error) into one actionable line."""
    status = getattr(exc, "status", None)
    reason = _reason(exc)
    if status in (401, 403):
        return AccessDeniedError(
            f"Kubernetes refused to {action} (HTTP {status}: {reason}); ask your cluster admin "
            "for the RBAC permission, or switch context with [kubernetes] context"
        )
    if status == 404:
        return NotFoundError(f"cannot {action}: not found ({reason})")
    if status == 409:
        return ConflictError(f"cannot {action}: already exists ({reason})")
    if status == 422 or status == 400:
        return UsageError(f"Kubernetes rejected the manifest to {action}: {reason}")
    if status is None or status == 0:
        return UnreachableError(f"Kubernetes API unreachable while trying to {action}: {exc}")
    return BackendError(f"Kubernetes failed to {action} (HTTP {status}: {reason})")


def _reason(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            return str(body)[:300]
    return str(getattr(exc, "reason", exc))


def version_probe(config: Config, timeout: float) -> str:
    client = require("kubernetes.client")
    api = api_client(config)
    try:
        info = client.VersionApi(api).get_code(_request_timeout=timeout)
    except client.ApiException as exc:
        raise api_error(exc, "read the server version") from None
    except Exception as exc:  # urllib3 connection and timeout errors
        raise UnreachableError(
            f"Kubernetes API {api.configuration.host} unreachable: {exc}"
        ) from None
    return f"Kubernetes {info.git_version} at {api.configuration.host}"


def kubeconfig_path(config: Config) -> Path:
    raw = config.kubernetes.kubeconfig or "~/.kube/config"
    return Path(raw.split(os.pathsep)[0]).expanduser()


def probe(config: Config) -> Probe:
    """Whether the cluster of the kubeconfig answers (its version), for ``lab.status()``."""

    def check(timeout: float) -> tuple[bool, str]:
        path = kubeconfig_path(config)
        if not path.is_file():
            return False, f"no kubeconfig at {path}; set KUBECONFIG"
        try:
            return True, version_probe(config, timeout)
        except LabError as exc:
            return False, str(exc)

    return check
