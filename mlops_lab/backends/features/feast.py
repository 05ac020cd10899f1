"""Feast, the feature-store backend: the repository (scaffolded from a template), the
store, definitions loaded from the repository's files, and the pandas checks and
conversions around Feast's point-in-time joins."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.backends.probes import postgres, redis
from mlops_lab.errors import BackendError, ConfigError, NotFoundError, UsageError, require
from mlops_lab.redact import redact_url

if TYPE_CHECKING:
    from mlops_lab.backends.probes import Probe
    from mlops_lab.config import Config, FeaturesConfig

TEMPLATE = Path(__file__).resolve().parent.parent.parent / "templates" / "feature_repo"
TIMESTAMP = "event_timestamp"
PATH_TAG = lineage.DATA_PATHS  # on a source: the data-store path it reads
COMMIT_TAG = lineage.DATA_COMMIT  # on a source: the data commit it reads
PROJECT = "mlops_lab"


def scaffold(config: Config, created: list[str], unchanged: list[str]) -> None:
    """Create the feature repository from the template (``mlops-lab init``); idempotent.

    Files already there are left alone, so a user's own definitions survive a re-init.
    """
    repo = config.resolve(config.features.repo)
    feast_state = config.state_dir / "feast"
    label = os.path.relpath(repo, config.root) + "/"
    wrote = False
    repo.mkdir(parents=True, exist_ok=True)
    feast_state.mkdir(parents=True, exist_ok=True)
    relative = Path(os.path.relpath(feast_state, repo)).as_posix()
    for source in sorted(TEMPLATE.iterdir()):
        if source.name.startswith(("_", ".")) or not source.is_file():
            continue
        name = source.name.removesuffix(".tmpl")
        target = repo / name
        if target.exists():
            continue
        text = source.read_text(encoding="utf-8").replace("{feast_state}", relative)
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        wrote = True
    (created if wrote else unchanged).append(label)


def open_store(repo: Path, shared: FeaturesConfig | None = None) -> Any:
    """Feast's ``FeatureStore`` for the repository at ``repo``; ``shared`` puts its registry
    in PostgreSQL and its online store in Redis when ``[features] registry`` and
    ``online_store`` name them (feature_store.yaml keeps the rest)."""
    if not (repo / "feature_store.yaml").is_file():
        raise NotFoundError(
            f"no feature_store.yaml in {repo}; run `mlops-lab init` (or set [features] repo)"
        )
    os.environ.setdefault("FEAST_USAGE", "False")
    feast = require("feast")
    if shared is None or not (shared.registry or shared.online_store):
        try:
            return feast.FeatureStore(repo_path=str(repo))
        except Exception as exc:
            raise ConfigError(
                f"{repo}/feature_store.yaml: {first_line(exc)}; fix the file"
            ) from None
    try:
        config = feast.RepoConfig(**repo_settings(repo, shared))
    except Exception as exc:
        raise ConfigError(f"{repo}/feature_store.yaml: {first_line(exc)}; fix the file") from None
    try:
        store = feast.FeatureStore(repo_path=str(repo), config=config)
        store.registry  # noqa: B018 -- Feast connects the SQL registry on first use: do it now
        return store
    except Exception as exc:
        raise _registry_unreachable(shared.registry, exc) from None


@contextlib.contextmanager
def registry_reads(shared: FeaturesConfig) -> Iterator[None]:
    """Reads of a shared SQL registry: its database stopping mid-session is one line naming
    it, not SQLAlchemy's traceback."""
    try:
        yield
    except Exception as exc:
        if shared.registry and type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg"):
            raise _registry_unreachable(shared.registry, exc) from None
        raise


def _registry_unreachable(registry: str, exc: BaseException) -> BackendError:
    return BackendError(
        f"Feast registry {redact_url(registry)} is unreachable: {first_line(exc)}; "
        "start the PostgreSQL server or fix [features] registry"
    )


def repo_settings(repo: Path, shared: FeaturesConfig) -> dict[str, Any]:
    """feature_store.yaml as Feast reads it, with the shared registry and online store."""
    yaml = require("yaml", "pyyaml")
    text = os.path.expandvars((repo / "feature_store.yaml").read_text(encoding="utf-8"))
    settings: dict[str, Any] = yaml.safe_load(text) or {}
    settings["repo_path"] = repo
    if shared.registry:
        settings["registry"] = {
            "registry_type": "sql",
            "path": sqlalchemy_url(shared.registry),
            "cache_ttl_seconds": 10,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        }
    if shared.online_store:
        settings["online_store"] = {
            "type": "redis",
            "connection_string": redis_connection(shared.online_store, shared.online_timeout_s),
        }
    return settings


