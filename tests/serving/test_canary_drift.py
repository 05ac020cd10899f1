"""Drift beside the deploy buttons, on the real prediction log of an endpoint served by Ray
Serve on the session's head: a canary's inputs against its training data (found through
lineage) and against the stable version, its predictions against what it predicted on its
training data, and ``[serving] rollback_on_drift`` at a look and between looks (a Ray job on
the head)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab.errors import UsageError
from mlops_lab.services import _drift_watch
from tests.serving.conftest import FEATURES, free_port, make_frame

pytestmark = pytest.mark.timeout(600)
ENDPOINT = "drift-canary"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, ray_head: dict[str, Any]) -> Iterator[Path]:
    """fraud/1 and fraud/2, both trained on a table read through lab.data (so their lineage
    leads to the training data), on the session's Ray head."""
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    root: Path = tmp_path_factory.mktemp("canary-drift") / "project"
    root.mkdir()
    mlops_lab.connect(root).init()
    toml = root / "mlops.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("# http_port = 8000", f"http_port = {free_port()}"), "utf-8")
    (root / ".mlops" / "ray").mkdir(parents=True, exist_ok=True)
    shutil.copy(ray_head["state_file"], root / ".mlops" / "ray" / "head.json")
    lab = mlops_lab.connect(root)
    training = make_frame(3000, 1)
    training["is_fraud"] = (training["amount"] > 90).astype(int)
    lab.data.write_table(training, "fraud/training.parquet")
    commit = lab.data.commit(message="training data")
    for c in (1.0, 0.01):
        with lab.tracking.start_run(f"C={c}") as run:
            frame = lab.data.read_table("fraud/training.parquet", ref=commit)
            model = LogisticRegression(C=c, max_iter=500).fit(frame[FEATURES], frame["is_fraud"])
            run.log_model(model, signature=infer_signature(frame[FEATURES]))
        lab.models.register(run, "fraud")
    yield root
    lab = mlops_lab.connect(root)
    for status in lab.serving.endpoints():
        lab.serving.undeploy(status.endpoint)


def shifted(rows: int, seed: int) -> Any:
    """New fraud patterns: larger amounts and weekly spend, same transaction counts."""
    frame = make_frame(rows, seed)
    frame["amount"] *= 4
    frame["spend_7d"] *= 3
    return frame


def test_a_drifting_canary_is_shown_and_rolled_back_by_the_policy(project: Path) -> None:
    lab = mlops_lab.connect(project)
    serving = lab.serving
    serving.deploy("fraud/1", endpoint=ENDPOINT)
    with pytest.raises(UsageError, match="has no canary"):
        serving.canary_drift(ENDPOINT)
    canary = serving.deploy("fraud/2", endpoint=ENDPOINT, canary=50)
    for seed in range(20):
        serving.predict(ENDPOINT, shifted(40, seed))

    # policy off: the drift is reported beside the canary, nothing changes
    drift = serving.canary_drift(ENDPOINT, "1h")
    assert (drift.stable, drift.canary) == ("fraud/1", "fraud/2")
    assert 0 < drift.canary_rows < 800 and drift.canary_rows + drift.stable_rows == 800
    assert drift.inputs_vs_training is not None and drift.inputs_vs_stable is not None
    assert set(drift.inputs_vs_training.names) == set(FEATURES)  # the model's inputs
    assert {"amount", "spend_7d"} <= set(drift.inputs_vs_training.drifted_columns)
    assert drift.inputs_vs_stable.drifted_columns == []  # both see the same shifted traffic
    assert drift.predictions_vs_stable is not None
    # what fraud/2 answers now (large amounts: fraud) is not what it said on its training data
    moved = drift.predictions_vs_training
    assert moved is not None and moved.names == ["prediction"] and moved.dataset_drift
    assert moved.reference_rows == 3000 and moved.current_rows == drift.canary_rows
    assert drift.share >= 2 / 3 and drift.rolled_back is None
    assert "inputs 2/3 drifted vs training (amount, spend_7d)" in drift.summary()
    assert "predictions drifted vs training" in drift.summary()
    assert serving.revisions(ENDPOINT)[-1].number == canary.number

    # policy on: the same check rolls the canary back and the revision records why
    toml = project / "mlops.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            "[serving]\n", "[serving]\nrollback_on_drift = 0.2\n"
        ),
        "utf-8",
    )
    lab = mlops_lab.connect(project)
    drift = lab.serving.canary_drift(ENDPOINT, "1h")
    back = drift.rolled_back
    assert back is not None and back.action == "rollback"
    assert back.stable is not None and back.stable["version"] == "1" and back.canary is None
    recorded = lab.serving.revisions(ENDPOINT)[-1]
    assert recorded.number == canary.number + 1 and recorded.note == back.note
    assert "canary drift 67% of input columns >= rollback_on_drift 0.2" in recorded.note
    assert "amount" in recorded.note
    answer = lab.serving.predict(ENDPOINT, make_frame(1, 99))
    assert (answer["version"], answer["variant"]) == ("1", "stable")


