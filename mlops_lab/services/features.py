"""`lab.features`: the project's Feast repository, pinned to data commits.

The feature repository (``[features] repo``, created by ``mlops-lab init``) defines entities,
feature views and services with Feast's own classes. A ``FileSource`` whose path is relative
names a file in the lab's data store: ``apply()`` points it at that file as of a data commit
(the default branch's head unless ``data_ref`` says otherwise) and records the commit on the
source. ``historical(..., data_ref=C)`` reads commit ``C``'s files through a registry pinned
to ``C`` (kept under ``.mlops/feast/pinned/``), so the same call returns the same training
set however far the branch has moved. Joins, TTLs and online reads are Feast's own, called
in-process (the ``feast`` CLI spends seconds importing).

Feast silently drops entity rows whose key has feature rows but none inside
``[timestamp - ttl, timestamp]``; the lab counts them, says why, and stores the summary in
``frame.attrs["mlops.dropped"]``.
"""

from __future__ import annotations

import builtins
import copy
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.backends import features as feature_backends
from mlops_lab.backends.features.feast import (
    COMMIT_TAG,
    PATH_TAG,
    TIMESTAMP,
    as_timestamp,
    check_entity_frame,
    first_line,
    load_definitions,
    logical_path,
    names_text,
    registry_reads,
    registry_stamp,
    safe_name,
    source_path,
    sqlite_timestamps,
    ttl_text,
    utc_column,
)
from mlops_lab.display import Table
from mlops_lab.errors import (
    BackendError,
    LabError,
    NotFoundError,
    UsageError,
    require,
)
from mlops_lab.notices import notice
from mlops_lab.services.progress import ProgressCallback, each

if TYPE_CHECKING:
    from mlops_lab.lab import Lab


@dataclass(frozen=True)
class ViewInfo:
    name: str
    entities: tuple[str, ...]
    features: tuple[str, ...]
    ttl: str
    path: str
    """Data-store path the view reads (or the file path for sources outside the store)."""
    data_commit: str
    """Data commit the registry points the view at ("" for sources outside the store)."""
    online: bool


