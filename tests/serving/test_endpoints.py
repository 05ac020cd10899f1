"""Endpoints on the real Ray Serve of the session's head: canary, promote, rollback, the
scoring protocol, a model that fails to load, the gate, the prediction log and metrics."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest

from mlops_lab import lineage
from mlops_lab.errors import BackendError, ConflictError, NotFoundError, UsageError
from mlops_lab.lab import Lab
from mlops_lab.services.serving import RolloutStopped
from tests.serving.conftest import FEATURES, make_frame

pytestmark = pytest.mark.timeout(600)


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def one_row() -> dict[str, Any]:
    return {"dataframe_split": {"columns": FEATURES, "data": [[120.0, 300.0, 4.0]]}}


class Load:
    """Requests in a loop from a thread, counting answers by (version, variant) and failures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: Counter[tuple[str, str]] = Counter()
        self.failed: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = json.dumps(one_row()).encode()
        while not self._stop.is_set():
            try:
                status, answer = post(f"{self.url}/invocations", body)
            except Exception as exc:
                self.failed.append(repr(exc))
                continue
            if status != 200:
                self.failed.append((status, answer))
            else:
                self.seen[(answer["version"], answer["variant"])] += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)


def test_canary_promote_rollback(served: Lab) -> None:
    serving = served.serving
    first = serving.deploy("fraud@champion", endpoint="fraud-a")
    assert (first.number, first.action, first.stable["version"], first.canary) == (
        1, "deploy", "1", None,
    )  # fmt: skip
    answer = serving.predict("fraud-a", make_frame(2, 5))
    assert answer["model"] == "fraud" and answer["version"] == "1"
    assert answer["variant"] == "stable" and len(answer["predictions"]) == 2
    expected = served.models.load("fraud/1").predict(make_frame(2, 5)).tolist()
    assert answer["predictions"] == expected

    canary = serving.deploy("fraud@challenger", endpoint="fraud-a", canary=30)
    assert (canary.number, canary.action, canary.canary_weight) == (2, "canary", 30)
    assert serving.deploy("fraud@challenger", endpoint="fraud-a", canary=30).number == 2
    url = serving.url("fraud-a")
    counts: Counter[tuple[str, str]] = Counter()
    body = json.dumps(one_row()).encode()
    for _ in range(200):
        status, got = post(f"{url}/invocations", body)
        assert status == 200
        counts[(got["version"], got["variant"])] += 1
    assert set(counts) == {("1", "stable"), ("2", "canary")}
    assert 25 <= counts[("2", "canary")] <= 100, counts

    assert serving.set_weight("fraud-a", 100).number == 3
    for _ in range(20):
        assert post(f"{url}/invocations", body)[1]["variant"] == "canary"

    promoted = serving.promote("fraud-a")
    assert (promoted.action, promoted.stable["version"], promoted.canary) == ("promote", "2", None)
    assert promoted.previous[-1]["version"] == "1"
    assert serving.promote("fraud-a").number == promoted.number  # a second click: same change
    assert served.models.get("fraud@champion").version == 2
    tags = served.models.get("fraud/2").lineage
    assert tags[lineage.DEPLOY_REVISION] == f"fraud-a/r{promoted.number}"

    back = serving.rollback("fraud-a")
    assert (back.action, back.stable["version"]) == ("rollback", "1")
    assert served.models.get("fraud@champion").version == 1
    assert post(f"{url}/invocations", body)[1]["version"] == "1"
    assert [r.action for r in serving.revisions("fraud-a")] == [
        "deploy", "canary", "set-weight", "promote", "rollback",
    ]  # fmt: skip
    assert serving.rollback("fraud-a").number == back.number  # a second click: same change
    walked = served.lineage("fraud@champion")
    assert any(u["kind"] == "deployment" for u in walked.used_by), walked.used_by
    serving.undeploy("fraud-a")
    assert serving.status("fraud-a").state == "removed"


