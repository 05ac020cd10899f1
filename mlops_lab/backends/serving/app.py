"""The Ray Serve application behind every endpoint (runs inside Serve replicas).

One deployment whose replicas hold the stable and the canary model version, so the split
costs no extra hop. Everything that changes (versions, weight, sticky key, batching) comes
in ``user_config`` and is applied by ``reconfigure`` without restarting the replica: a new
version is loaded beside the old ones and swapped in only once it loaded, so a model that
fails to load leaves the previous revision serving (the failure is reported on
``GET <prefix>/-/status``, where the lab waits for each revision to take effect).

The endpoint speaks MLflow's scoring protocol: ``POST <prefix>/invocations`` with a JSON
body holding one of ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``
(or a CSV body), answering ``{"predictions": [...]}`` like ``mlflow models serve``, plus
the ``model``, ``version`` and ``variant`` that answered. Requests for the same version are
batched (``@serve.batch``, one queue per version). Each answer is counted in Prometheus
metrics and appended to the prediction log, a bounded buffer that a background thread
flushes to Parquet (a full buffer drops rows and counts them).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ray import serve
from ray.serve import metrics
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mlops_lab.backends.serving.app_spec import DEPLOYMENT_NAME
from mlops_lab.backends.serving.payload import (
    PayloadError,
    as_frame,
    first_line,
    first_value,
    is_input_error,
    join_frames,
    parse_payload,
    predictions_to_list,
)
from mlops_lab.backends.serving.prediction_log import PredictionLog

LATENCY_BUCKETS = [
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
]  # fmt: skip
STATS_WINDOW = 20_000  # latest answers per variant kept for the live view and rollout checks


# --- one loaded model version ---------------------------------------------------------------


class LoadedVersion:
    """A model version in memory with its own batching queue."""

    def __init__(self, spec: dict[str, Any], model: Any) -> None:
        self.spec = spec
        self.model = model
        self.columns: list[str] | None = None
        self.required: list[str] = []
        schema = None
        with contextlib.suppress(Exception):
            schema = model.metadata.get_input_schema()
        # A tensor signature (e.g. a torch model logged with a tensor example) takes one array
        # of its dtype, as MLflow's scoring server builds it from the JSON rows.
        self.tensor_dtype: Any = None
        if schema is not None and schema.is_tensor_spec() and len(schema.inputs) == 1:
            self.tensor_dtype = schema.numpy_types()[0]
        if schema is not None and schema.has_input_names():
            self.columns = list(schema.input_names())
            self.required = [
                c.name for c in schema.inputs if c.name and not getattr(c, "optional", False)
            ]
        self.batch_params: tuple[int, float] | None = None
        self.predict: Any = None

    def set_batching(self, max_batch_size: int, wait_s: float) -> None:
        if self.batch_params == (max_batch_size, wait_s):
            return
        self.batch_params = (max_batch_size, wait_s)

        @serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=wait_s)
        async def score_batch(inputs: list[Any]) -> list[Any]:
            return self._predict_many(inputs)

        self.predict = score_batch

    def check(self, inputs: Any) -> None:
        missing = [c for c in self.required if c not in inputs.columns]
        if missing:
            raise PayloadError(
                f"missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(c) for c in missing)}; the model takes {self.columns}"
            )

    def _predict(self, frame: Any) -> list[Any]:
        data = frame if self.tensor_dtype is None else frame.to_numpy(dtype=self.tensor_dtype)
        return predictions_to_list(self.model.predict(data))

    def _predict_many(self, inputs: list[Any]) -> list[Any]:
        """One predict call for the whole batch; if it fails, each request alone, so one bad
        request does not fail the others."""
        results: list[Any] = []
        if len(inputs) > 1:
            try:
                joined = join_frames(inputs)
                out = self._predict(joined)
                if len(out) == len(joined):
                    start = 0
                    for one in inputs:
                        results.append(out[start : start + len(one)])
                        start += len(one)
                    return results
            except Exception:
                results = []
        for one in inputs:
            try:
                results.append(self._predict(as_frame(one)))
            except Exception as exc:
                results.append(exc)
        return results


@dataclass(frozen=True)
class Route:
    """What serves a request now: swapped as one object, so a request sees one revision."""

    revision: int
    stable: LoadedVersion | None
    canary: LoadedVersion | None
    canary_weight: int
    sticky_key: str | None


# --- live statistics ----------------------------------------------------------------------


class Stats:
    """The latest answers per (version, variant): request rate, errors and latency
    percentiles over a window, read by the lab's live view and staged-rollout checks."""

    def __init__(self) -> None:
        self.recent: dict[tuple[str, str, str], collections.deque[tuple[float, float, bool]]] = {}
        self.totals: dict[tuple[str, str, str], list[int]] = {}

    def add(self, key: tuple[str, str, str], latency_s: float, ok: bool) -> None:
        queue = self.recent.get(key)
        if queue is None:
            queue = self.recent[key] = collections.deque(maxlen=STATS_WINDOW)
            self.totals[key] = [0, 0]
        queue.append((time.time(), latency_s, ok))
        self.totals[key][0 if ok else 1] += 1

    def summary(self, window_s: float) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        for (model, version, variant), queue in list(self.recent.items()):
            seen = [item for item in list(queue) if now - item[0] <= window_s]
            latencies = sorted(item[1] for item in seen)
            errors = sum(1 for item in seen if not item[2])
            out.append(
                {
                    "model": model,
                    "version": version,
                    "variant": variant,
                    "requests": len(seen),
                    "errors": errors,
                    "rate_per_s": len(seen) / window_s,
                    "error_rate": errors / len(seen) if seen else 0.0,
                    "p50_ms": _percentile(latencies, 0.50) * 1000,
                    "p99_ms": _percentile(latencies, 0.99) * 1000,
                    "total_ok": self.totals[(model, version, variant)][0],
                    "total_errors": self.totals[(model, version, variant)][1],
                }
            )
        return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


