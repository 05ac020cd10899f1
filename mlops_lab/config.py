"""Project configuration: ``mlops.toml`` found by walking up like git, embedded defaults,
and endpoint overrides from each ecosystem's own environment variables.

Secrets never live here: a secret-looking key in the file is refused, and credentials are
read from the environment (or files the user names) by the backend that needs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_lab.errors import ConfigError, SecretInConfigError, closest

CONFIG_FILE = "mlops.toml"
STATE_DIR = ".mlops"


@dataclass(frozen=True)
class DataConfig:
    backend: str = "local"
    """"local" (content-addressed store under .mlops/data) or "lakefs"."""
    path: str = ".mlops/data"
    """Where the local store keeps objects, commits and refs."""
    endpoint: str = ""
    """lakeFS server URL (env: LAKECTL_SERVER_ENDPOINT_URL or LAKEFS_ENDPOINT)."""
    repository: str = ""
    """lakeFS repository name."""
    default_branch: str = "main"
    credentials_file: str = ""
    """Optional lakectl.yaml holding lakeFS credentials (never put them in mlops.toml)."""


@dataclass(frozen=True)
class FeaturesConfig:
    repo: str = "feature_repo"
    """Feast repository directory (feature_store.yaml inside)."""
    registry: str = ""
    """Shared Feast SQL registry, e.g. postgresql://mlops@db:5432/feast (password: PGPASSWORD or ~/.pgpass); empty: the registry in feature_store.yaml."""
    online_store: str = ""
    """Shared Redis online store, e.g. redis://cache:6379/0 (password: set the URL in MLOPS_FEATURES_ONLINE_STORE); empty: the one in feature_store.yaml."""
    online_timeout_s: float = 5.0
    """Seconds an online read or write may wait on the Redis online store before failing."""


@dataclass(frozen=True)
class TrackingConfig:
    uri: str = "sqlite:///.mlops/mlflow.db"
    """MLflow tracking URI (env: MLFLOW_TRACKING_URI)."""
    artifacts: str = ".mlops/mlartifacts"
    """Artifact root for experiments the lab creates (a tracking server uses its own, e.g. --serve-artifacts)."""
    experiment: str = "default"
    ui: str = ""
    """MLflow UI address results link runs and models to (default: the URI when it is http)."""


@dataclass(frozen=True)
class TrainingConfig:
    backend: str = "ray-local"
    """"ray-local" (a head the lab starts), "ray-remote" (RAY_ADDRESS) or "kubernetes"."""
    address: str = ""
    """Ray dashboard / Job Submission address of a remote head (env: RAY_ADDRESS)."""
    dashboard_port: int = 8265
    """Port of the local head's dashboard, bound to 127.0.0.1."""


@dataclass(frozen=True)
class ServingConfig:
    backend: str = "ray-serve"
    """"ray-serve" (the lab's Ray head, or [training] address) or "rayservice" (KubeRay)."""
    http_port: int = 8000
    """Port of Ray Serve's HTTP proxy when the lab starts Serve on its head."""
    ingress: str = "haproxy"
    """How requests reach the replicas on a head the lab starts: "haproxy" (HAProxy on http_port forwards to each replica's own HTTP server, Ray Serve's direct ingress: about twice the throughput of mlflow models serve; ray[serve] installs HAProxy on Linux, elsewhere it must be on PATH, else the proxy is used) or "proxy" (Ray Serve's Python proxy actor). Takes effect when the head starts."""
    replicas: int = 1
    """Replicas per endpoint; each holds the stable and the canary version."""
    max_batch_size: int = 32
    """Most requests one model call scores together (adaptive batching per version)."""
    batch_wait_timeout_s: float = 0.0
    """How long a replica waits to fill a batch; 0 batches only requests already queued."""
    prediction_log: bool = True
    """Log every prediction to .mlops/serving/predictions/<endpoint>/ (Parquet)."""
    rollback_on_drift: float = 0.0
    """Share of drifted input columns (e.g. 0.2) at which a canary is rolled back, checked on the Ray head every drift_check_interval and at each look; 0: off."""
    drift_check_interval: str = "1m"
    """How often the rollback_on_drift policy checks a canary on the lab's Ray head (e.g. 30s, 1m, 5m)."""

    @property
    def drift_check_interval_s(self) -> float:
        return duration_seconds(self.drift_check_interval) or 60.0