def test_scoring_protocol_and_malformed_payloads(served: Lab) -> None:
    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-b")
    url = serving.url("fraud-b") + "/invocations"
    frame = make_frame(3, 9)
    expected = served.models.load("fraud/1").predict(frame).tolist()
    records = frame.to_dict(orient="records")
    payloads = {
        "dataframe_split": {"columns": FEATURES, "data": frame.values.tolist()},
        "dataframe_records": records,
        "instances": records,
        "inputs": {c: frame[c].tolist() for c in FEATURES},
    }
    for key, value in payloads.items():
        status, answer = post(url, json.dumps({key: value}).encode())
        assert status == 200, (key, answer)
        assert answer["predictions"] == expected, key
        assert {"model", "version", "variant"} <= set(answer)
    status, answer = post(url, frame.to_csv(index=False).encode(), "text/csv")
    assert (status, answer["predictions"]) == (200, expected)

    bad = {
        b"{not json": "not valid JSON",
        json.dumps({"rows": []}).encode(): "exactly one of",
        json.dumps({"dataframe_split": {"columns": ["amount"], "data": [[1.0]]}}).encode(): (
            "missing columns 'spend_7d', 'txn_count_7d'"
        ),
        json.dumps(
            {"dataframe_split": {"columns": FEATURES, "data": [["lots", 1.0, 2.0]]}}
        ).encode(): "amount",
        json.dumps({"dataframe_split": {"columns": FEATURES, "data": [[1.0]]}}).encode(): ("row 0"),
    }
    for body, says in bad.items():
        status, answer = post(url, body)
        assert 400 <= status < 500, (body, answer)
        assert says in answer["message"], (body, answer)
    serving.undeploy("fraud-b")


def test_model_that_fails_to_load_leaves_old_version_serving(served: Lab) -> None:
    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-c")
    url = serving.url("fraud-c")
    with Load(url) as load:
        time.sleep(0.5)
        with pytest.raises(BackendError, match=r"fraud/3 failed to load.*keeps serving revision 1"):
            serving.deploy("fraud/3", endpoint="fraud-c")
        time.sleep(0.5)
    assert load.failed == []
    assert set(load.seen) == {("1", "stable")} and sum(load.seen.values()) > 10
    assert [r.number for r in serving.revisions("fraud-c")] == [1]
    described = serving.backend().describe("fraud-c")
    assert described is not None and described["user_config"]["revision"] == 1
    # a first deploy that fails leaves no endpoint behind
    with pytest.raises(BackendError, match="nothing was deployed"):
        serving.deploy("fraud/3", endpoint="fraud-d")
    assert serving.backend().describe("fraud-d") is None
    serving.undeploy("fraud-c")


def test_gate_refuses_failed_version_unless_forced(served: Lab) -> None:
    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-e")
    with pytest.raises(ConflictError, match=r"fraud/4 failed validation \(auc 0.61 < 0.80\)"):
        serving.deploy("fraud/4", endpoint="fraud-e")
    assert len(serving.revisions("fraud-e")) == 1
    forced = serving.deploy("fraud/4", endpoint="fraud-e", canary=5, force=True)
    assert forced.forced and forced.gate["fraud/4"] == "failed"
    assert served.models.get("fraud/4").lineage["mlops.deploy.forced"] == "true"
    serving.undeploy("fraud-e")


def test_bad_input_is_one_line_and_changes_nothing(served: Lab) -> None:
    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-f")
    before = (serving.state_dir / "endpoints" / "fraud-f.json").read_text()
    cases = [
        (lambda: serving.deploy("nope@champion", endpoint="fraud-f"), NotFoundError),
        (lambda: serving.deploy("fraud/99", endpoint="fraud-f"), NotFoundError),
        (lambda: serving.deploy("fraud/2", endpoint="fraud-f", canary=150), UsageError),
        (lambda: serving.deploy("fraud/2", endpoint="fraud-f", canary=-1), UsageError),
        (lambda: serving.deploy("fraud/2", endpoint="Bad Name"), UsageError),
        (lambda: serving.deploy("fraud/2", endpoint="fraud-f", steps="50,10"), UsageError),
        (lambda: serving.set_weight("fraud-f", 20), UsageError),
        (lambda: serving.promote("fraud-f"), UsageError),
        (lambda: serving.rollback("fraud-f"), UsageError),
        (lambda: serving.promote("no-such-endpoint"), NotFoundError),
        (lambda: serving.predict("no-such-endpoint", {"amount": 1}), NotFoundError),
        (lambda: serving.predict("fraud-f", {"amount": 1}), UsageError),
    ]
    for call, kind in cases:
        with pytest.raises(kind) as caught:
            call()
        assert "\n" not in str(caught.value) and str(caught.value)
    assert (serving.state_dir / "endpoints" / "fraud-f.json").read_text() == before
    serving.undeploy("fraud-f")