def sqlalchemy_url(url: str) -> str:
    """postgresql://... as SQLAlchemy's URL for psycopg 3 (the `team` extra installs it)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def redis_connection(url: str, timeout_s: float) -> str:
    """redis://[user:password@]host:port/db as Feast's "host:port,db=..,password=.." string,
    with socket timeouts so a Redis that stops answering fails a read instead of hanging it."""
    if not url.startswith(("redis://", "rediss://")):
        raise ConfigError(f"[features] online_store '{url}' is not a redis:// URL")
    parts = urllib.parse.urlsplit(url)
    options = [
        f"{parts.hostname or 'localhost'}:{parts.port or 6379}",
        f"db={int(parts.path.lstrip('/') or 0)}",
        f"socket_timeout={timeout_s}",
        f"socket_connect_timeout={timeout_s}",
    ]
    if parts.username:
        options.append(f"username={urllib.parse.unquote(parts.username)}")
    if parts.password:
        options.append(f"password={urllib.parse.unquote(parts.password)}")
    if parts.scheme == "rediss":
        options.append("ssl=true")
    return ",".join(options)


def probe(config: Config) -> tuple[str, Probe]:
    """(target, probe) of the feature repository and, when shared, of its PostgreSQL registry
    and Redis online store, for ``lab.status()``."""
    repo = config.resolve(config.features.repo)
    shared = config.features
    checks = (
        [(f"registry {redact_url(shared.registry)}", postgres(shared.registry))]
        if (shared.registry)
        else []
    )
    if shared.online_store:
        checks.append((f"online {redact_url(shared.online_store)}", redis(shared.online_store)))

    def check(timeout: float) -> tuple[bool, str]:
        if not (repo / "feature_store.yaml").is_file():
            return False, f"no feature_store.yaml in {repo}; run `mlops-lab init`"
        if not checks:
            return True, "feature_store.yaml found"
        answers = [one(timeout) for _, one in checks]
        return all(ok for ok, _ in answers), "; ".join(detail for _, detail in answers)

    target = " ".join([str(repo), *(name for name, _ in checks)])
    return target, check


def registry_stamp(store: Any, repo: Path) -> float:
    """Changes when the store's registry may have changed: the registry file's mtime and size,
    or for a shared SQL registry (no file to watch) the current registry cache period."""
    registry = store.config.registry
    if getattr(registry, "registry_type", "file") == "sql":
        period = max(1, registry.cache_ttl_seconds or 1)
        return float(int(time.time() // period))
    path = Path(registry.path) if Path(registry.path).is_absolute() else repo / registry.path
    try:
        stat = path.stat()
    except OSError:
        return 0.0
    return stat.st_mtime_ns + stat.st_size / 1e6


def _timestamp(value: bytes) -> datetime:
    text = value.decode()
    return (
        datetime.fromtimestamp(int(text))
        if text.lstrip("-").isdigit()
        else datetime.fromisoformat(text)
    )


def sqlite_timestamps() -> None:
    """sqlite3 has one process-wide converter per declared type. Feast's SQLite online store
    writes "timestamp" columns as epoch seconds and IPython's history as ISO text, and each
    registers its own converter on import; whichever came last breaks the other. This one
    reads both (epoch exactly as Feast converts it)."""
    import sqlite3

    sqlite3.register_converter("timestamp", _timestamp)


def load_definitions(repo: Path) -> list[Any]:
    """Feast objects defined in the repository's top-level .py files, each loaded fresh."""
    feast = require("feast")
    if not repo.is_dir():
        raise NotFoundError(f"feature repository {repo} not found; run `mlops-lab init`")
    kinds = (feast.Entity, feast.FeatureView, feast.FeatureService, feast.OnDemandFeatureView)
    objects: list[Any] = []
    sys.path.insert(0, str(repo))
    try:
        for path in sorted(repo.glob("*.py")):
            if path.name.startswith(("_", ".")):
                continue
            name = f"_mlops_feature_repo_{safe_name(path.stem)}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise UsageError(
                    f"{path}: {type(exc).__name__}: {exc}; fix the definitions"
                ) from None
            for value in vars(module).values():
                if isinstance(value, kinds) and not any(value is o for o in objects):
                    objects.append(value)
    finally:
        sys.path.remove(str(repo))
    if not objects:
        raise NotFoundError(f"no Feast definitions found in {repo}/*.py")
    return objects


def logical_path(source: Any) -> str:
    tags = getattr(source, "tags", None) or {}
    return str(tags.get(PATH_TAG) or source.path)


def source_path(store: Any, view: Any) -> str:
    path = str(view.batch_source.path)
    if "://" in path or Path(path).is_absolute():
        return path
    return str(Path(store.repo_path) / path)


def check_entity_frame(entity_df: Any, views: list[Any], store: Any) -> None:
    pd = require("pandas")
    if TIMESTAMP not in entity_df.columns:
        times = [c for c in entity_df.columns if pd.api.types.is_datetime64_any_dtype(entity_df[c])]
        hint = f" (rename '{times[0]}' to {TIMESTAMP})" if times else ""
        raise UsageError(
            f"the entity frame has no '{TIMESTAMP}' column{hint}; add each row's label time "
            "so the join is point-in-time"
        )
    if not pd.api.types.is_datetime64_any_dtype(entity_df[TIMESTAMP]):
        raise UsageError(
            f"the entity frame's '{TIMESTAMP}' column holds {entity_df[TIMESTAMP].dtype}, not "
            "timestamps; convert it with pd.to_datetime(..., utc=True)"
        )
    needed = {c.name for v in views for c in v.entity_columns}
    missing = sorted(needed - set(entity_df.columns))
    if missing:
        raise UsageError(f"the entity frame lacks join key column(s) {', '.join(missing)}")


def utc_column(column: Any) -> Any:
    """A datetime column in UTC (pd.to_datetime(utc=True) is slow on tz-aware columns)."""
    pd = require("pandas")
    if not pd.api.types.is_datetime64_any_dtype(column):
        column = pd.to_datetime(column, utc=True)
    return column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")


def as_timestamp(value: datetime | str, what: str) -> datetime:
    pd = require("pandas")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UsageError(f"{what} '{value}' is not a date or timestamp") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    result: datetime = stamp.to_pydatetime()
    return result


def ttl_text(ttl: Any) -> str:
    if not ttl:
        return "none"
    seconds = int(ttl.total_seconds())
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit[:-1] if count == 1 else unit}"
    return f"{seconds} s"


def names_text(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "none (run %mlops features apply)"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
