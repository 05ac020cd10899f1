"""A project whose registry holds a small scikit-learn model pair for the gate: ``fraud``
v1 (@champion, a fair model), v2 (@challenger, a better one) and v3 (@broken, one that
ignores the signal), and a holdout committed to the data store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlops_lab
from mlops_lab.lab import Lab

FEATURES = ["amount", "hour", "noise"]


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(0, 1, rows)
    hour = rng.normal(0, 1, rows)
    noise = rng.normal(0, 1, rows)
    score = 2.0 * amount + 1.0 * hour + rng.normal(0, 0.7, rows)
    return pd.DataFrame(
        {
            "amount": amount,
            "hour": hour,
            "noise": noise,
            "region": np.where(rng.random(rows) < 0.5, "eu", "us"),
            "is_fraud": (score > 0.8).astype(int),
        }
    )


def _register(lab: Lab, columns: list[str], alias: str, train: pd.DataFrame) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        ColumnTransformer([("keep", "passthrough", columns)]), LogisticRegression()
    )
    model.fit(train[FEATURES], train["is_fraud"])
    with lab.tracking.start_run(f"train {alias}") as run:
        run.log_model(model, input_example=train[FEATURES].head(3))
    return lab.models.register(run, "fraud", alias=alias)


@pytest.fixture(scope="module")
def gate_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root: Path = tmp_path_factory.mktemp("gate") / "project"
    root.mkdir()
    lab = mlops_lab.connect(root)
    lab.init()
    train = make_frame(600, seed=1)
    _register(lab, ["amount"], "champion", train)  # v1: part of the signal
    _register(lab, ["amount", "hour"], "challenger", train)  # v2: the real signal
    _register(lab, ["noise"], "broken", train)  # v3: no signal at all
    holdout = make_frame(400, seed=2)
    lab.data.write_table(holdout[[*FEATURES, "region", "is_fraud"]], "fraud/holdout.parquet")
    lab.data.commit(message="holdout")
    return lab


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return make_frame(400, seed=2)