def test_same_change_twice_and_concurrent_changes_make_one_revision(served: Lab) -> None:
    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-g")
    results: list[Any] = []

    def click() -> None:
        results.append(serving.deploy("fraud/2", endpoint="fraud-g", canary=20))

    threads = [threading.Thread(target=click) for _ in range(2)]
    threads[0].start()
    time.sleep(0.1)
    threads[1].start()
    for t in threads:
        t.join()
    assert [r.number for r in results] == [2, 2]
    promotes: list[Any] = []
    clicks = [threading.Thread(target=lambda: promotes.append(serving.promote("fraud-g")))]
    clicks.append(threading.Thread(target=lambda: promotes.append(serving.promote("fraud-g"))))
    clicks[0].start()
    time.sleep(0.1)
    clicks[1].start()
    for t in clicks:
        t.join()
    assert [r.number for r in promotes] == [3, 3]
    assert len(serving.revisions("fraud-g")) == 3
    served.models.set_alias("fraud", "champion", 1)
    serving.undeploy("fraud-g")


def test_staged_rollout_promotes_or_rolls_back(served: Lab) -> None:
    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-h")
    with Load(serving.url("fraud-h")) as load:
        done = serving.deploy(
            "fraud/2", endpoint="fraud-h", steps="30,100", interval="1.5s", max_error_rate=0.01
        )
        assert (done.action, done.stable["version"]) == ("promote", "2")
        with pytest.raises(RolloutStopped, match=r"canary p99 .* > 0.001 ms.*back on fraud/2"):
            serving.deploy(
                "fraud/1", endpoint="fraud-h", steps="50,100", interval="1s", max_p99_ms=0.001
            )
    assert load.failed == []
    last = serving.revisions("fraud-h")[-1]
    assert last.action == "rollback" and "rollout stopped" in last.note
    served.models.set_alias("fraud", "champion", 1)
    serving.undeploy("fraud-h")


def test_prediction_log_and_prometheus_metrics(served: Lab) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-i")
    serving.deploy("fraud/2", endpoint="fraud-i", canary=50)
    url = serving.metrics_url()
    assert url is not None and url.endswith("/metrics")

    def scrape() -> dict[str, list[Any]]:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        samples: dict[str, list[Any]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("endpoint") == "fraud-i":
                    samples.setdefault(sample.name, []).append(sample)
        return samples

    def counted(samples: dict[str, list[Any]]) -> float:
        return sum(s.value for s in samples.get("ray_mlops_predictions_total", []))

    before = counted(scrape())  # a head reused across runs may remember earlier replicas
    for seed in range(40):
        serving.predict("fraud-i", make_frame(2, seed))
    log = serving.predictions("fraud-i", since="1h")
    assert len(log) == 80  # one row per scored row
    assert {
        "request_id", "endpoint", "model", "version", "variant", "time", "latency_ms",
        "status", "prediction", *(f"input.{f}" for f in FEATURES),
    } <= set(log.columns)  # fmt: skip
    assert set(log["variant"]) == {"stable", "canary"}
    assert str(log["time"].dtype).startswith("datetime64") and str(log["time"].dt.tz) == "UTC"
    assert (log["status"] == "ok").all() and log["prediction"].isin([0.0, 1.0]).all()
    canary = serving.predictions("fraud-i", since="1h", variant="canary")
    assert set(canary["version"]) == {"2"} and 0 < len(canary) < 80
    assert serving.predictions("fraud-i", until="1h").empty

    samples: dict[str, list[Any]] = {}
    deadline = time.time() + 90  # Ray's agent exports what replicas report every few seconds
    while time.time() < deadline:
        samples = scrape()
        if counted(samples) >= before + 40:
            break
        time.sleep(2)
    assert counted(samples) == before + 40, sorted(samples)
    variants = {s.labels["variant"] for s in samples["ray_mlops_predictions_total"]}
    assert variants == {"stable", "canary"}
    buckets = samples["ray_mlops_prediction_latency_seconds_bucket"]
    assert any(float(s.labels["le"]) < 0.001 for s in buckets)
    serving.undeploy("fraud-i")


def test_sticky_routing_sends_one_key_to_one_variant(served: Lab) -> None:
    serving = served.serving
    serving.deploy("fraud/1", endpoint="fraud-s")
    rev = serving.deploy("fraud/2", endpoint="fraud-s", canary=50, sticky_key="txn_count_7d")
    assert rev.action == "canary"
    url = serving.url("fraud-s") + "/invocations"
    by_key: dict[float, set[str]] = {}
    for i in range(60):
        count = float(i % 12)
        row = {"dataframe_split": {"columns": FEATURES, "data": [[50.0 + i, 100.0, count]]}}
        status, answer = post(url, json.dumps(row).encode())
        assert status == 200
        by_key.setdefault(count, set()).add(answer["variant"])
    assert all(len(variants) == 1 for variants in by_key.values()), by_key
    assert {v for variants in by_key.values() for v in variants} == {"stable", "canary"}
    serving.undeploy("fraud-s")
