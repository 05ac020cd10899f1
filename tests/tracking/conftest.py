"""One project per module: opening a fresh MLflow SQLite store costs seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlops_lab
from mlops_lab.lab import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root: Path = tmp_path_factory.mktemp("tracking") / "project"
    root.mkdir()
    lab = mlops_lab.connect(root)
    lab.init()
    return lab


@pytest.fixture(scope="module")
def trained(lab: Lab) -> dict[str, Any]:
    """A finished run that logged a scikit-learn model, registered as 'fraud' v1."""
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).random((40, 2))
    y = (x[:, 0] > 0.5).astype(int)
    with lab.tracking.start_run("baseline") as run:
        model = LogisticRegression().fit(x, y)
        run.log_params({"C": 1.0})
        run.log_metrics({"auc": 0.91})
        info = run.log_model(model)
    version = lab.models.register(run, "fraud", alias="champion")
    return {"run": run, "info": info, "version": version, "x": x}