@dataclass(frozen=True)
class DriftConfig:
    reports: str = ".mlops/drift"
    """Where drift reports, latest checks and cached reference statistics are kept."""
    method: str = ""
    """Test for every column: ks, wasserstein, jensenshannon, chisquare, z or psi; empty: Evidently 0.7's default choice per column."""
    threshold: float = 0.0
    """Threshold of `method` (0: its default, 0.05 for p-values, 0.1 for distances)."""
    drift_share: float = 0.5
    """Share of drifted columns at and above which the dataset counts as drifted."""


@dataclass(frozen=True)
class KubernetesConfig:
    kubeconfig: str = ""
    """Path of the kubeconfig (env: KUBECONFIG; default ~/.kube/config)."""
    context: str = ""
    namespace: str = "default"
    image: str = ""
    """Container image with mlops-lab installed, for RayJobs and scheduled notebooks."""
    credentials: str = ""
    """Kubernetes Secret whose keys (e.g. AWS_ACCESS_KEY_ID) reach RayJob pods as secretKeyRef."""


@dataclass(frozen=True)
class NotebooksConfig:
    kernel: str = "mlops"
    """Kernel papermill runs notebooks with ("mlops" loads the magics at start)."""
    output_dir: str = "mlops-runs"
    """Executed notebooks of jobs (a visible folder: Jupyter does not serve hidden ones)."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def duration_seconds(value: str | float) -> float | None:
    """Seconds in ``"60s"``, ``"15m"``, ``"1h"``, ``"2d"`` or a plain number of seconds;
    None when ``value`` is not a duration."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)] if match else None


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "features": FeaturesConfig,
    "tracking": TrackingConfig,
    "training": TrainingConfig,
    "serving": ServingConfig,
    "drift": DriftConfig,
    "kubernetes": KubernetesConfig,
    "notebooks": NotebooksConfig,
}

# Each ecosystem's own variables win over mlops.toml; MLOPS_<SECTION>_<KEY> covers the rest.
ECOSYSTEM_ENV: dict[str, tuple[str, str]] = {
    "MLFLOW_TRACKING_URI": ("tracking", "uri"),
    "LAKECTL_SERVER_ENDPOINT_URL": ("data", "endpoint"),
    "LAKEFS_ENDPOINT": ("data", "endpoint"),
    "RAY_ADDRESS": ("training", "address"),
    "KUBECONFIG": ("kubernetes", "kubeconfig"),
}

SECRET_WORDS = ("key", "secret", "token", "password")

# Where to put each kind of secret instead of mlops.toml.
SECRET_HOMES = {
    "data": "LAKECTL_CREDENTIALS_ACCESS_KEY_ID / LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
    "tracking": "MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)",
    "kubernetes": "your kubeconfig (KUBECONFIG) and Kubernetes Secrets via secretKeyRef",
}


@dataclass(frozen=True)
class Config:
    root: Path
    """Project directory: where mlops.toml is, or the working directory without one."""
    file: Path | None
    """The mlops.toml read, or None when running on embedded defaults."""
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)
    notebooks: NotebooksConfig = field(default_factory=NotebooksConfig)
    overrides: dict[str, str] = field(default_factory=dict)
    """'section.key' -> the environment variable that set it."""

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the project root."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    def notice(self) -> str | None:
        """One line to show when there is no mlops.toml, else None."""
        if self.file is not None:
            return None
        return (
            f"No {CONFIG_FILE} found in {self.root} or any parent; using embedded defaults "
            f"in {self.root}. Run `mlops-lab init` to create one."
        )


SAFE_DIRECTORIES_ENV = "MLOPS_SAFE_DIRECTORIES"
"""Directories (os.pathsep-separated, or *) whose mlops.toml is trusted whoever owns it."""
SAFE_DIRECTORIES_FILE = Path("~/.config/mlops-lab/safe_directories")
"""The same list, one directory a line, for the user."""