@dataclass(frozen=True)
class Catalog:
    """What `lab.features.list()` returns: entities, feature views and feature services."""

    entities: dict[str, tuple[str, ...]]
    views: tuple[ViewInfo, ...]
    services: dict[str, tuple[str, ...]]

    def table(self, max_rows: int = 50) -> Table:
        rows: list[list[Any]] = []
        for name, keys in self.entities.items():
            rows.append(["entity", name, "join keys: " + ", ".join(keys)])
        for view in self.views:
            where = f"{view.path} @ {view.data_commit[:12]}" if view.data_commit else view.path
            rows.append(
                [
                    "feature view",
                    view.name,
                    f"{', '.join(view.features)} | ttl {view.ttl} | {where}",
                ]
            )
        for name, refs in self.services.items():
            rows.append(["feature service", name, ", ".join(refs)])
        return Table(
            ["kind", "name", "detail"], rows, title="Feast feature repository", max_rows=max_rows
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


@dataclass(frozen=True)
class ApplyResult:
    entities: tuple[str, ...]
    views: tuple[str, ...]
    services: tuple[str, ...]
    deleted: tuple[str, ...]
    data_commit: str | None

    def __str__(self) -> str:
        parts = [
            f"applied {len(self.entities)} entities, {len(self.views)} feature views, "
            f"{len(self.services)} feature services"
        ]
        if self.data_commit:
            parts.append(f"sources pinned to data commit {self.data_commit[:12]}")
        if self.deleted:
            parts.append("removed " + ", ".join(self.deleted))
        return "; ".join(parts)


@dataclass
class _Refs:
    """Feature references resolved against the registry."""

    refs: list[str]
    views: list[Any]
    service: str | None = None
    by_view: dict[str, list[str]] = field(default_factory=dict)


class FeatureService:
    """Feast through the lab: apply, list, historical (pinned), materialize, online."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._store: Any = None
        self._pinned: dict[str, tuple[float, Any]] = {}
        self._views_cache: tuple[float, Any, dict[str, Any]] | None = None
        self._services_cache: tuple[float, Any, dict[str, Any]] | None = None
        self._lock = threading.RLock()

    # --- the store ----------------------------------------------------------------------

    @property
    def repo(self) -> Path:
        return self.lab.config.resolve(self.lab.config.features.repo)

    @property
    def store(self) -> Any:
        """Feast's ``FeatureStore`` for the project's repository."""
        with self._lock:
            if self._store is None:
                self._store = feature_backends.make(self.lab.config)
            return self._store

    # --- apply / list -------------------------------------------------------------------

    def apply(self, data_ref: str | None = None) -> ApplyResult:
        """Register the repository's definitions; data-store sources read ``data_ref``
        (default: the data's default branch) as of now. Objects no longer defined are removed."""
        feast = require("feast")
        objects = load_definitions(self.repo)
        commit = None
        sources = [o for o in objects if isinstance(o, feast.FileSource)]
        views = [o for o in objects if isinstance(o, feast.FeatureView)]
        for view in views:
            if view.batch_source is not None and not any(view.batch_source is s for s in sources):
                sources.append(view.batch_source)
        if any(self._in_store(s) for s in sources):
            commit = self._resolve(data_ref or self.lab.config.data.default_branch)
            for source in sources:
                if self._in_store(source):
                    self._pin_source(source, logical_path(source), commit)
        store = self.store
        wanted = {(type(o).__name__, getattr(o, "name", None)) for o in objects}
        stale: list[Any] = []
        for existing in (
            *store.list_entities(),
            *store.list_feature_views(),
            *store.list_feature_services(),
            *store.list_on_demand_feature_views(),
        ):
            if (type(existing).__name__, existing.name) not in wanted:
                stale.append(existing)
        try:
            store.apply(objects, objects_to_delete=stale, partial=not stale)
        except LabError:
            raise
        except Exception as exc:
            raise UsageError(f"feast apply failed: {first_line(exc)}; fix {self.repo}") from None
        with self._lock:
            self._pinned.clear()
            self._views_cache = None
            self._services_cache = None
        return ApplyResult(
            entities=tuple(o.name for o in objects if isinstance(o, feast.Entity)),
            views=tuple(v.name for v in views),
            services=tuple(o.name for o in objects if isinstance(o, feast.FeatureService)),
            deleted=tuple(f"{type(o).__name__} {o.name}" for o in stale),
            data_commit=commit,
        )

    def _in_store(self, source: Any) -> bool:
        """A FileSource reads the data store when its path is relative (or was pinned)."""
        tags = getattr(source, "tags", None) or {}
        if PATH_TAG in tags:
            return True
        path = getattr(source, "path", "") or ""
        if not path or "://" in path or Path(path).is_absolute():
            return False
        return not (self.repo / path).exists()

    def _pin_source(self, source: Any, logical: str, commit: str) -> None:
        source.file_options.uri = str(self._uri(commit, logical))
        if self.lab.config.data.backend == "lakefs":
            # Feast reads lakeFS through its S3 gateway (AWS_* credentials from the env).
            source.file_options.s3_endpoint_override = self.lab.config.data.endpoint
        source.tags = {**(source.tags or {}), PATH_TAG: logical, COMMIT_TAG: commit}

    def _resolve(self, ref: str) -> str:
        data = self.lab.data
        try:
            return str(data.resolve(ref))
        except LabError:
            raise
        except Exception as exc:
            raise BackendError(f"resolving data ref '{ref}' failed: {first_line(exc)}") from None

    def _uri(self, commit: str, path: str) -> str:
        try:
            s3 = self.lab.config.data.backend == "lakefs"
            return str(self.lab.data.uri(commit, path, s3=s3))
        except LabError as exc:
            raise type(exc)(
                f"feature source {path} at data commit {commit[:12]}: {exc}", **exc.fields
            ) from None

    def list(self) -> Catalog:
        """Entities, feature views (features, ttl, the data they read) and services."""
        store = self.store
        with registry_reads(self.lab.config.features):
            entities: dict[str, tuple[str, ...]] = {
                e.name: (e.join_key,) for e in store.list_entities()
            }
            views = []
            for view in sorted(store.list_feature_views(), key=lambda v: v.name):
                source = view.batch_source
                tags = (getattr(source, "tags", None) or {}) if source is not None else {}
                views.append(
                    ViewInfo(
                        name=view.name,
                        entities=tuple(view.entities),
                        features=tuple(f.name for f in view.features),
                        ttl=ttl_text(view.ttl),
                        path=tags.get(PATH_TAG) or str(getattr(source, "path", "")),
                        data_commit=tags.get(COMMIT_TAG, ""),
                        online=bool(view.online),
                    )
                )
            services = {
                s.name: tuple(
                    f"{p.name}:{f.name}" for p in s.feature_view_projections for f in p.features
                )
                for s in sorted(store.list_feature_services(), key=lambda s: s.name)
            }
            return Catalog(entities, tuple(views), services)

    # --- offline ------------------------------------------------------------------------

    def historical(
        self,
        entity_df: Any,
        features: str | Sequence[str],
        data_ref: str | None = None,
        full_feature_names: bool = False,
    ) -> Any:
        """Feast's point-in-time join of ``features`` onto ``entity_df``.

        ``entity_df`` needs the views' join keys and an ``event_timestamp`` column (each
        row's label time). ``features``: ``"view:feature"`` refs, view names (all their
        features) or one feature service name. With ``data_ref`` (a data commit, branch or
        tag) the sources read that commit's files. Rows Feast drops are reported.
        """
        pd = require("pandas")
        if not isinstance(entity_df, pd.DataFrame):
            raise UsageError(
                f"the entity frame must be a pandas DataFrame, got {type(entity_df).__name__}"
            )
        store = self.store
        resolved = self._refs(store, features)
        check_entity_frame(entity_df, resolved.views, store)
        commit = self._resolve(data_ref) if data_ref else None
        store, commits = self._store_for(resolved.views, commit)
        target: Any = self._service_object(store, resolved.service) or resolved.refs
        try:
            frame = store.get_historical_features(
                entity_df=entity_df,
                features=target,
                full_feature_names=full_feature_names,
            ).to_df()
        except LabError:
            raise
        except Exception as exc:
            raise BackendError(f"historical features failed: {first_line(exc)}") from None
        self._note(resolved, commits)
        dropped = len(entity_df) - len(frame)
        if dropped > 0:
            summary = self._explain_dropped(entity_df, resolved.views, store, dropped)
            frame.attrs["mlops.dropped"] = summary
            notice(summary["message"])
        else:
            frame.attrs["mlops.dropped"] = {"count": 0, "of": len(entity_df), "reasons": {}}
        return frame

    def _note(self, resolved: _Refs, commits: dict[str, tuple[str, str]]) -> None:
        for view in resolved.views:
            lineage.note(lineage.FEATURES_VIEWS, view.name)
        if resolved.service:
            lineage.note(lineage.FEATURES_SERVICE, resolved.service)
        for _, (commit, path) in commits.items():
            lineage.note(lineage.FEATURES_DATA_REF, commit)
            lineage.note(lineage.DATA_COMMIT, commit)
            lineage.note(lineage.DATA_PATHS, path)

    def _store_for(
        self, views: builtins.list[Any], commit: str | None
    ) -> tuple[Any, dict[str, tuple[str, str]]]:
        """The store to query (pinned to ``commit`` when the registry reads another one)
        and, per view in the data store, (commit, path) it reads."""
        applied: dict[str, tuple[str, str]] = {}
        for view in views:
            tags = getattr(view.batch_source, "tags", None) or {}
            if PATH_TAG in tags:
                applied[view.name] = (tags.get(COMMIT_TAG, ""), tags[PATH_TAG])
        if commit is None or all(c == commit for c, _ in applied.values()):
            return self.store, applied
        if not applied:
            raise UsageError(
                "data_ref given, but none of these feature views reads the lab's data store "
                "(their sources are absolute paths); drop data_ref"
            )
        return self._pinned_store(commit), {n: (commit, p) for n, (_, p) in applied.items()}

    def _pinned_store(self, commit: str) -> Any:
        """A registry whose data-store sources read ``commit``; rebuilt when the main
        registry changes."""
        stamp = registry_stamp(self.store, self.repo)
        with self._lock:
            cached = self._pinned.get(commit)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            feast = require("feast")
            main = self.store
            directory = self.lab.config.state_dir / "feast" / "pinned" / safe_name(commit)
            directory.mkdir(parents=True, exist_ok=True)
            marker = directory / "pinned.json"
            config = {
                "project": main.config.project,
                "registry": str(directory / "registry.db"),
                "provider": "local",
                "online_store": {"type": "sqlite", "path": str(directory / "online_store.db")},
                "offline_store": {"type": "file"},
                "entity_key_serialization_version": main.config.entity_key_serialization_version,
            }
            repo_config = feast.RepoConfig(**config)
            pinned = feast.FeatureStore(config=repo_config)
            try:
                previous = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                previous = {}
            if previous.get("stamp") != stamp:
                objects: builtins.list[Any] = [*main.list_entities()]
                for view in main.list_feature_views():
                    view = copy.deepcopy(view)
                    source = view.batch_source
                    if PATH_TAG in (getattr(source, "tags", None) or {}):
                        self._pin_source(source, source.tags[PATH_TAG], commit)
                    objects.append(view)
                objects += [*main.list_feature_services()]
                try:
                    pinned.apply(objects)
                except Exception as exc:
                    raise BackendError(
                        f"pinning features to data commit {commit[:12]} failed: {first_line(exc)}"
                    ) from None
                marker.write_text(json.dumps({"stamp": stamp, "commit": commit}), encoding="utf-8")
            self._pinned[commit] = (stamp, pinned)
            return pinned

    def _service_object(self, store: Any, name: str | None) -> Any:
        if name is None:
            return None
        return self._services(store).get(name) or store.get_feature_service(name)

    def _services(self, store: Any) -> dict[str, Any]:
        """The registry's feature services by name, reread when the views are."""
        stamp = registry_stamp(self.store, self.repo)
        cached = self._services_cache
        if cached is not None and cached[0] == stamp and cached[1] is store:
            return cached[2]
        with registry_reads(self.lab.config.features):
            listed = store.registry.list_feature_services(store.project, allow_cache=True)
        services = {s.name: s for s in listed}
        self._services_cache = (stamp, store, services)
        return services

    def _views(self, store: Any) -> dict[str, Any]:
        """The registry's feature views by name, reread only when the registry file changes
        (deserializing them costs as much as a small online read)."""
        stamp = registry_stamp(self.store, self.repo)
        cached = self._views_cache
        if cached is not None and cached[0] == stamp and cached[1] is store:
            return cached[2]
        with registry_reads(self.lab.config.features):
            if cached is not None and cached[1] is store:
                store.refresh_registry()  # applied elsewhere (another kernel, the CLI)
            views = {v.name: v for v in store.list_feature_views(allow_cache=True)}
        self._views_cache = (stamp, store, views)
        return views

    def _refs(self, store: Any, features: str | Sequence[str]) -> _Refs:
        views = self._views(store)
        if isinstance(features, str):
            if ":" not in features:
                services = self._services(store)
                if features in services:
                    service = services[features]
                    listed = [
                        f"{p.name}:{f.name}"
                        for p in service.feature_view_projections
                        for f in p.features
                    ]
                    return _Refs(
                        listed,
                        [
                            views[p.name]
                            for p in service.feature_view_projections
                            if p.name in views
                        ],
                        features,
                    )
            features = [features]
        if not features:
            raise UsageError("no features named; pass view:feature refs, a view or a service")
        refs: builtins.list[str] = []
        used: dict[str, Any] = {}
        for raw in features:
            ref = str(raw).strip()
            view_name, _, feature = ref.partition(":")
            if view_name not in views:
                raise NotFoundError(
                    f"unknown feature view '{view_name}'; known: {names_text(views)} "
                    "(see %mlops features ls)"
                )
            view = views[view_name]
            names = [f.name for f in view.features]
            if not feature:
                refs += [f"{view_name}:{n}" for n in names]
            elif feature not in names:
                raise NotFoundError(
                    f"feature view '{view_name}' has no feature '{feature}'; it has: "
                    f"{', '.join(names)}"
                )
            else:
                refs.append(ref)
            used[view_name] = view
        return _Refs(list(dict.fromkeys(refs)), list(used.values()))

    def _explain_dropped(
        self, entity_df: Any, views: builtins.list[Any], store: Any, dropped: int
    ) -> dict[str, Any]:
        """Why Feast dropped rows: per view, entity rows whose key has feature rows but none
        in [ts - ttl, ts]."""
        pd = require("pandas")
        reasons: dict[str, int] = {}
        ts = utc_column(entity_df[TIMESTAMP])
        for view in views:
            view = store.get_feature_view(view.name)  # the source this store actually read
            keys = [c.name for c in view.entity_columns]
            try:
                source = pd.read_parquet(
                    source_path(store, view),
                    columns=[*keys, view.batch_source.timestamp_field],
                )
            except Exception:
                continue
            field_ = view.batch_source.timestamp_field
            source[field_] = utc_column(source[field_])
            left = entity_df[keys].assign(_ts=ts, _row=range(len(entity_df))).sort_values("_ts")
            right = source.rename(columns={field_: "_fts"}).sort_values("_fts")
            first = right.groupby(keys)["_fts"].min().rename("_first").reset_index()
            merged = pd.merge_asof(
                left, right, left_on="_ts", right_on="_fts", by=keys, direction="backward"
            )
            merged = merged.merge(first, on=keys, how="left")
            known = merged["_first"].notna()
            early = known & (merged["_ts"] < merged["_first"])
            stale = known & ~early
            if view.ttl:
                stale &= (merged["_ts"] - merged["_fts"]) > pd.Timedelta(view.ttl)
            else:
                stale &= False
            ttl = ttl_text(view.ttl)
            if int(early.sum()):
                reasons[f"earlier than the first {view.name} row for their key"] = int(early.sum())
            if int(stale.sum()):
                reasons[f"latest {view.name} row older than its ttl ({ttl})"] = int(stale.sum())
        total = len(entity_df)
        explained = sum(reasons.values())
        if explained < dropped:
            reasons["for a reason the feature rows do not show"] = dropped - explained
        detail = "; ".join(f"{n:,} {why}" for why, n in reasons.items())
        message = (
            f"Feast dropped {dropped:,} of {total:,} entity rows (no feature row in "
            f"[event_timestamp - ttl, event_timestamp] for a key it knows): {detail}"
        )
        return {"count": dropped, "of": total, "reasons": reasons, "message": message}

    # --- online -------------------------------------------------------------------------

    def materialize(
        self,
        start: datetime | str,
        end: datetime | str,
        views: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Load feature rows in [start, end] into the online store."""
        begin, finish = as_timestamp(start, "start"), as_timestamp(end, "end")
        if begin >= finish:
            raise UsageError(f"materialize: start {begin} is not before end {finish}")
        names = self._load(views, progress, lambda s, v: s.materialize(begin, finish, [v]))
        return f"materialized {', '.join(names)} from {begin} to {finish}"

    def materialize_incremental(
        self,
        end: datetime | str,
        views: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Load feature rows since each view's last materialization up to ``end``."""
        finish = as_timestamp(end, "end")
        names = self._load(views, progress, lambda s, v: s.materialize_incremental(finish, [v]))
        return f"materialized {', '.join(names)} up to {finish}"

    def _load(self, views: Sequence[str] | None, progress: Any, load: Any) -> builtins.list[str]:
        """``load(store, view)`` for each view (none given: those Feast keeps online), one at
        a time as Feast does, so ``progress`` counts views."""
        store = self.store
        self._known_views(store, views)
        names = list(views or [v.name for v in store.list_feature_views() if v.online])
        sqlite_timestamps()
        done = f"materialized {', '.join(names)}"
        each(self.lab.root, "materialize", names, "views", progress, lambda v: load(store, v), done)
        return names

    def online(self, entity_rows: Any, features: str | Sequence[str]) -> Any:
        """Latest materialized values for ``entity_rows`` (dicts of join keys, or a frame)."""
        pd = require("pandas")
        store = self.store
        resolved = self._refs(store, features)
        if isinstance(entity_rows, pd.DataFrame):
            rows = entity_rows.to_dict("records")
        elif isinstance(entity_rows, dict):
            rows = [entity_rows]
        else:
            rows = list(entity_rows)
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise UsageError("entity rows must be a non-empty list of dicts like {'card_id': 1}")
        needed = {c.name for v in resolved.views for c in v.entity_columns}
        missing = needed - set(rows[0])
        if missing:
            raise UsageError(f"entity rows lack join key(s) {', '.join(sorted(missing))}")
        target: Any = self._service_object(store, resolved.service) or resolved.refs
        sqlite_timestamps()
        try:
            return store.get_online_features(features=target, entity_rows=rows).to_df()
        except Exception as exc:
            raise BackendError(f"online features failed: {first_line(exc)}") from None

    def _view_names(self, store: Any) -> builtins.list[str]:
        return [v.name for v in store.list_feature_views(allow_cache=True)]

    def _known_views(self, store: Any, views: Iterable[str] | None) -> None:
        known: set[str] = set(self._view_names(store))
        for name in views or ():
            if name not in known:
                raise NotFoundError(f"unknown feature view '{name}'; known: {names_text(known)}")
