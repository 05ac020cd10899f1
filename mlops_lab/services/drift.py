"""Drift: compare data with a model's training data, found through its lineage.

``lab.drift.compare(reference, current)`` is the engine on two DataFrames.
``lab.drift.for_model("fraud@champion", current=...)`` finds the training data of the
version (the data commit and paths its run read, feature views included), prepares it once
and caches it per version (locally and as an artifact of the version's run), then compares
a DataFrame, a data path at a ref, or a window of the serving prediction log. Each check is
an MLflow run linked to the version, writes the latest figures that the metrics endpoint
serves, and returns a report that renders as static HTML.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.errors import LabError, NotFoundError, UsageError
from mlops_lab.services import _drift_cache

if TYPE_CHECKING:
    from mlops_lab.backends.drift import Comparison, Options, ReferenceStats
    from mlops_lab.lab import Lab
    from mlops_lab.services.endpoint_state import Revision
    from mlops_lab.services.models import VersionInfo

INPUT_PREFIX = "input."
REFERENCE_ARTIFACT = "drift_reference"
PREDICTION = "prediction"
"""The prediction log's column of predictions, and of a model's predictions on its training
data in the cached reference."""
# A model predicts on at most this many rows of its training data (a seeded sample).
PREDICTION_ROWS = 100_000
WINDOW_PATTERN = re.compile(r"^\d+(\.\d+)?[smhdw]$")


class DriftService:
    """Drift checks for the project's data and models."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._references: dict[str, ReferenceStats] = {}

    @property
    def reports_dir(self) -> Path:
        return self.lab.config.resolve(self.lab.config.drift.reports)

    def options(
        self,
        method: str | None = None,
        tests: Mapping[str, str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        drift_share: float | None = None,
    ) -> Options:
        """The tests and thresholds of a check: ``[drift]`` in mlops.toml, then the call's."""
        from mlops_lab.backends.drift import Options

        settings = self.lab.config.drift
        configured = settings.method or None
        merged: dict[str, float] = {}
        if configured and settings.threshold > 0:
            merged[configured] = settings.threshold
        merged.update(thresholds or {})
        return Options(
            method=method or configured,
            tests=dict(tests or {}),
            thresholds=merged,
            drift_share=settings.drift_share if drift_share is None else drift_share,
        )

    def compare(
        self,
        reference: Any,
        current: Any,
        columns: Iterable[str] | None = None,
        column_types: Mapping[str, str] | None = None,
        *,
        method: str | None = None,
        tests: Mapping[str, str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        drift_share: float | None = None,
        title: str = "",
    ) -> Comparison:
        """Compare two DataFrames (or cached ReferenceStats and a DataFrame) column by
        column with Evidently 0.7's default tests, unless ``method`` (every column),
        ``tests`` (per column) or ``[drift] method`` say otherwise. ``thresholds`` maps a
        test or a column to its threshold; ``drift_share`` is the share of drifted columns
        at which the dataset counts as drifted."""
        from mlops_lab.backends.drift import compare

        result = compare(
            reference,
            current,
            columns,
            column_types,
            self.options(method, tests, thresholds, drift_share),
        )
        result.title = title
        return result

    # ------------------------------------------------------------------ reference

    def reference(self, model: str | VersionInfo, refresh: bool = False) -> ReferenceStats:
        """The prepared training data of a model version, from the cache when it is there
        (memory, then ``[drift] reports``, then the run's artifact), else built and cached."""
        version = self.lab.models.get(model) if isinstance(model, str) else model
        key = f"{version.name}/{version.version}"
        if not refresh and key in self._references:
            return self._references[key]
        folder = self.reports_dir / "reference" / version.name / str(version.version)
        stats = None if refresh else _drift_cache.load(folder)
        if stats is None and not refresh:
            stats = self._download(version, folder)
        if stats is None:
            from mlops_lab.backends.drift import ReferenceStats

            tables, source = self.training_data(version)
            stats = ReferenceStats({}, 0, source)
            # Several tables (labels and feature-view sources): each column from the first
            # table that has it.
            for frame in tables.values():
                fresh = [str(c) for c in frame.columns if str(c) not in stats.columns]
                built = ReferenceStats.build(frame, fresh)
                stats.columns.update(built.columns)
                stats.untested += [c for c in built.untested if c not in stats.untested]
                stats.rows = max(stats.rows, built.rows)
            stats.untested = [c for c in stats.untested if c not in stats.columns]
            stats.predictions, stats.predictions_note = self._predictions_on(version, tables)
            del tables
            _drift_cache.save(stats, folder)
            self._upload(version, folder)
        self._references[key] = stats
        return stats

    def training_data(self, model: str | VersionInfo) -> tuple[dict[str, Any], dict[str, str]]:
        """The tables the version's run read (path -> DataFrame), read back through lab.data
        at the data commit it recorded (``mlops.data.commit`` / ``mlops.data.paths``); feature
        views count with the source files they read."""
        version = self.lab.models.get(model) if isinstance(model, str) else model
        tags = self._lineage_tags(version)
        commits = [c for c in tags.get(lineage.DATA_COMMIT, "").split(",") if c]
        paths = [p for p in tags.get(lineage.DATA_PATHS, "").split(",") if p]
        missing = [
            key
            for key, values in ((lineage.DATA_COMMIT, commits), (lineage.DATA_PATHS, paths))
            if not values
        ]
        if missing:
            raise NotFoundError(
                f"model {version.name}/{version.version} has no recorded training data: its run "
                f"lacks the lineage tag {' and '.join(missing)}; read the training data through "
                "lab.data inside lab.tracking.start_run(), or pass a reference to "
                "lab.drift.compare()"
            )
        tables = [p for p in paths if p.rsplit(".", 1)[-1].lower() in ("parquet", "csv")]
        if not tables:
            raise NotFoundError(
                f"model {version.name}/{version.version} read no table ({', '.join(paths)}); "
                "pass a reference to lab.drift.compare()"
            )
        frames = {}
        for path in tables:
            frame = self._read_at_any(path, commits)
            if frame is not None:
                frames[path] = frame
        if not frames:
            raise NotFoundError(
                f"the training data of {version.name}/{version.version} ({', '.join(tables)} at "
                f"{', '.join(c[:12] for c in commits)}) is no longer in the data store"
            )
        meta = {"data_commit": ",".join(commits), "data_paths": ",".join(frames)}
        return frames, meta

    def _predictions_on(
        self, version: VersionInfo, tables: dict[str, Any]
    ) -> tuple[ReferenceStats | None, str]:
        """The version's own predictions on (a seeded sample of at most PREDICTION_ROWS rows
        of) its training data, as the prediction log holds them; else None and why."""
        from mlops_lab.backends.drift import ReferenceStats

        ref = f"{version.name}/{version.version}"
        inputs = self._signature_inputs(version)
        if not inputs:
            return None, (
                f"model {ref} has no input signature, so what it predicts on its training data "
                "is unknown; log it with a signature (mlflow.models.infer_signature)"
            )
        frame = next((f for f in tables.values() if set(inputs) <= set(f.columns)), None)
        if frame is None:
            return None, (
                f"no training table of {ref} holds all its inputs ({', '.join(inputs)}), so "
                "what it predicts on its training data is unknown"
            )
        if len(frame) > PREDICTION_ROWS:
            frame = frame.sample(PREDICTION_ROWS, random_state=0)
        try:
            raw = self.lab.models.load(ref).predict(frame[inputs])
        except Exception as exc:  # the model's own code: any failure is a note, not a crash
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            return None, f"model {ref} could not predict on its training data: {reason}"
        column = _as_logged(raw, len(frame))
        if column is None:
            return None, f"model {ref} gave no prediction per row of its training data"
        return ReferenceStats.build(column.to_frame(PREDICTION)), ""

    def _read_at_any(self, path: str, commits: list[str]) -> Any:
        for commit in reversed(commits):
            try:
                return self.lab.data.read_table(path, ref=commit)
            except NotFoundError:
                continue
        return None

    def _lineage_tags(self, version: VersionInfo) -> dict[str, str]:
        tags = dict(version.lineage)
        if version.run_id:
            run = self.lab.tracking.mlflow_run(version.run_id)
            run_tags = {k: v for k, v in run.data.tags.items() if k.startswith("mlops.")}
            tags = {**run_tags, **tags}
        return tags

    def _download(self, version: VersionInfo, folder: Path) -> ReferenceStats | None:
        if not version.run_id:
            return None
        client = self.lab.tracking.client
        try:
            if not client.list_artifacts(version.run_id, REFERENCE_ARTIFACT):
                return None
            from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

            # MLflow reads the setting at each download; its progress bar is noise in a report.
            previous = os.environ.get(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name)
            os.environ[MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name] = "false"
            try:
                client.download_artifacts(version.run_id, REFERENCE_ARTIFACT, str(folder.parent))
            finally:
                if previous is None:
                    os.environ.pop(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name, None)
                else:
                    os.environ[MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name] = previous
        except Exception:  # an unreadable artifact store: rebuild from the data instead
            return None
        downloaded = folder.parent / REFERENCE_ARTIFACT
        if downloaded.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            for item in downloaded.iterdir():
                os.replace(item, folder / item.name)
            downloaded.rmdir()
        return _drift_cache.load(folder)

    def _upload(self, version: VersionInfo, folder: Path) -> None:
        if version.run_id:
            self.lab.tracking.client.log_artifacts(version.run_id, str(folder), REFERENCE_ARTIFACT)

    # ------------------------------------------------------------------ checks

    def for_model(
        self,
        model: str,
        current: Any = None,
        *,
        ref: str | None = None,
        window: str | None = None,
        endpoint: str | None = None,
        version: str | None = None,
        variant: str | None = None,
        columns: Iterable[str] | None = None,
        column_types: Mapping[str, str] | None = None,
        method: str | None = None,
        tests: Mapping[str, str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        drift_share: float | None = None,
        record: bool = True,
        predictions: bool = False,
    ) -> Comparison:
        """Compare ``current`` with the training data of ``model`` (``name@alias`` or
        ``name/3``).

        ``current``: a DataFrame; a data path (read at ``ref``, default branch otherwise);
        or nothing with ``window="1h"``: the serving prediction log of ``endpoint``
        (default: the model's name) for that version (``version``, default the model's) or
        ``variant`` ("stable"/"canary"), input columns only. With ``record`` the check is
        an MLflow run linked to the version and updates the metrics endpoint (the gauges
        show input checks).

        With ``predictions`` the ``prediction`` column of ``current`` (or of the log) is
        compared with what the model predicted on its training data, cached with the
        reference when it was prepared.
        """
        info = self.lab.models.get(model)
        reference = self.reference(info)
        frame, meta = self._current(
            info, current, ref, window, endpoint, version, variant, predictions
        )
        meta |= {"model": info.name, "version": str(info.version)}
        meta |= {f"reference_{key}": value for key, value in reference.source.items()}
        where = meta.get("window") and f"last {meta['window']} of predictions"
        title = f"{info.name} v{info.version}: training data vs {where or meta.get('current')}"
        if predictions:
            if reference.predictions is None:
                raise NotFoundError(reference.predictions_note)
            reference, columns = reference.predictions, [PREDICTION]
            meta["compared"] = "predictions"
            title = f"{info.name} v{info.version}: predictions on training data vs {where or meta.get('current')}"
        elif columns is None:
            columns = self._model_inputs(info, reference, frame)
        result = self.compare(
            reference,
            frame,
            columns,
            column_types,
            method=method,
            tests=tests,
            thresholds=thresholds,
            drift_share=drift_share,
            title=title,
        )
        result.meta = meta
        if record:
            from mlops_lab.services import _drift_record

            _drift_record.record(self.lab, info, result)
        return result

    def _model_inputs(self, info: VersionInfo, reference: ReferenceStats, frame: Any) -> Any:
        """The model's input columns from its signature, when it has one and both samples
        hold them; else None (every common column)."""
        names = self._signature_inputs(info)
        wanted = [n for n in names if n in reference.columns and n in frame.columns]
        return wanted or None

    def _signature_inputs(self, info: VersionInfo) -> list[str]:
        """The input column names of the version's signature; [] without one."""
        try:
            from urllib.parse import unquote, urlparse

            from mlflow.models import Model

            location = self.lab.models.location(f"{info.name}/{info.version}")
            if location.startswith("file:"):
                location = unquote(urlparse(location).path)
            signature = Model.load(location).signature
            return [str(n) for n in signature.inputs.input_names()] if signature else []
        except Exception:  # no signature, or a model MLflow cannot describe
            return []

    def _current(
        self,
        info: VersionInfo,
        current: Any,
        ref: str | None,
        window: str | None,
        endpoint: str | None,
        version: str | None,
        variant: str | None,
        predictions: bool = False,
    ) -> tuple[Any, dict[str, str]]:
        pd = _pandas()
        if current is not None and window is not None:
            raise UsageError("pass either current= or window=, not both")
        if isinstance(current, pd.DataFrame):
            return _with_predictions(current, predictions, "the DataFrame"), {
                "current": "a DataFrame"
            }
        if isinstance(current, str | os.PathLike):
            path = str(current)
            commit = self.lab.data.resolve(ref)
            frame = _with_predictions(self.lab.data.read_table(path, ref=ref), predictions, path)
            return frame, {"current": f"{path}@{ref or 'HEAD'}", "current_commit": commit}
        if current is not None:
            raise UsageError(
                f"current must be a DataFrame or a data path, got {type(current).__name__}"
            )
        if window is None:
            raise UsageError("say what to compare: current=DataFrame or path, or window='1h'")
        if not WINDOW_PATTERN.match(str(window)):
            raise UsageError(f"window '{window}' is not a duration; use e.g. '15m', '1h', '2d'")
        endpoint = endpoint or info.name
        if variant is None and version is None:
            version = str(info.version)
        log = self.lab.serving.predictions(endpoint, since=window, version=version, variant=variant)
        inputs = {c: c[len(INPUT_PREFIX) :] for c in log.columns if c.startswith(INPUT_PREFIX)}
        who = f"variant {variant}" if variant else f"version {version}"
        if not len(log):
            raise UsageError(
                f"no predictions from endpoint '{endpoint}' ({who}) in the last {window}; widen "
                "the window, or check that the endpoint serves traffic"
            )
        meta = {"window": str(window), "endpoint": endpoint, "current": who}
        if predictions:
            return log[[PREDICTION]], meta
        if not inputs:
            raise UsageError(f"the prediction log of '{endpoint}' has no input.* columns")
        return log[list(inputs)].rename(columns=inputs), meta

    def for_canary(self, endpoint: str, window: str = "1h") -> CanaryDrift:
        """The drift of the canary of ``endpoint`` over the last ``window`` of its prediction
        log: inputs against the canary version's training data and against the stable
        version's inputs in the same window; predictions against what the canary version
        predicted on its training data and against the stable version's.
        Computed when asked (a refresh of the panel or widget), never per request; the
        training data's statistics are cached per version."""
        if not WINDOW_PATTERN.match(str(window)):
            raise UsageError(f"window '{window}' is not a duration; use e.g. '15m', '1h', '2d'")
        revision = self.lab.serving.revisions(endpoint)[-1]
        if revision.stable is None or revision.canary is None:
            raise UsageError(
                f"endpoint '{endpoint}' has no canary; deploy one first "
                f"(%mlops deploy MODEL@ALIAS --endpoint {endpoint})"
            )
        stable, canary = revision.stable, revision.canary
        log = self.lab.serving.predictions(endpoint, since=window)
        inputs = {c: c[len(INPUT_PREFIX) :] for c in log.columns if c.startswith(INPUT_PREFIX)}
        ok = log["status"] == "ok"
        canary_log = log[ok & (log["variant"] == "canary") & (log["version"] == canary["version"])]
        stable_log = log[ok & (log["variant"] == "stable") & (log["version"] == stable["version"])]
        result = CanaryDrift(
            endpoint,
            str(window),
            f"{stable['model']}/{stable['version']}",
            f"{canary['model']}/{canary['version']}",
            len(canary_log),
            len(stable_log),
        )
        if not len(canary_log) or not inputs:
            result.notes.append(f"no answered requests from the canary in the last {window}")
            return result
        current = canary_log[list(inputs)].rename(columns=inputs)
        columns = None
        try:
            result.inputs_vs_training = self.for_model(result.canary, current, record=False)
            result.inputs_vs_training.title = (
                f"canary {result.canary}: training data vs its last {window} of requests"
            )
            columns = result.inputs_vs_training.names
        except NotFoundError as exc:
            result.notes.append(str(exc))
        try:
            result.predictions_vs_training = self.for_model(
                result.canary, canary_log[[PREDICTION]], predictions=True, record=False
            )
            result.predictions_vs_training.title = (
                f"canary {result.canary}: predictions on its training data vs its last {window}"
            )
        except LabError as exc:  # no training data recorded, or no predictions cached
            if str(exc) not in result.notes:
                result.notes.append(str(exc))
        if len(stable_log):
            before = stable_log[list(inputs)].rename(columns=inputs)
            versus = f"canary {result.canary} vs stable {result.stable}"
            try:
                result.inputs_vs_stable = self.compare(
                    before, current, columns, title=f"{versus} inputs, last {window}"
                )
                result.predictions_vs_stable = self.compare(
                    stable_log[[PREDICTION]],
                    canary_log[[PREDICTION]],
                    title=f"{versus} predictions, last {window}",
                )
            except UsageError as exc:  # e.g. a column all missing in one window
                result.notes.append(str(exc))
        else:
            result.notes.append(
                f"no answered requests from the stable version in the last {window}"
            )
        return result

    def latest(self) -> list[dict[str, Any]]:
        """The latest check of every model version (what the metrics endpoint serves)."""
        folder = self.reports_dir / "latest"
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return found

    def metrics(self) -> str:
        """Prometheus text exposition of the latest checks: ``mlops_drift_score``,
        ``mlops_drift_detected`` and ``mlops_dataset_drift_share``."""
        from mlops_lab.services import _drift_record

        return _drift_record.exposition(self.latest())


@dataclass
class CanaryDrift:
    """A canary's drift over the last ``window`` of its endpoint's prediction log: its inputs
    against its training data and against the stable version's inputs, and its predictions
    against what it predicted on its training data and against the stable version's."""

    endpoint: str
    window: str
    stable: str
    """The stable version, NAME/VERSION."""
    canary: str
    canary_rows: int
    stable_rows: int
    inputs_vs_training: Comparison | None = None
    inputs_vs_stable: Comparison | None = None
    predictions_vs_training: Comparison | None = None
    """The canary's predictions against the canary version's on its own training data."""
    predictions_vs_stable: Comparison | None = None
    notes: list[str] = field(default_factory=list)
    """Why a comparison is missing (no training data recorded, no stable traffic)."""
    rolled_back: Revision | None = None
    """The rollback that the [serving] rollback_on_drift policy made, if it did."""

    @property
    def share(self) -> float:
        """The larger share of drifted input columns of the two input comparisons."""
        found = [c.share for c in (self.inputs_vs_training, self.inputs_vs_stable) if c]
        return max(found, default=0.0)

    def summary(self) -> str:
        """One line, e.g. "inputs 2/3 drifted vs training (amount, spend_7d); inputs 0/3
        drifted vs stable; predictions drifted vs training (z 1e-09); predictions steady vs
        stable (z 0.41)"."""
        parts = []
        for what, comparison in (
            ("vs training", self.inputs_vs_training),
            ("vs stable", self.inputs_vs_stable),
        ):
            if comparison is not None:
                drifted = comparison.drifted_columns
                which = f" ({', '.join(drifted)})" if drifted else ""
                parts.append(
                    f"inputs {len(drifted)}/{len(comparison.columns)} drifted {what}{which}"
                )
        for what, comparison in (
            ("vs training", self.predictions_vs_training),
            ("vs stable", self.predictions_vs_stable),
        ):
            if comparison is not None and comparison.columns:
                moved = comparison.columns[0]
                parts.append(
                    f"predictions {'drifted' if moved.drifted else 'steady'} {what} "
                    f"({moved.method} {moved.score:.3g})"
                )
        return "; ".join(parts) or "; ".join(self.notes) or "nothing to compare"


def _pandas() -> Any:
    from mlops_lab.errors import require

    return require("pandas")


def _with_predictions(frame: Any, predictions: bool, what: str) -> Any:
    if not predictions:
        return frame
    if PREDICTION not in frame.columns:
        raise UsageError(
            f"{what} has no '{PREDICTION}' column to compare with the model's predictions on "
            "its training data; pass the model's predictions as a 'prediction' column"
        )
    return frame[[PREDICTION]]


def _as_logged(raw: Any, rows: int) -> Any:
    """Model output as the prediction log stores it (one value per row: a number, else
    text or JSON), so the two compare like with like; None when it is not one per row."""
    from datetime import UTC, datetime

    from mlops_lab.backends.serving.payload import predictions_to_list
    from mlops_lab.backends.serving.prediction_log import log_table

    values = predictions_to_list(raw)
    if len(values) != rows:
        return None
    pd = _pandas()
    entry = (
        "",
        "",
        "",
        "",
        "",
        datetime.now(UTC),
        0.0,
        "ok",
        pd.DataFrame(index=range(rows)),
        values,
    )
    return log_table([entry]).column(PREDICTION).to_pandas()
