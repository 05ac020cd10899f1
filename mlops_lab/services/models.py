"""`lab.models`: the MLflow model registry with aliases and lineage.

Versions are registered from a run (its logged model) or a model URI and carry the run's
lineage tags, so ``fraud@champion`` leads back to its data commit, features and notebook.
Aliases (``champion``, ``challenger``) are the only pointers; the deprecated stages are
never used.
"""

from __future__ import annotations

import builtins
import contextlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.backends.tracking.mlflow import RUN_ID_PATTERN, acquire_uri, release_uri, translate
from mlops_lab.display import Id, Table
from mlops_lab.errors import ConflictError, LabError, NotFoundError, UsageError, require
from mlops_lab.render import Figure, grouped_bars

if TYPE_CHECKING:
    from mlops_lab.lab import Lab
    from mlops_lab.services.validation_report import ValidationResult

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
ALIAS_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version, with its run's metrics and its lineage tags."""

    name: str
    version: int
    aliases: tuple[str, ...]
    run_id: str | None
    status: str
    created: datetime | None
    source: str
    metrics: dict[str, float] = field(default_factory=dict)
    lineage: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class ModelVersions(list[VersionInfo]):
    """The versions of one model (a list), shown as a table."""

    def __init__(self, name: str, versions: Iterable[VersionInfo] = ()) -> None:
        super().__init__(versions)
        self.name = name

    def table(self, max_rows: int = 50) -> Table:
        rows = []
        for v in self:
            metrics = ", ".join(f"{k}={m:.4g}" for k, m in sorted(v.metrics.items())[:4])
            commits = lineage.decode(v.lineage.get(lineage.DATA_COMMIT))
            rows.append(
                [
                    v.version,
                    " ".join(f"@{a}" for a in v.aliases),
                    metrics,
                    [Id(c) for c in commits],
                    Id(v.run_id) if v.run_id else "",
                    v.created.strftime("%Y-%m-%d %H:%M:%S") if v.created else "",
                ]
            )
        return Table(
            ["version", "aliases", "metrics", "data", "run", "created"],
            rows,
            title=f"versions of '{self.name}' (%mlops lineage {self.name}/VERSION)",
            max_rows=max_rows,
        )

    def comparison(self, most: int = 8) -> Figure:
        """The newest ``most`` versions' metrics side by side, each labelled with its
        aliases: one bar chart per metric."""
        shown = [v for v in self[:most] if v.metrics]
        groups = {
            " ".join([f"v{v.version}", *(f"@{a}" for a in v.aliases)]): dict(v.metrics)
            for v in shown
        }
        lines = [
            f"{label}: " + ", ".join(f"{k}={m:.4g}" for k, m in sorted(values.items()))
            for label, values in groups.items()
        ]
        return Figure(
            f"metrics of '{self.name}' by version",
            grouped_bars(self.name, groups),
            "\n".join(lines),
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        table = self.table()._repr_html_()
        if sum(1 for v in self if v.metrics) < 2:
            return table
        return table + self.comparison()._repr_html_()


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest_version: int | None
    aliases: dict[str, int]
    description: str
    updated: datetime | None


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """``name@alias`` / ``name/3`` / ``models:/name@alias`` / ``name`` -> (name, alias, version)."""
    text = ref.strip().removeprefix("models:/")
    if "@" in text:
        name, _, alias = text.partition("@")
        if not name or not alias:
            raise UsageError(f"'{ref}' is not a model reference; use NAME@ALIAS or NAME/VERSION")
        return name, alias, None
    if "/" in text:
        name, _, version = text.rpartition("/")
        if not version.isdigit() or not name:
            raise UsageError(f"'{ref}' is not a model reference; use NAME@ALIAS or NAME/VERSION")
        return name, None, int(version)
    if not text:
        raise UsageError("empty model reference; use NAME@ALIAS or NAME/VERSION")
    return text, None, None


class ModelRegistry:
    """Register, alias, list and load model versions."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    @property
    def _client(self) -> Any:
        return self.lab.tracking.client

    # --- writing ----------------------------------------------------------------------

    def register(
        self,
        source: Any,
        name: str,
        *,
        alias: str | None = None,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> VersionInfo:
        """Register a new version of ``name`` from a run (id, ``TrackedRun``, ``runs:/id/path``)
        or a model URI (``models:/m-...``, a ``ModelInfo``). The version gets the run's lineage
        tags. Refuses runs that ended FAILED or KILLED. ``alias`` then points at it."""
        _check_name(name)
        if alias is not None:
            _check_alias(alias)
        model_source, run_id, model_id = self._resolve_source(source)
        version_tags: dict[str, str] = {}
        if run_id:
            run = self.lab.tracking.mlflow_run(run_id)
            if run.info.status in ("FAILED", "KILLED"):
                raise ConflictError(
                    f"run {run_id} ended {run.info.status}; fix it and rerun before registering "
                    "its model"
                )
            version_tags.update({k: v for k, v in run.data.tags.items() if k.startswith("mlops.")})
            version_tags[lineage.RUN_ID] = run_id
        version_tags.update({str(k): str(v) for k, v in (tags or {}).items()})
        client = self._client
        self._ensure_model(name)
        created = _retry_locked(
            lambda: client.create_model_version(
                name=name,
                source=model_source,
                run_id=run_id,
                tags=version_tags,
                description=description,
                model_id=model_id,
            ),
            f"registering a version of '{name}'",
        )
        version = int(created.version)
        if alias is not None:
            self.set_alias(name, alias, version)
        return self.get(f"{name}/{version}")

    def _ensure_model(self, name: str) -> None:
        client = self._client
        try:
            client.get_registered_model(name)
            return
        except Exception as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
                raise translate(exc, f"reading model '{name}'") from None
        with contextlib.suppress(ConflictError):  # created concurrently
            _retry_locked(lambda: client.create_registered_model(name), f"creating model '{name}'")

    def _resolve_source(self, source: Any) -> tuple[str, str | None, str | None]:
        """(source URI, run id, logged model id) for whatever the user passed."""
        model_uri = getattr(source, "model_uri", None)  # mlflow ModelInfo
        if isinstance(model_uri, str):
            source = model_uri
        elif hasattr(source, "run_id") and not isinstance(source, str):
            source = str(source.run_id)  # TrackedRun, RunSummary
        elif hasattr(source, "info") and hasattr(source.info, "run_id"):
            source = str(source.info.run_id)  # mlflow Run
        if not isinstance(source, str) or not source:
            raise UsageError(
                f"cannot register from {type(source).__name__}; pass a run, a run id or a model URI"
            )
        client = self._client
        if RUN_ID_PATTERN.match(source):
            return self._from_run(source, None)
        if source.startswith("runs:/"):
            run_id, _, path = source.removeprefix("runs:/").partition("/")
            return self._from_run(run_id, path or None)
        if source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/").split("/")[0]
            try:
                logged = client.get_logged_model(model_id)
            except Exception as exc:
                raise NotFoundError(
                    f"logged model {model_id} not found ({_first_line(exc)}); check the URI"
                ) from None
            # The registry store would look a models:/ source up through the process-global
            # tracking URI; give it the logged model's own location instead.
            return str(logged.artifact_location), logged.source_run_id, model_id
        if source.startswith("models:/"):
            version = self.get(source)
            return version.source, version.run_id, None
        raise UsageError(
            f"'{source}' is neither a run id nor a model URI (runs:/ID/PATH, models:/...); "
            "see %mlops runs"
        )

    def _from_run(self, run_id: str, path: str | None) -> tuple[str, str | None, str | None]:
        run = self.lab.tracking.mlflow_run(run_id)
        client = self._client
        try:
            logged = list(
                client.search_logged_models(
                    experiment_ids=[run.info.experiment_id],
                    filter_string=f"source_run_id = '{run_id}'",
                )
            )
        except Exception as exc:
            raise translate(exc, f"finding the models of run {run_id}") from None
        if path is not None:
            logged = [m for m in logged if m.name == path]
        if not logged:
            what = f"no model named '{path}'" if path else "no model"
            raise NotFoundError(
                f"run {run_id} logged {what}; log one with run.log_model(model) inside the run"
            )
        if len(logged) > 1:
            names = ", ".join(sorted(m.name for m in logged))
            raise UsageError(
                f"run {run_id} logged several models ({names}); pass runs:/{run_id}/NAME"
            )
        model = logged[0]
        return str(model.artifact_location), run_id, model.model_id

    def set_alias(self, name: str, alias: str, version: int | str) -> VersionInfo:
        """Point ``name@alias`` at ``version`` (which must exist); returns that version."""
        _check_alias(alias)
        number = _version_number(version)
        self._version(name, number)  # one clear line when model or version is missing
        try:
            _retry_locked(
                lambda: self._client.set_registered_model_alias(name, alias, str(number)),
                f"setting {name}@{alias}",
            )
        except LabError:
            raise
        return self.get(f"{name}/{number}")

    def set_version_tags(self, name: str, version: int | str, tags: Mapping[str, str]) -> None:
        """Set ``tags`` on the model version ``name``/``version``."""
        number = _version_number(version)
        for key, value in tags.items():
            _retry_locked(
                lambda k=key, v=value: self._client.set_model_version_tag(name, str(number), k, v),
                f"tagging {name}/{number} with {key}",
            )

    def delete_alias(self, name: str, alias: str) -> None:
        self.get(f"{name}@{alias}")
        try:
            self._client.delete_registered_model_alias(name, alias)
        except Exception as exc:
            raise translate(exc, f"deleting {name}@{alias}") from None

    # --- reading ----------------------------------------------------------------------

    def list(self) -> builtins.list[ModelSummary]:
        """Registered models, with their latest version and aliases."""
        try:
            models = list(self._client.search_registered_models(max_results=1000))
        except Exception as exc:
            raise translate(exc, "listing registered models") from None
        out = []
        for model in models:
            latest = max((int(v.version) for v in model.latest_versions or []), default=None)
            out.append(
                ModelSummary(
                    name=model.name,
                    latest_version=latest,
                    aliases={a: int(v) for a, v in (model.aliases or {}).items()},
                    description=model.description or "",
                    updated=_time(model.last_updated_timestamp),
                )
            )
        return sorted(out, key=lambda m: m.name)

    def versions(self, name: str) -> ModelVersions:
        """Every version of ``name``, newest first, with metrics, aliases and lineage."""
        _check_name(name)
        model = self._model(name)
        try:
            found = list(self._client.search_model_versions(f"name = '{name}'"))
        except Exception as exc:
            raise translate(exc, f"listing versions of '{name}'") from None
        aliases = _aliases_by_version(model)
        infos = [self._info(v, aliases) for v in found]
        return ModelVersions(name, sorted(infos, key=lambda v: v.version, reverse=True))

    def get(self, ref: str) -> VersionInfo:
        """The version ``ref`` names: ``name@alias``, ``name/3``, or ``name`` (latest)."""
        name, alias, number = parse_ref(ref)
        _check_name(name)
        model = self._model(name)
        if alias is not None:
            aliases = model.aliases or {}
            if alias not in aliases:
                known = ", ".join(sorted(aliases)) or "none"
                raise NotFoundError(
                    f"model '{name}' has no alias '{alias}' (aliases: {known}); "
                    f"set one with %mlops alias {name} {alias} VERSION"
                )
            number = int(aliases[alias])
        if number is None:
            latest = max((int(v.version) for v in model.latest_versions or []), default=None)
            if latest is None:
                raise NotFoundError(f"model '{name}' has no versions; register one first")
            number = latest
        return self._info(self._version(name, number), _aliases_by_version(model))

    def uri(self, ref: str) -> str:
        version = self.get(ref)
        return version.uri

    def load(self, ref: str, flavor: str = "pyfunc") -> Any:
        """Load a model: a registry reference (``fraud@champion``, ``fraud/2``) or any
        MLflow model URI. ``flavor`` "pyfunc" (default) or a flavour such as "sklearn"."""
        module = require(f"mlflow.{flavor}")
        location = self.location(ref)
        acquire_uri(self.lab.tracking.uri)  # an mlflow-artifacts: location is read through it
        try:
            return module.load_model(location)
        except Exception as exc:
            raise translate(exc, f"loading {ref}") from None
        finally:
            release_uri()

    def location(self, ref: str) -> str:
        """Where a model's files are (a local path or artifact URI), resolved without the
        process-global MLflow registry URI."""
        if ref.startswith(("runs:/", "file:", "/")) or (ref.startswith("models:/m-")):
            return self._artifact_location(ref)
        version = self.get(ref)
        client = self._client
        try:
            uri = client.get_model_version_download_uri(version.name, str(version.version))
        except Exception as exc:
            raise translate(exc, f"locating {ref}") from None
        return self._artifact_location(uri)

    def _artifact_location(self, uri: str) -> str:
        client = self._client
        if uri.startswith("models:/m-"):
            model_id = uri.removeprefix("models:/").split("/")[0]
            try:
                return str(client.get_logged_model(model_id).artifact_location)
            except Exception as exc:
                raise NotFoundError(
                    f"logged model {model_id} not found ({_first_line(exc)})"
                ) from None
        if uri.startswith("runs:/"):
            run_id, _, path = uri.removeprefix("runs:/").partition("/")
            return self._from_run(run_id, path or None)[0]
        return uri

    def validate(
        self,
        ref: str,
        data: Any,
        *,
        target: str,
        thresholds: dict[str, dict[str, Any]] | None = None,
        against: str | None = "champion",
        data_ref: str | None = None,
        model_type: str | None = None,
        latency_budget_ms: float | None = None,
        predict: Any = None,
        slice_column: str | None = None,
        max_slice_gap: float | None = None,
        slice_metric: str | None = None,
    ) -> ValidationResult:
        """Gate ``ref`` (e.g. ``fraud@challenger``) before it is deployed: MLflow evaluates it
        and ``against`` (an alias of the same model, or NAME/VERSION; None for none) on the
        holdout ``data`` (a DataFrame, or a path read through lab.data at ``data_ref``), checks
        ``thresholds`` such as ``{"roc_auc": {"threshold": 0.8, "min_absolute_change": 0.0}}``,
        the p99 of one-row predictions against ``latency_budget_ms`` (through ``predict``, e.g.
        a served endpoint, else the loaded model) and the metric's largest gap between the
        values of ``slice_column``. The verdict is tagged on the version; see
        mlops_lab.services.validation."""
        from mlops_lab.services.validation import Gate

        return Gate(self.lab).run(
            ref,
            data,
            target=target,
            thresholds=thresholds,
            against=against,
            data_ref=data_ref,
            model_type=model_type,
            latency_budget_ms=latency_budget_ms,
            predict=predict,
            slice_column=slice_column,
            max_slice_gap=max_slice_gap,
            slice_metric=slice_metric,
        )

    # --- helpers ----------------------------------------------------------------------

    def _model(self, name: str) -> Any:
        try:
            return self._client.get_registered_model(name)
        except Exception as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise NotFoundError(
                    f"no registered model named '{name}'; see %mlops models for the list"
                ) from None
            raise translate(exc, f"reading model '{name}'") from None

    def _version(self, name: str, number: int) -> Any:
        try:
            return self._client.get_model_version(name, str(number))
        except Exception as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                self._model(name)
                raise NotFoundError(
                    f"model '{name}' has no version {number}; see %mlops models {name}"
                ) from None
            raise translate(exc, f"reading {name}/{number}") from None

    def _info(self, version: Any, aliases: dict[int, builtins.list[str]]) -> VersionInfo:
        number = int(version.version)
        metrics: dict[str, float] = {}
        if version.run_id:
            try:
                metrics = dict(self._client.get_run(version.run_id).data.metrics)
            except Exception:
                metrics = {}
        tags = dict(version.tags or {})
        return VersionInfo(
            name=version.name,
            version=number,
            aliases=tuple(sorted(aliases.get(number, []))),
            run_id=version.run_id or None,
            status=str(version.status),
            created=_time(version.creation_timestamp),
            source=str(version.source),
            metrics=metrics,
            lineage={k: v for k, v in tags.items() if k.startswith("mlops.")},
            description=version.description or "",
        )


def _aliases_by_version(model: Any) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        out.setdefault(int(version), []).append(alias)
    return out


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "message", exc))
    return text.splitlines()[0] if text else type(exc).__name__


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise UsageError(
            f"'{name}' is not a valid model name; use letters, digits, '_', '-' and '.'"
        )


def _check_alias(alias: str) -> None:
    if (
        not isinstance(alias, str)
        or not ALIAS_PATTERN.match(alias)
        or alias.lower() == "latest"
        or re.fullmatch(r"[vV]\d+", alias)
    ):
        raise UsageError(
            f"'{alias}' is not a valid alias; use a word such as champion or challenger "
            "(not 'latest' or v<number>)"
        )


def _version_number(version: int | str) -> int:
    text = str(version).strip().removeprefix("v")
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"'{version}' is not a version number; versions count from 1")
    return int(text)


def _retry_locked(call: Any, what: str, attempts: int = 20) -> Any:
    """Run ``call``, retrying while SQLite reports the database locked (concurrent writers)."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            text = str(exc).lower()
            if (
                "database is locked" in text or "unique constraint" in text
            ) and attempt + 1 < attempts:
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
                continue
            raise translate(exc, what) from None
    raise AssertionError("unreachable")
