"""What the quickstart's training bodies log can be validated by MLflow's evaluator: the
PyTorch MLP through ``th.Classifier`` and the scikit-learn model both give labels from
``predict`` and probabilities from ``predict_proba``. A script whose imports are missing
here is refused before anything is submitted."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_lab import train_helpers as th
from mlops_lab.errors import UsageError
from mlops_lab.lab import Lab

COLUMNS = ["amount", "hour"]


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.5, 0.8, rows)
    hour = rng.integers(0, 24, rows).astype("float64")
    fraud = (rng.random(rows) < 0.05 + 0.4 * (amount > 80)).astype("int64")
    return pd.DataFrame({"amount": amount, "hour": hour, "is_fraud": fraud})


def _torch_model(train: pd.DataFrame) -> Any:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = torch.tensor(train[COLUMNS].values, dtype=torch.float32)
    y = torch.tensor(train["is_fraud"].values, dtype=torch.float32).unsqueeze(1)
    norm = torch.nn.Linear(2, 2)  # standardises the inputs, as the quickstart's MLP does
    with torch.no_grad():
        norm.weight.copy_(torch.diag(1 / x.std(0)))
        norm.bias.copy_(-x.mean(0) / x.std(0))
    norm.requires_grad_(False)
    module = torch.nn.Sequential(
        norm, torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(60):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(module(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return th.Classifier(module, COLUMNS)


def _sklearn_model(train: pd.DataFrame) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(
        train[COLUMNS], train["is_fraud"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("make", [_torch_model, _sklearn_model], ids=["torch", "sklearn"])
def test_logged_model_is_validated_by_mlflows_evaluator(project: Lab, make: Any) -> None:
    train, holdout = _frame(1500, 1), _frame(500, 2)
    model = make(train)
    with project.tracking.start_run("train"):
        uri = th.log_model(model, input_example=train[COLUMNS][:2])
    version = project.models.register(uri, "fraud")
    loaded = project.models.load(version.ref)
    labels = np.asarray(loaded.predict(holdout[COLUMNS]))
    assert set(np.unique(labels)) <= {0, 1}

    result = project.models.validate(
        version.ref,
        holdout,
        target="is_fraud",
        thresholds={"roc_auc": {"threshold": 0.6}},
        against=None,
    )
    assert result.verdict == "passed", result.summary
    assert result.metrics["roc_auc"] > 0.6
    assert project.models.get(version.ref).lineage["mlops.validation.verdict"] == "passed"
    # the evaluator's plots went to MLflow, not into the notebook's output
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []


def test_a_script_importing_a_missing_package_is_refused_before_submitting(
    project: Lab,
) -> None:
    with pytest.raises(UsageError) as caught:
        project.training.submit("import fraudlib_not_installed\n", name="missing")
    message = str(caught.value)
    assert message == (
        "the training script imports fraudlib_not_installed, which is not installed; run: "
        "pip install 'fraudlib_not_installed' (nothing was submitted)"
    )