# --- the deployment -------------------------------------------------------------------------


def _load_model(spec: dict[str, Any], tracking_uri: str | None) -> Any:
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    return mlflow.pyfunc.load_model(spec["uri"])


def _key(spec: dict[str, Any] | None) -> str | None:
    return f"{spec['model']}/{spec['version']}" if spec else None


@serve.deployment(name=DEPLOYMENT_NAME, max_ongoing_requests=256)
class Endpoint:
    def __init__(self) -> None:
        self.endpoint = ""
        self.config: dict[str, Any] = {}
        self.loaded: dict[str, LoadedVersion] = {}
        self.route: Route | None = None
        self.failure: dict[str, Any] | None = None
        self.stats = Stats()
        labels: Any = ("endpoint", "model", "version", "variant", "status")
        self.requests = metrics.Counter(
            "mlops_predictions_total",
            description="Predictions answered, by endpoint, model version, variant and status.",
            tag_keys=labels,
        )
        self.latency = metrics.Histogram(
            "mlops_prediction_latency_seconds",
            description="Time from request to answer inside the replica, in seconds.",
            boundaries=LATENCY_BUCKETS,
            tag_keys=labels[:4],
        )
        self.dropped = metrics.Counter(
            "mlops_prediction_log_dropped_total",
            description="Prediction log rows dropped because the buffer was full.",
            tag_keys=("endpoint",),
        )
        self.log = PredictionLog(
            lambda rows: self.dropped.inc(rows, tags={"endpoint": self.endpoint})
        )

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """Load what the new revision needs beside what is loaded, then swap the route.
        A load failure keeps the current route and is reported on ``-/status``."""
        revision = int(config.get("revision", 0))
        wanted = [s for s in (config.get("stable"), config.get("canary")) if s]
        fresh: dict[str, LoadedVersion] = {}
        try:
            for spec in wanted:
                key = _key(spec)
                assert key is not None
                if key not in self.loaded:
                    model = await asyncio.to_thread(_load_model, spec, config.get("tracking_uri"))
                    fresh[key] = LoadedVersion(spec, model)
        except Exception as exc:
            self.failure = {
                "revision": revision,
                "error": f"{_key(spec)} failed to load: {first_line(exc)}",
            }
            return
        self.loaded.update(fresh)
        self.endpoint = str(config.get("endpoint", ""))
        self.config = config
        batch = int(config.get("max_batch_size") or 32)
        wait = float(config.get("batch_wait_timeout_s") or 0.0)
        for version in self.loaded.values():
            version.set_batching(batch, wait)
        stable = self.loaded.get(_key(config.get("stable")) or "")
        canary = self.loaded.get(_key(config.get("canary")) or "")
        self.route = Route(
            revision=revision,
            stable=stable,
            canary=canary,
            canary_weight=int(config.get("canary_weight") or 0) if canary else 0,
            sticky_key=config.get("sticky_key") or None,
        )
        keep = {_key(s) for s in wanted}
        self.loaded = {k: v for k, v in self.loaded.items() if k in keep}
        self.failure = None
        self.log.configure(config.get("prediction_log") or None)

    def __del__(self) -> None:
        log = getattr(self, "log", None)
        if log is not None:
            log.close()

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        if request.method == "GET":
            if path.endswith("/-/status"):
                window = float(request.query_params.get("window", "10") or 10)
                return JSONResponse(self.status(window))
            if path.endswith(("/ping", "/health")):
                ready = self.route is not None and self.route.stable is not None
                return Response("\n" if ready else "no model loaded\n", 200 if ready else 503)
            if path.endswith("/-/revision"):  # polled while a change is applied: cheap
                revision = self.route.revision if self.route else None
                return JSONResponse({"revision": revision, "failure": self.failure})
            if path.endswith("/version"):
                return JSONResponse(self.route_summary())
        if request.method == "POST" and path.endswith("/-/flush"):
            await asyncio.to_thread(self.log.flush)
            return JSONResponse({"written_rows": self.log.written})
        if request.method != "POST" or not path.endswith("/invocations"):
            return _error(404, "ENDPOINT_NOT_FOUND", "use POST <endpoint>/invocations")
        return await self.invoke(request)

    async def invoke(self, request: Request) -> Response:
        started = time.perf_counter()
        route = self.route
        if route is None or route.stable is None:
            return _error(503, "NOT_READY", "the endpoint has no model loaded yet; retry shortly")
        body = await request.body()
        content_type = request.headers.get("content-type", "application/json").lower()
        try:
            frame = parse_payload(body, content_type, route.stable.columns)
        except PayloadError as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        variant, version = self.choose(route, frame)
        spec = version.spec
        try:
            version.check(frame)
            result = await version.predict(frame)
        except PayloadError as exc:
            result = exc
        elapsed = time.perf_counter() - started
        ok = not isinstance(result, Exception)
        tags = {
            "endpoint": self.endpoint,
            "model": spec["model"],
            "version": str(spec["version"]),
            "variant": variant,
        }
        self.requests.inc(tags={**tags, "status": "ok" if ok else "error"})
        self.latency.observe(elapsed, tags=tags)
        self.stats.add((spec["model"], str(spec["version"]), variant), elapsed, ok)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        self.log.append(
            (
                request_id,
                self.endpoint,
                spec["model"],
                str(spec["version"]),
                variant,
                datetime.now(UTC),
                elapsed * 1000,
                "ok" if ok else "error",
                frame,
                None if not ok else result,
            ),
            len(frame),
        )
        headers = {"x-request-id": request_id}
        if not ok:
            assert isinstance(result, Exception)
            if isinstance(result, PayloadError) or is_input_error(result):
                return _error(400, "BAD_REQUEST", first_line(result), headers)
            return _error(500, "INTERNAL_ERROR", first_line(result), headers)
        return JSONResponse(
            {
                "predictions": result,
                "model": spec["model"],
                "version": str(spec["version"]),
                "variant": variant,
            },
            headers=headers,
        )

    @staticmethod
    def choose(route: Route, frame: Any) -> tuple[str, LoadedVersion]:
        assert route.stable is not None
        if route.canary is None or route.canary_weight <= 0:
            return "stable", route.stable
        value = first_value(frame, route.sticky_key) if route.sticky_key else None
        if value is not None:
            draw = float(zlib.crc32(str(value).encode()) % 100)
        else:
            draw = random.random() * 100
        if draw < route.canary_weight:
            return "canary", route.canary
        return "stable", route.stable

    def route_summary(self) -> dict[str, Any]:
        route = self.route
        if route is None:
            return {"revision": None}
        return {
            "revision": route.revision,
            "stable": route.stable.spec if route.stable else None,
            "canary": route.canary.spec if route.canary else None,
            "canary_weight": route.canary_weight,
            "sticky_key": route.sticky_key,
        }

    def status(self, window_s: float) -> dict[str, Any]:
        return {
            **self.route_summary(),
            "failure": self.failure,
            "stats": self.stats.summary(max(window_s, 0.001)),
            "log": {
                "enabled": self.log.directory is not None,
                "buffered_rows": self.log.rows,
                "written_rows": self.log.written,
                "dropped_rows": self.log.dropped,
            },
        }


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Errors in the shape of MLflow's scoring server: error_code and message."""
    return JSONResponse({"error_code": code, "message": message}, status, headers=headers)


app = Endpoint.bind()  # type: ignore[attr-defined]
