"""Credentials on Kubernetes: the one list of variables the lab and its SDKs read, which
reach pods only as ``secretKeyRef``, and the check that nothing secret rides along in plain
environment values."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.k8s.names import check_name
from mlops_lab.config import ECOSYSTEM_ENV, is_secret_name
from mlops_lab.errors import ConfigError, UsageError
from mlops_lab.redact import has_secret, redact_url

if TYPE_CHECKING:
    from mlops_lab.config import Config

CREDENTIAL_VARIABLES = (
    "LAKECTL_CREDENTIALS_ACCESS_KEY_ID",
    "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
"""Credential variables the lab and its SDKs read; a pod maps each from the credentials
Secret (optional keys, so a Secret holds only what the project uses)."""

DEFAULT_CREDENTIALS_SECRET = "mlops-lab-credentials"
"""Secret a schedule maps credentials from, unless --credentials-secret or [kubernetes]
credentials names another."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable of the job read from a Kubernetes Secret."""

    variable: str
    secret: str
    key: str

    @classmethod
    def parse(cls, text: str) -> SecretEnv:
        variable, sep, ref = text.partition("=")
        secret, sep2, key = ref.partition(":")
        if not (sep and sep2 and variable and secret and key) or not _ENV_NAME.match(variable):
            raise UsageError(
                f"--secret-env '{text}' must look like NAME=SECRET:KEY (the variable NAME "
                "is read from key KEY of the Kubernetes Secret SECRET)"
            )
        check_name(secret, "secret")
        return cls(variable, secret, key)


def secret_refs(secret: str, skip: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Container env entries mapping each credential variable from ``secret`` (optional keys)."""
    return [
        {
            "name": variable,
            "valueFrom": {"secretKeyRef": {"name": secret, "key": variable, "optional": True}},
        }
        for variable in CREDENTIAL_VARIABLES
        if variable not in skip
    ]


def url_env(variable: str, value: str, secret: str) -> dict[str, Any]:
    """A container env entry: the plain value, or, when it is a URL carrying a password or
    token, a ``secretKeyRef`` to key ``variable`` of the credentials Secret."""
    if not has_secret(value):
        return {"name": variable, "value": value}
    if not secret:
        raise ConfigError(
            f"{variable} carries a password or token ({redact_url(value)}); put the URL under "
            f"key {variable} of a Kubernetes Secret and name it in [kubernetes] credentials"
        )
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": variable}}}


def plain_env(config: Config, secret: str) -> list[dict[str, Any]]:
    """Endpoint overrides the user set in the environment (not secrets), so a job talks to
    the same services; KUBECONFIG stays behind (the pod uses its service account). A URL
    with credentials travels as a secretKeyRef (see :func:`url_env`)."""
    env: list[dict[str, Any]] = []
    for key, variable in sorted(config.overrides.items(), key=lambda kv: kv[1]):
        if variable == "KUBECONFIG" or is_secret_name(variable):
            continue
        if variable not in ECOSYSTEM_ENV and not variable.startswith("MLOPS_"):
            continue
        section, _, name = key.partition(".")
        env.append(url_env(variable, str(getattr(getattr(config, section), name)), secret))
    return env


def check_no_url_credentials(config: Config) -> None:
    """mlops.toml (shipped with a schedule) refuses secret-looking keys, but a URL in it can
    still carry a password or token; values set from the environment travel as secretKeyRef."""
    for section in ("data", "tracking", "training", "kubernetes", "features", "notebooks"):
        values = getattr(config, section)
        for f in dataclasses.fields(values):
            if f"{section}.{f.name}" in config.overrides:
                continue
            value = getattr(values, f.name)
            if isinstance(value, str) and has_secret(value):
                raise ConfigError(
                    f"[{section}] {f.name} carries a password or token in its URL "
                    f"({redact_url(value)}); remove it from mlops.toml and set the URL in the "
                    "environment, or put the credential in the credentials Secret"
                )
