"""The Prometheus scrape target for drift: the latest check of each model version, served
behind the Jupyter server's token."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mlops_lab
from mlops_lab.backends.drift import compare
from mlops_lab.services import _drift_record
from mlops_lab.services.models import VersionInfo


async def test_drift_metrics_serve_the_latest_checks(api: Any, jp_root_dir: Path) -> None:
    lab = mlops_lab.connect(jp_root_dir)
    rng = np.random.default_rng(3)
    result = compare(
        pd.DataFrame({"amount": rng.normal(0, 1, 3000)}),
        pd.DataFrame({"amount": rng.normal(0.5, 1, 3000)}),
    )
    version = VersionInfo("fraud", 4, (), None, "READY", None, "")
    _drift_record._write_latest(lab, version, result, "0" * 32)

    response = await api("drift/metrics")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.body.decode()
    score = result.column("amount").score
    assert (
        f'mlops_drift_score{{column="amount",method="wasserstein",model="fraud",version="4"}} '
        f"{score!r}" in text
    )
    assert 'mlops_drift_detected{column="amount",model="fraud",version="4"} 1.0' in text
    assert 'mlops_dataset_drift_share{model="fraud",version="4"} 1.0' in text
    refused = await api("drift/metrics", token_auth=False)
    assert refused.code == 403


async def test_a_canary_s_drift_carries_its_predictions_against_training(
    api: Any, jp_root_dir: Path
) -> None:
    """The Endpoints section's drift lines: the route answers the canary's predictions
    against what its version predicted on its training data. The endpoint's revisions and
    the prediction log its replicas write are recorded here as a deploy leaves them (the
    deploy itself runs on Ray Serve in tests/serving/test_canary_drift.py)."""
    from datetime import UTC, datetime

    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from mlops_lab.backends.serving.prediction_log import PredictionLog
    from mlops_lab.services.endpoint_state import new_revision

    lab = mlops_lab.connect(jp_root_dir)
    rng = np.random.default_rng(5)
    training = pd.DataFrame({"amount": rng.gamma(2.0, 40.0, 2000)})
    training["is_fraud"] = (training["amount"] > 90).astype(int)
    lab.data.write_table(training, "fraud/training.parquet")
    commit = lab.data.commit(message="training data")
    with lab.tracking.start_run("fraud") as run:
        frame = lab.data.read_table("fraud/training.parquet", ref=commit)
        model = LogisticRegression().fit(frame[["amount"]], frame["is_fraud"])
        run.log_model(model, signature=infer_signature(frame[["amount"]]))
    for _ in (1, 2):  # the same model twice: the stable version and the canary
        lab.models.register(run, "fraud")

    endpoint, store = "fraud", lab.serving.store
    stable, canary = {"model": "fraud", "version": "1"}, {"model": "fraud", "version": "2"}
    state = {**store.read(endpoint), "backend": "ray-serve"}
    for number, (action, spec, weight) in enumerate(
        (("deploy", None, 0), ("canary", canary, 50)), start=1
    ):
        revision = new_revision(endpoint, None, action, stable, spec, weight, {}, False)
        store.record(state, dataclasses.replace(revision, number=number))
    log = PredictionLog(on_drop=print)
    log.directory = str(lab.serving.log_dir(endpoint))
    for request in range(10):  # new fraud patterns: amounts four times larger
        rows = pd.DataFrame({"amount": rng.gamma(2.0, 160.0, 40)})
        variant, version = ("canary", 2) if request % 2 else ("stable", 1)
        answers = model.predict(rows).tolist()
        now = datetime.now(UTC)
        log.append((f"r{request}", endpoint, "fraud", str(version), variant, now, 1.0, "ok",
                    rows, answers), len(rows))  # fmt: skip
    log.flush()

    response = await api(f"serving/endpoints/{endpoint}/drift?window=1h")
    assert response.code == 200, response.body
    drift = json.loads(response.body)
    assert (drift["stable"], drift["canary"], drift["canary_rows"]) == ("fraud/1", "fraud/2", 200)
    assert drift["inputs_vs_training"]["drifted"] == ["amount"]
    moved = drift["predictions_vs_training"]
    assert moved["drifted"] == ["prediction"] and moved["columns"] == 1
    assert moved["title"] == "canary fraud/2: predictions on its training data vs its last 1h"
    assert "predictions drifted vs training" in drift["summary"]