def wait_for(what: str, found: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def test_the_policy_checks_the_canary_on_the_head_between_looks(project: Path) -> None:
    """Follows the test above: the policy is on, fraud/1 serves, fraud/2 was rolled back."""
    toml = project / "mlops.toml"
    text = toml.read_text(encoding="utf-8")
    assert "rollback_on_drift = 0.2\n" in text
    policy = 'rollback_on_drift = 0.2\ndrift_check_interval = "2s"\n'
    toml.write_text(text.replace("rollback_on_drift = 0.2\n", policy), "utf-8")
    lab = mlops_lab.connect(project)
    before = lab.serving.revisions(ENDPOINT)[-1].number
    # The canary is deployed by a kernel that then ends: the check runs on without it.
    deploy = f"import mlops_lab; mlops_lab.connect({str(project)!r}).serving.deploy('fraud/2', endpoint={ENDPOINT!r}, canary=50)"
    subprocess.run([sys.executable, "-c", deploy], check=True, timeout=300)
    since = lab.serving.revisions(ENDPOINT)[-1].number
    assert since == before + 1
    job = wait_for(
        "a running check of the new canary",
        lambda: [
            j
            for j in _drift_watch.jobs(lab, ENDPOINT)
            if j["metadata"][_drift_watch.META_SINCE] == str(since) and j["status"] == "RUNNING"
        ],
        60,
    )[0]
    for seed in range(20, 30):
        lab.serving.predict(ENDPOINT, shifted(40, seed))

    try:
        back = wait_for(
            "a rollback by the check on the head",
            lambda: [r for r in lab.serving.revisions(ENDPOINT) if r.number > since],
            120,
        )[0]
    except AssertionError as exc:
        logs = _drift_watch.logs(lab, ENDPOINT, job["submission_id"])
        raise AssertionError(f"{exc}; the check's logs:\n{logs}") from None
    assert back.action == "rollback" and back.canary is None and back.canary_weight == 0
    assert back.stable is not None and back.stable["version"] == "1"
    # which requests the canary answered is chance: a look may see 2 or 3 columns drifted
    assert re.search(
        r"canary drift (67|100)% of input columns >= rollback_on_drift 0\.2", back.note
    )
    assert "amount" in back.note and "predictions drifted vs training" in back.note
    answer = lab.serving.predict(ENDPOINT, make_frame(1, 98))
    assert (answer["version"], answer["variant"]) == ("1", "stable")
    done = wait_for(
        "the check ending after its rollback",
        lambda: [
            j
            for j in _drift_watch.jobs(lab, ENDPOINT)
            if j["submission_id"] == job["submission_id"] and j["status"] == "SUCCEEDED"
        ],
        30,
    )[0]
    logs = _drift_watch.logs(lab, ENDPOINT, done["submission_id"])
    assert f"rolled back: revision {back.number}" in logs and "check in " in logs

    # A promoted canary ends its check without one more look at the drift.
    canary = lab.serving.deploy("fraud/2", endpoint=ENDPOINT, canary=10)
    watching = wait_for(
        "a check of the next canary",
        lambda: [
            j
            for j in _drift_watch.jobs(lab, ENDPOINT)
            if j["metadata"][_drift_watch.META_SINCE] == str(canary.number)
        ],
        30,
    )[0]
    promoted = lab.serving.promote(ENDPOINT)
    wait_for(
        "the check ending after the promote",
        lambda: [
            j
            for j in _drift_watch.jobs(lab, ENDPOINT)
            if j["submission_id"] == watching["submission_id"] and j["status"] == "SUCCEEDED"
        ],
        60,
    )
    logs = _drift_watch.logs(lab, ENDPOINT, watching["submission_id"])
    assert f"stopped: revision {promoted.number} (promote) left no canary" in logs