def find_config(start: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The nearest mlops.toml from ``start`` upwards; one found in a parent folder must be
    owned by the user (or root) or trusted, as git's safe.directory."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if _is_file(candidate):
            if directory != start:
                _check_owner(candidate, os.environ if env is None else env)
            return candidate
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as exc:
        raise ConfigError(
            f"cannot look for {path} ({exc.strerror}); run from a folder you can read, or "
            "pass the project folder explicitly"
        ) from None


def _check_owner(file: Path, env: Mapping[str, str]) -> None:
    owner = file.stat().st_uid
    if owner in (os.getuid(), 0) or _trusted(file.parent, env):
        return
    raise ConfigError(
        f"{file} belongs to another user (uid {owner}) and was found above the working "
        f"folder; refusing it. If you trust it, add {file.parent} to {SAFE_DIRECTORIES_ENV} "
        f"or to {SAFE_DIRECTORIES_FILE}"
    )


def _trusted(directory: Path, env: Mapping[str, str]) -> bool:
    listed = [p for p in env.get(SAFE_DIRECTORIES_ENV, "").split(os.pathsep) if p]
    with contextlib.suppress(OSError):
        listed += SAFE_DIRECTORIES_FILE.expanduser().read_text(encoding="utf-8").splitlines()
    for entry in (line.strip() for line in listed):
        if entry == "*" or (entry and Path(entry).expanduser().resolve() == directory):
            return True
    return False


def load(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Load the project config.

    ``path`` is a project directory or an mlops.toml; without it the search walks up
    from the working directory. Missing file or sections mean the embedded defaults.
    """
    env = os.environ if env is None else env
    start = Path(path).resolve() if path is not None else Path.cwd().resolve()
    if _is_file(start):
        file: Path | None = start
    else:
        file = find_config(start, env)
    root = file.parent if file is not None else start
    raw = _read(file) if file is not None else {}
    sections = _validate(raw, file)
    overrides = _apply_env(sections, env)
    built = {name: _build(name, SECTIONS[name], values, file) for name, values in sections.items()}
    config = Config(root=root, file=file, overrides=overrides, **built)
    _check_values(config)
    return config


def _check_values(config: Config) -> None:
    """Values of the right type that still mean nothing: refused when the project opens."""
    serving = config.serving
    where = {
        key: config.overrides.get(f"serving.{key}") or config.file or "embedded defaults"
        for key in ("rollback_on_drift", "drift_check_interval")
    }
    if not 0 <= serving.rollback_on_drift <= 1:
        raise ConfigError(
            f"{where['rollback_on_drift']}: [serving] rollback_on_drift = "
            f"{serving.rollback_on_drift:g} must be a share of columns between 0 and 1 "
            "(e.g. 0.2), or 0 to switch it off"
        )
    seconds = duration_seconds(serving.drift_check_interval)
    if seconds is None or seconds <= 0:
        raise ConfigError(
            f"{where['drift_check_interval']}: [serving] drift_check_interval = "
            f"{serving.drift_check_interval!r} is not a duration longer than zero; use e.g. "
            '"30s", "1m" or "5m"'
        )


def _read(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8-sig")  # a BOM some editors write is fine
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and retry"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib ends its message with "(at line L, column C)"; put file:line:col first.
        match = re.search(r"\(at line (\d+), column (\d+)\)$", str(exc))
        reason = str(exc)[: match.start()].strip() if match else str(exc)
        where = f"{file}:{match.group(1)}:{match.group(2)}" if match else str(file)
        raise ConfigError(f"{where}: invalid TOML: {reason}; fix the file and retry") from None


def is_secret_name(key: str) -> bool:
    words = re.split(r"[_\-.]", key.lower())
    return any(word in SECRET_WORDS for word in words) or any(
        word.endswith(secret) for word in words for secret in SECRET_WORDS
    )


def _validate(raw: dict[str, Any], file: Path | None) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for name, values in raw.items():
        if not isinstance(values, dict):
            if is_secret_name(name):
                raise _secret_error(file, None, name)
            raise ConfigError(
                f"{file}: '{name}' must be a [section]; known sections: {', '.join(SECTIONS)}"
            )
        if name not in SECTIONS:
            raise ConfigError(f"{file}: unknown section [{name}]{_did_you_mean(name, SECTIONS)}")
        known = {f.name for f in dataclasses.fields(SECTIONS[name])}
        for key in values:
            if is_secret_name(key):
                raise _secret_error(file, name, key)
            if key not in known:
                raise ConfigError(
                    f"{file}: unknown key '{key}' in [{name}]{_did_you_mean(key, known)}"
                )
        sections[name] = dict(values)
    return sections


def _secret_error(file: Path | None, section: str | None, key: str) -> SecretInConfigError:
    where = f"[{section}] {key}" if section else key
    home = SECRET_HOMES.get(section or "", f"an environment variable such as MLOPS_{key.upper()}")
    return SecretInConfigError(
        f"{file}: {where} looks like a secret and secrets are never read from mlops.toml; "
        f"remove it and set {home} instead"
    )


def _did_you_mean(word: str, choices: Any) -> str:
    close = closest(word, choices)
    return f"; did you mean '{close}'?" if close else f"; known: {', '.join(sorted(choices))}"


def _apply_env(sections: dict[str, dict[str, Any]], env: Mapping[str, str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for variable, (section, key) in ECOSYSTEM_ENV.items():
        if env.get(variable) and f"{section}.{key}" not in overrides:
            sections[section][key] = env[variable]
            overrides[f"{section}.{key}"] = variable
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            variable = f"MLOPS_{section.upper()}_{f.name.upper()}"
            if env.get(variable):
                sections[section][f.name] = env[variable]
                overrides[f"{section}.{f.name}"] = variable
    # A user who exports RAY_ADDRESS means that cluster, unless mlops.toml says kubernetes.
    if (
        overrides.get("training.address") == "RAY_ADDRESS"
        and "training.backend" not in overrides
        and sections["training"].get("backend", "ray-local") == "ray-local"
    ):
        sections["training"]["backend"] = "ray-remote"
    return overrides


def _build(name: str, cls: type, values: dict[str, Any], file: Path | None) -> Any:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, default = values[f.name], f.default
        kwargs[f.name] = _coerce(value, type(default), f"[{name}] {f.name}", file)
    return cls(**kwargs)


def _coerce(value: Any, kind: type, where: str, file: Path | None) -> Any:
    origin = file if file is not None else "environment"
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "0", "false", "no"}:
            return value.lower() in {"1", "true", "yes"}
    elif kind is int and not isinstance(value, bool | float):
        try:
            number = int(value)
        except (TypeError, ValueError):
            pass
        else:
            if not where.endswith("_port") or 0 < number < 65536:
                return number
            raise ConfigError(f"{origin}: {where} must be a port (1-65535), got {value!r}")
    elif kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif kind is str and isinstance(value, str):
        return value
    elif kind is str and where.endswith("_interval") and isinstance(value, int | float):
        return str(value)  # a number of seconds
    raise ConfigError(f"{origin}: {where} must be a {kind.__name__}, got {value!r}")


TEAM_HEADER = [
    "",
    "# Team profile (`mlops-lab init --team`): the project shares an MLflow tracking server",
    "# (PostgreSQL backend store, artifacts served through the server: --serve-artifacts),",
    "# a Feast SQL registry in PostgreSQL with a Redis online store, and a remote Ray head.",
    "# Notebooks do not change. Credentials stay out of this file: MLFLOW_TRACKING_USERNAME /",
    "# MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), PGPASSWORD or ~/.pgpass for the",
    "# registry, MLOPS_FEATURES_ONLINE_STORE=redis://:password@host:6379/0 for Redis, and",
    "# RAY_ADDRESS for another head. `mlops-lab status` shows what each answers.",
]


def render_default(settings: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The mlops.toml that `mlops-lab init` writes: every key, commented, at its default;
    ``settings`` ({section: {key: value}}, the team profile) are written set, not commented."""
    settings = settings or {}
    for section, values in settings.items():
        known = {f.name for f in dataclasses.fields(SECTIONS[section])}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))} in [{section}]")
    lines = [
        "# mlops-lab project configuration. Every key below is commented out at its default;",
        "# uncomment and change what you need. Secrets never go here: use environment",
        "# variables (e.g. LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY, MLFLOW_TRACKING_TOKEN).",
    ]
    if settings:
        lines += TEAM_HEADER
    for name, cls in SECTIONS.items():
        lines += ["", f"[{name}]"]
        docs = _field_docs(cls)
        chosen = settings.get(name, {})
        for f in dataclasses.fields(cls):
            if f.name in docs:
                lines.append(f"# {docs[f.name]}")
            if f.name in chosen:
                lines.append(f"{f.name} = {_toml_value(chosen[f.name])}")
            else:
                lines.append(f"# {f.name} = {_toml_value(f.default)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _field_docs(cls: type) -> dict[str, str]:
    """The string literal under each field in the class body is its help text."""
    import ast
    import inspect
    import itertools

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for prev, node in itertools.pairwise(body):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(prev.target, ast.Name)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            docs[prev.target.id] = node.value.value
    return docs
