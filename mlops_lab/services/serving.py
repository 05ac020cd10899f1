"""`lab.serving`: endpoints that serve registered model versions, with canary, promote and
rollback as KServe users know them.

- the first deploy to an endpoint serves the version to 100% of requests (``stable``);
- a deploy onto a live endpoint adds the version as ``canary`` at the given weight;
- ``promote`` makes the canary stable and moves the model's ``champion`` alias (the previous
  stable is kept for rollback); ``rollback`` drops a canary, or returns all traffic to the
  previous stable, in one step.

Every change is a numbered revision (who, when, versions, weights, gate verdict, forced)
kept in ``.mlops/serving/endpoints/<endpoint>.json`` and tagged on the model versions
(``mlops.deploy.revision``). Changes to one endpoint are serialised by a file lock, and a
change that is already in place makes no new revision. A revision is recorded only once the
endpoint answers with it: a model that fails to load leaves the previous revision serving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage, redact
from mlops_lab.errors import (
    BackendError,
    ConflictError,
    LabError,
    NotFoundError,
    UnreachableError,
    UsageError,
)
from mlops_lab.services import _drift_watch, endpoint_backend, endpoint_http
from mlops_lab.services.endpoint_state import (
    EndpointStatus,
    EndpointStore,
    Revision,
    VariantStats,
    age_s,
    check_endpoint,
    current_revision,
    endpoint_name_for,
    new_revision,
    revision_from,
    same_version,
    version_ref,
)
from mlops_lab.services.rollout import (
    RolloutStopped,
    drift_reason,
    failed_check,
    parse_duration,
    parse_moment,
    parse_steps,
    parse_weight,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlops_lab.backends.serving import ServingBackend
    from mlops_lab.backends.serving.app_spec import ServeApp
    from mlops_lab.lab import Lab
    from mlops_lab.services.drift import CanaryDrift

VERDICT_TAG = "mlops.validation.verdict"
SUMMARY_TAG = "mlops.validation.summary"
FORCED_TAG = "mlops.deploy.forced"
CHAMPION = "champion"
# A promote or rollback repeated within this many seconds is the same click, not a new change.
REPEAT_WINDOW_S = 5.0
EFFECT_TIMEOUT_S = 120.0
LOG_COLUMNS = [
    "request_id", "endpoint", "model", "version", "variant", "time", "latency_ms", "status",
    "prediction",
]  # fmt: skip


class ServingService:
    """Deploy registered model versions to endpoints and change their traffic."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._backends: dict[str, ServingBackend] = {}
        self._urls: dict[str, str] = {}  # endpoint -> URL, for predict's repeated calls

    # --- where things are ------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.lab.config.state_dir / "serving"

    @property
    def store(self) -> EndpointStore:
        return EndpointStore(self.state_dir / "endpoints")

    def log_dir(self, endpoint: str) -> Path:
        return self.state_dir / "predictions" / endpoint

    def backend(self, on: str | None = None) -> ServingBackend:
        from mlops_lab.backends import serving

        name = serving.backend_name(on or self.lab.config.serving.backend)
        if name not in self._backends:
            self._backends[name] = serving.make(self.lab.config, name)
        return self._backends[name]

    def metrics_url(self) -> str | None:
        """The Prometheus scrape URL of the head that serves the endpoints."""
        backend = self.backend()
        finder = getattr(backend, "metrics_url", None)
        return finder() if finder is not None else None

    # --- changes -----------------------------------------------------------------------------

    def deploy(
        self,
        model_ref: str,
        endpoint: str | None = None,
        canary: int = 10,
        force: bool = False,
        on: str | None = None,
        steps: Sequence[int] | str | None = None,
        interval: str | float | None = None,
        max_error_rate: float | None = None,
        max_p99_ms: float | None = None,
        sticky_key: str | None = None,
        dry_run: bool = False,
    ) -> Revision:
        """Serve ``model_ref`` (``fraud@challenger``, ``fraud/3``) on ``endpoint`` (default:
        the model's name): 100% on a new endpoint, else as a canary at ``canary`` percent.

        With ``steps`` (e.g. ``[10, 50, 100]``) the canary moves through those weights every
        ``interval`` and is promoted at 100; a step whose canary error rate exceeds
        ``max_error_rate`` or whose p99 exceeds ``max_p99_ms`` rolls back and raises
        :class:`RolloutStopped` saying why. ``dry_run``: print the YAML, change nothing."""
        weight = parse_weight(canary)
        plan = parse_steps(steps)
        wait_s = parse_duration(interval, "interval") if interval is not None else 60.0
        if plan is None and interval is not None:
            raise UsageError("--interval needs --steps (e.g. --steps 10,50,100 --interval 60s)")
        if max_error_rate is not None and not 0 <= float(max_error_rate) <= 1:
            raise UsageError(f"max error rate {max_error_rate} must be between 0 and 1 (0.01 = 1%)")
        if max_p99_ms is not None and not float(max_p99_ms) > 0:
            raise UsageError(f"max p99 {max_p99_ms} ms must be a positive number of milliseconds")
        info = self.lab.models.get(model_ref)
        name = endpoint if endpoint is not None else endpoint_name_for(info.name)
        check_endpoint(name)
        verdict = info.lineage.get(VERDICT_TAG, "none")
        if verdict == "failed" and not force:
            summary = info.lineage.get(SUMMARY_TAG, "")
            raise ConflictError(
                f"{info.ref} failed validation{f' ({summary})' if summary else ''}; fix it and "
                "validate again, or deploy with --force (recorded on the version)"
            )
        if sticky_key is not None and (not isinstance(sticky_key, str) or not sticky_key.strip()):
            raise UsageError("sticky key must be the name of a request column, e.g. card_id")
        spec = {"model": info.name, "version": str(info.version), "uri": info.uri}
        if plan is not None:
            weight = plan[0]
        with self.store.locked(name):
            state = self.store.read(name)
            current = current_revision(state)
            live_on = state.get("backend") if current and current.live else None
            backend = endpoint_backend.choose(self.backend, name, live_on, on)
            rerouted = sticky_key is not None and state.get("sticky_key") != sticky_key
            if sticky_key is not None:
                state["sticky_key"] = sticky_key
            gate = dict(current.gate) if current and current.live else {}
            gate[info.ref] = verdict
            if current is None or not current.live:
                wanted = new_revision(name, current, "deploy", spec, None, 0, gate, force)
            elif same_version(current.stable, spec) or (
                same_version(current.canary, spec) and current.canary_weight == weight
            ):
                if not rerouted:
                    if dry_run:
                        endpoint_backend.show(backend, self.app(state, current))
                    return current  # already serving it: nothing to change
                wanted = new_revision(
                    name, current, "sticky-key", current.stable, current.canary,
                    current.canary_weight, current.gate, False, previous=current.previous,
                    note=f"sticky routing by {sticky_key}",
                )  # fmt: skip
            else:
                wanted = new_revision(
                    name, current, "canary", current.stable, spec, weight, gate, force,
                    previous=current.previous,
                )  # fmt: skip
            if dry_run:
                wanted = dataclasses.replace(wanted, number=(current.number if current else 0) + 1)
                endpoint_backend.show(backend, self.app(state, wanted))
                return wanted
            revision = self._apply(backend, state, wanted)
            if force and verdict == "failed":
                self._tag(info.name, str(info.version), FORCED_TAG, "true")
        if plan is not None and revision.action == "canary":
            return self._rollout(name, spec, plan, wait_s, max_error_rate, max_p99_ms)
        return revision

    def set_weight(self, endpoint: str, weight: int) -> Revision:
        """Send ``weight`` percent of requests to the canary."""
        weight = parse_weight(weight)
        with self.store.locked(endpoint):
            state = self.store.read(endpoint)
            current = self._live(endpoint, state)
            if current.canary is None:
                raise UsageError(
                    f"endpoint '{endpoint}' has no canary; deploy one first "
                    f"(%mlops deploy MODEL@ALIAS --endpoint {endpoint} --canary {weight})"
                )
            if current.canary_weight == weight:
                return current
            wanted = new_revision(
                endpoint, current, "set-weight", current.stable, current.canary, weight,
                current.gate, False, previous=current.previous,
            )  # fmt: skip
            return self._apply(self.backend(state.get("backend")), state, wanted)

    def promote(self, endpoint: str, note: str = "") -> Revision:
        """Make the canary stable (100%) and move ``champion`` to it; the previous stable is
        kept for rollback."""
        with self.store.locked(endpoint):
            state = self.store.read(endpoint)
            current = self._live(endpoint, state)
            if current.canary is None:
                if current.action == "promote" and age_s(current) < REPEAT_WINDOW_S:
                    return current  # the same click twice
                raise UsageError(
                    f"endpoint '{endpoint}' has no canary to promote; deploy one first "
                    f"(%mlops deploy MODEL@ALIAS --endpoint {endpoint})"
                )
            assert current.stable is not None
            wanted = new_revision(
                endpoint, current, "promote", current.canary, None, 0, current.gate, False,
                previous=[*current.previous, current.stable][-10:], note=note,
            )  # fmt: skip
            revision = self._apply(self.backend(state.get("backend")), state, wanted)
        self._move_champion(current.canary)
        return revision

    def rollback(self, endpoint: str, note: str = "") -> Revision:
        """All traffic back to the previous stable in one step: drop the canary if there is
        one, else return to the stable before the last promote (and move ``champion`` back)."""
        with self.store.locked(endpoint):
            state = self.store.read(endpoint)
            current = self._live(endpoint, state)
            if current.canary is not None:
                wanted = new_revision(
                    endpoint, current, "rollback", current.stable, None, 0, current.gate,
                    False, previous=current.previous,
                    note=note or f"canary {version_ref(current.canary)} removed",
                )  # fmt: skip
                return self._apply(self.backend(state.get("backend")), state, wanted)
            if current.action == "rollback" and age_s(current) < REPEAT_WINDOW_S:
                return current
            if not current.previous:
                raise UsageError(
                    f"endpoint '{endpoint}' has no previous version to roll back to; "
                    "deploy the version you want instead"
                )
            back = current.previous[-1]
            wanted = new_revision(
                endpoint, current, "rollback", back, None, 0, current.gate, False,
                previous=current.previous[:-1],
                note=note or f"back from {version_ref(current.stable)}",
            )  # fmt: skip
            revision = self._apply(self.backend(state.get("backend")), state, wanted)
        self._move_champion(back)
        return revision

    def undeploy(self, endpoint: str) -> Revision:
        """Stop serving ``endpoint``; its revisions and prediction log are kept."""
        with self.store.locked(endpoint):
            state = self.store.read(endpoint)
            current = current_revision(state)
            if current is None:
                raise NotFoundError(f"no endpoint named '{endpoint}'; see %mlops endpoints")
            backend = self.backend(state.get("backend"))
            removed = backend.delete(endpoint)
            self._urls.pop(endpoint, None)
            if not current.live and not removed:
                return current
            wanted = new_revision(endpoint, current, "undeploy", None, None, 0, {}, False)
            revision = dataclasses.replace(wanted, number=current.number + 1)
            self.store.record(state, revision)
            return revision

    def canary_drift(self, endpoint: str, window: str = "1h") -> CanaryDrift:
        """The canary's input and prediction drift over the last ``window`` (see
        ``lab.drift.for_canary``); under ``[serving] rollback_on_drift`` a canary whose share
        of drifted input columns reaches it is rolled back, the revision saying why, and
        between looks a check on the Ray head does the same (started here if it is not
        running, e.g. after the policy was switched on)."""
        limit = self.lab.config.serving.rollback_on_drift
        drift = _drift_watch.check(self.lab, endpoint, window, limit)
        if limit and drift.rolled_back is None:
            _drift_watch.watch(self.lab, endpoint)
        return drift

    # --- reading -------------------------------------------------------------------------------

    def revisions(self, endpoint: str) -> list[Revision]:
        state = self.store.read(endpoint)
        if not state.get("revisions"):
            raise NotFoundError(f"no endpoint named '{endpoint}'; see %mlops endpoints")
        return [revision_from(r) for r in state["revisions"]]

    def endpoints(self) -> list[EndpointStatus]:
        """Every endpoint of this project with its state and live figures."""
        out = [self.status(name) for name in self.store.names()]
        return [s for s in out if s.state != "removed"]

    def status(self, endpoint: str, window_s: float = 10.0) -> EndpointStatus:
        state = self.store.read(endpoint)
        current = current_revision(state)
        if current is None:
            raise NotFoundError(f"no endpoint named '{endpoint}'; see %mlops endpoints")
        if not current.live:
            return EndpointStatus(endpoint, "removed", "", current)
        backend = self.backend(state.get("backend"))
        try:
            described = backend.describe(endpoint)
        except UnreachableError as exc:
            return EndpointStatus(endpoint, "down", "", current, detail=str(exc))
        if described is None:
            return EndpointStatus(
                endpoint, "stopped", "", current,
                detail=endpoint_backend.missing(backend, endpoint),
            )  # fmt: skip
        url = str(described.get("url") or "")
        stats: list[VariantStats] = []
        detail = endpoint_backend.detail(described, current.number)
        answering = False
        try:
            live = endpoint_http.request_json("GET", f"{url}/-/status?window={window_s}", timeout=5)
            answering = live.get("revision") is not None
            stats = [
                VariantStats(
                    s["model"],
                    s["version"],
                    s["variant"],
                    s["requests"],
                    s["rate_per_s"],
                    s["error_rate"],
                    s["p50_ms"],
                    s["p99_ms"],
                )
                for s in live.get("stats", [])
            ]
        except (LabError, KeyError, TypeError):
            pass
        serving = str(described.get("status", "")).lower()
        if serving == "deploying" and answering:
            # Serve reports an in-place change (user_config) as DEPLOYING until its controller
            # has seen every replica reconfigured; the replica answers through the ingress
            # meanwhile, so the endpoint is serving.
            serving = "running"
        return EndpointStatus(
            endpoint, "serving" if serving == "running" else serving, url, current, stats, detail
        )

    def url(self, endpoint: str) -> str:
        status = self.status(endpoint)
        if status.state != "serving":
            raise UnreachableError(
                f"endpoint '{endpoint}' is {status.state}"
                + (f" ({status.detail})" if status.detail else "")
            )
        return status.url

    def predict(self, endpoint: str, data: Any) -> dict[str, Any]:
        """Score ``data`` (a DataFrame, a list of row dicts, one row dict, or a ready scoring
        payload) on ``endpoint``; returns the response: predictions, model, version, variant."""
        payload = endpoint_http.scoring_payload(data)
        url = self._urls.get(endpoint) or self.url(endpoint)
        try:
            answer = endpoint_http.request_json("POST", f"{url}/invocations", payload, timeout=60)
        except (UnreachableError, NotFoundError):
            self._urls.pop(endpoint, None)
            url = self.url(endpoint)  # moved, or down: one line saying which
            answer = endpoint_http.request_json("POST", f"{url}/invocations", payload, timeout=60)
        self._urls[endpoint] = url
        if not isinstance(answer, dict):
            raise BackendError(f"{url}/invocations answered {answer!r}, not a JSON object")
        return answer

    def predictions(
        self,
        endpoint: str,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        version: str | int | None = None,
        variant: str | None = None,
    ) -> pd.DataFrame:
        """The prediction log of ``endpoint`` in a time window (``since="1h"`` or a datetime):
        one row per scored input row, with ``input.<feature>`` columns."""
        import pandas as pd

        folder = self.log_dir(endpoint)
        if not folder.is_dir() and not (self.store.folder / f"{endpoint}.json").exists():
            raise NotFoundError(f"no endpoint named '{endpoint}'; see %mlops endpoints")
        if variant is not None and variant not in ("stable", "canary"):
            raise UsageError(f"variant '{variant}' must be stable or canary")
        start = parse_moment(since, "since")
        end = parse_moment(until, "until")
        self._flush(endpoint)
        frames = []
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
            if start is not None and _written_at(path) < start - timedelta(minutes=1):
                continue
            with contextlib.suppress(OSError, ValueError):
                frames.append(pd.read_parquet(path))
        if not frames:
            return pd.DataFrame({c: [] for c in LOG_COLUMNS})
        table = pd.concat(frames, ignore_index=True)
        mask = pd.Series(True, index=table.index)
        if start is not None:
            mask &= table["time"] >= pd.Timestamp(start)
        if end is not None:
            mask &= table["time"] < pd.Timestamp(end)
        if version is not None:
            mask &= table["version"] == str(version)
        if variant is not None:
            mask &= table["variant"] == variant
        return table[mask].sort_values("time").reset_index(drop=True)

    # --- internals -------------------------------------------------------------------------------

    def _flush(self, endpoint: str) -> None:
        """Ask a running endpoint to write its buffered log now (best effort)."""
        with contextlib.suppress(LabError, OSError, ValueError):
            status = self.status(endpoint)
            if status.state == "serving":
                endpoint_http.request_json("POST", f"{status.url}/-/flush", {}, timeout=10)

    def app(self, state: dict[str, Any], revision: Revision) -> ServeApp:
        from mlops_lab.backends.serving.app_spec import IMPORT_PATH, ServeApp

        config = self.lab.config.serving
        local = state.get("backend", config.backend) in ("ray-serve", "local", "ray")
        log = str(self.log_dir(revision.endpoint)) if config.prediction_log and local else None
        return ServeApp(
            import_path=IMPORT_PATH,
            route_prefix=f"/{revision.endpoint}",
            user_config={
                "endpoint": revision.endpoint,
                "revision": revision.number,
                "stable": revision.stable,
                "canary": revision.canary,
                "canary_weight": revision.canary_weight,
                "sticky_key": state.get("sticky_key"),
                "max_batch_size": config.max_batch_size,
                "batch_wait_timeout_s": config.batch_wait_timeout_s,
                "tracking_uri": redact.public_url(self.lab.tracking.uri),
                "prediction_log": log,
            },
            num_replicas=config.replicas,
            ray_actor_options={"num_cpus": 0},
        )

    def _apply(self, backend: ServingBackend, state: dict[str, Any], wanted: Revision) -> Revision:
        """Put ``wanted`` on the backend; record it once it serves. On failure the endpoint is
        left as it was (the previous revision re-applied, or a new endpoint removed)."""
        current = current_revision(state)
        revision = dataclasses.replace(wanted, number=(current.number if current else 0) + 1)
        state["backend"] = backend.name
        endpoint_backend.put(backend, self.app(state, revision), bool(current and current.live))
        waiter = getattr(backend, "wait_revision", None)
        if waiter is not None:
            try:
                waiter(revision.endpoint, revision.number, EFFECT_TIMEOUT_S)
            except LabError as exc:
                self._restore(backend, state, current, revision.endpoint)
                raise type(exc)(
                    f"{exc}; "
                    + (
                        f"the endpoint keeps serving revision {current.number}"
                        if current and current.live
                        else "nothing was deployed"
                    )
                ) from None
        self.store.record(state, revision)
        tag = f"{revision.endpoint}/r{revision.number}"
        for spec in (revision.stable, revision.canary):
            if spec is not None:
                self._tag(spec["model"], spec["version"], lineage.DEPLOY_REVISION, tag)
        if revision.canary is not None and self.lab.config.serving.rollback_on_drift:
            _drift_watch.watch(self.lab, revision.endpoint)
        return revision

    def _restore(
        self,
        backend: ServingBackend,
        state: dict[str, Any],
        current: Revision | None,
        endpoint: str,
    ) -> None:
        with contextlib.suppress(LabError):
            if current is not None and current.live:
                backend.apply(endpoint, self.app(state, current))
            else:
                backend.delete(endpoint)

    def _rollout(
        self,
        endpoint: str,
        spec: dict[str, str],
        plan: list[int],
        wait_s: float,
        max_error_rate: float | None,
        max_p99_ms: float | None,
    ) -> Revision:
        revision = self.revisions(endpoint)[-1]
        for weight in plan[1:]:
            time.sleep(wait_s)
            status = self.status(endpoint, window_s=wait_s)
            current = status.revision
            if current is None or not same_version(current.canary, spec):
                raise ConflictError(
                    f"the rollout of {version_ref(spec)} on '{endpoint}' stopped: the endpoint was "
                    "changed by someone else meanwhile; see %mlops endpoints"
                )
            reason = failed_check(status, spec, max_error_rate, max_p99_ms)
            if not reason and self.lab.config.serving.rollback_on_drift:
                with contextlib.suppress(LabError):  # no traffic in this step: nothing to judge
                    drift = self.lab.drift.for_canary(endpoint, f"{max(int(wait_s), 1)}s")
                    reason = drift_reason(drift, self.lab.config.serving.rollback_on_drift)
            if reason:
                back = self.rollback(endpoint, note=f"rollout stopped: {reason}")
                raise RolloutStopped(
                    f"the rollout of {version_ref(spec)} on '{endpoint}' stopped at "
                    f"{current.canary_weight}%: {reason}; all traffic is back on "
                    f"{version_ref(back.stable)} (revision {back.number})"
                )
            if weight >= 100:
                return self.promote(endpoint, note=f"rollout {','.join(map(str, plan))} passed")
            revision = self.set_weight(endpoint, weight)
        return revision

    def _move_champion(self, spec: dict[str, str] | None) -> None:
        if spec is not None:
            self.lab.models.set_alias(spec["model"], CHAMPION, int(spec["version"]))

    def _tag(self, model: str, version: str, key: str, value: str) -> None:
        with contextlib.suppress(Exception):
            self.lab.tracking.client.set_model_version_tag(model, version, key, value)

    def _live(self, endpoint: str, state: dict[str, Any]) -> Revision:
        current = current_revision(state)
        if current is None or not current.live:
            raise NotFoundError(f"no endpoint named '{endpoint}' is deployed; see %mlops endpoints")
        return current


# --- helpers of this module ------------------------------------------------------------------------------


def _written_at(path: Path) -> datetime:
    try:
        return datetime.strptime(path.name[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
