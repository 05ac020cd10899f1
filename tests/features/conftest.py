"""A project with the quickstart's fraud data committed and the feature repo applied,
shared by the module (Feast and MLflow are slow to open)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab.examples import fraud
from mlops_lab.lab import Lab

ROWS = 4000


@pytest.fixture(scope="module")
def fraud_lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root: Path = tmp_path_factory.mktemp("features") / "project"
    root.mkdir()
    lab: Lab = mlops_lab.connect(root)
    lab.init()
    tx = fraud.make_transactions(ROWS, 7)
    lab.data.write_table(fraud.card_features(tx), "fraud/card_features.parquet")
    lab.data.write_table(fraud.labels(tx), "fraud/labels.parquet")
    commit = lab.data.commit(message="fraud data v1")
    lab.features.apply()
    return {"lab": lab, "commit": commit, "transactions": tx}
