"""The validation gate on real MLflow: a better challenger passes, a model without signal
fails, the verdict lands on the model version, and bad input is one line."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_lab import lineage
from mlops_lab.errors import LabError, NotFoundError, UsageError
from mlops_lab.lab import Lab
from mlops_lab.services import validation, validation_rules


def _tags(lab: Lab, ref: str) -> dict[str, str]:
    version = lab.models.get(ref)
    detail = lab.tracking.client.get_model_version(version.name, str(version.version))
    return dict(detail.tags)


def test_better_challenger_passes_and_is_tagged(gate_lab: Lab) -> None:
    result = gate_lab.models.validate(
        "fraud@challenger",
        "fraud/holdout.parquet",
        target="is_fraud",
        thresholds={
            "roc_auc": {"threshold": 0.8, "min_absolute_change": 0.0},
            "log_loss": {"min_relative_change": 0.05},
        },
        latency_budget_ms=1000,
    )
    assert result.passed and result.verdict == "passed"
    assert result.baseline == "fraud/1"
    roc = [c for c in result.checks if c.metric == "roc_auc"]
    assert len(roc) == 2 and all(c.passed for c in roc)
    assert roc[0].candidate is not None and roc[0].candidate > 0.8
    assert roc[0].baseline is not None and roc[0].candidate > roc[0].baseline
    # the figures are MLflow's own, logged on the evaluation run
    run = gate_lab.tracking.client.get_run(result.run_id)
    assert run.data.metrics["roc_auc"] == pytest.approx(roc[0].candidate)
    assert run.data.tags[validation.VERDICT] == "passed"
    assert "latency_p99_ms" in run.data.metrics
    commit = gate_lab.data.resolve("main")
    assert result.data_commit == commit
    assert run.data.tags[lineage.DATA_COMMIT] == commit
    assert run.data.tags[lineage.MODEL_VERSION] == "2"

    tags = _tags(gate_lab, "fraud@challenger")
    assert tags[validation.VERDICT] == "passed"
    assert tags[validation.RUN] == result.run_id
    assert tags[validation.DATA_COMMIT] == commit
    assert tags[validation.SUMMARY] == result.summary
    assert "roc_auc" in result.summary and "✓" in result.summary and "p99" in result.summary
    assert "\n" not in result.summary
    # the version's lineage carries the verdict
    assert gate_lab.models.get("fraud/2").lineage[validation.VERDICT] == "passed"
    # and `%mlops lineage fraud@challenger` shows the evaluation run with its verdict
    step = gate_lab.lineage("fraud@challenger").used_by[0]
    assert step["kind"] == "validation" and step["id"] == result.run_id
    assert step["detail"].startswith("passed: ") and f"holdout {commit[:12]}" in step["detail"]

    latency = next(c for c in result.checks if c.metric == "latency p99 ms")
    assert latency.passed and result.latency["measured_on"] == "the model loaded here"
    html = result._repr_html_()
    assert "PASSED" in html and "roc_auc" in html and "✓" in html
    assert result.run_id[:8] in html and f'title="{result.run_id}"' in html
    assert "<svg" in html and "limit 0.8" in html  # candidate, baseline and threshold drawn
    text = repr(result)
    for column in ("metric", "candidate", "baseline", "change", "threshold"):
        assert column in text


def test_model_without_signal_fails(gate_lab: Lab, holdout: pd.DataFrame) -> None:
    result = gate_lab.models.validate(
        "fraud@broken",
        holdout,
        target="is_fraud",
        thresholds={"roc_auc": {"threshold": 0.8, "min_absolute_change": 0.0}},
    )
    assert not result.passed and result.verdict == "failed"
    failed = [c for c in result.checks if c.passed is False]
    assert {c.rule.split(" ")[0] for c in failed} == {"≥", "change"}
    assert "✗" in result.summary and "FAILED" in result._repr_html_()
    tags = _tags(gate_lab, "fraud@broken")
    assert tags[validation.VERDICT] == "failed"
    assert validation.DATA_COMMIT not in tags  # a DataFrame has no data commit


def test_no_baseline_checks_thresholds_only(gate_lab: Lab, holdout: pd.DataFrame) -> None:
    result = gate_lab.models.validate(
        "fraud/2",
        holdout,
        target="is_fraud",
        against="nosuchalias",
        thresholds={"roc_auc": {"threshold": 0.8, "min_absolute_change": 0.01}},
    )
    assert result.baseline is None
    assert any("fraud@nosuchalias is not set" in n for n in result.notes)
    change = next(c for c in result.checks if c.rule.startswith("change"))
    assert change.passed is None  # not checkable: shown, not counted
    assert result.passed


def test_slice_gap(gate_lab: Lab, holdout: pd.DataFrame) -> None:
    result = gate_lab.models.validate(
        "fraud@challenger",
        holdout,
        target="is_fraud",
        against=None,
        thresholds={"roc_auc": {"threshold": 0.5}},
        slice_column="region",
        max_slice_gap=0.0,
    )
    assert set(result.slices) == {"eu", "us"}
    values = [v for v in result.slices.values() if v is not None]
    gap = next(c for c in result.checks if "gap by region" in c.metric)
    assert gap.candidate == pytest.approx(max(values) - min(values))
    assert gap.passed is False and not result.passed  # no two slices score exactly alike


def test_magic_flags_and_table(
    gate_lab: Lab, ipython: Any, holdout: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(gate_lab.root)
    ipython.user_ns["holdout"] = holdout
    result = ipython.run_line_magic(
        "mlops",
        "validate fraud@challenger --data holdout --target is_fraud "
        "--threshold roc_auc>=0.8 --min-change roc_auc=+0 --min-change log_loss=-1%",
    )
    assert result.passed
    rules = [c.rule for c in result.checks]
    assert rules == ["≥ 0.8", "change ≥ 0 vs v1", "change ≤ -1% vs v1"]


def test_flags_parse_to_mlflow_thresholds() -> None:
    parsed = validation_rules.thresholds_from_flags(
        ["roc_auc>=0.8", "log_loss<=0.4"], ["roc_auc=+0.01", "log_loss=-2%"]
    )
    assert parsed == {
        "roc_auc": {"threshold": 0.8, "greater_is_better": True, "min_absolute_change": 0.01},
        "log_loss": {"threshold": 0.4, "greater_is_better": False, "min_relative_change": 0.02},
    }
    with pytest.raises(UsageError, match="disagree"):
        validation_rules.thresholds_from_flags(["roc_auc>=0.8"], ["roc_auc=-0.1"])
    with pytest.raises(UsageError, match="METRIC>=VALUE"):
        validation_rules.thresholds_from_flags(["roc_auc=0.8"], [])


@pytest.mark.parametrize(
    ("ref", "kwargs", "error", "words"),
    [
        ("fraud@nosuch", {}, NotFoundError, "has no alias 'nosuch'"),
        ("ghost@challenger", {}, NotFoundError, "no registered model named 'ghost'"),
        ("fraud@challenger", {"target": "label"}, UsageError, "no target column 'label'"),
        (
            "fraud@challenger",
            {"thresholds": {"roc_acu": {"threshold": 0.8}}},
            UsageError,
            "did you mean 'roc_auc'",
        ),
        (
            "fraud@challenger",
            {"thresholds": {"roc_auc": {"treshold": 0.8}}},
            UsageError,
            "unknown threshold key 'treshold'",
        ),
        (
            "fraud@challenger",
            {"thresholds": {"roc_auc": {"min_relative_change": 5}}},
            UsageError,
            "between 0 and 1",
        ),
        ("fraud@challenger", {"against": None}, UsageError, "nothing to validate against"),
        ("fraud@challenger", {"max_slice_gap": 0.1}, UsageError, "needs slice_column"),
        ("fraud@challenger", {"slice_column": "country"}, UsageError, "no slice column"),
        ("fraud@challenger", {"latency_budget_ms": -1}, UsageError, "positive number"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    gate_lab: Lab,
    holdout: pd.DataFrame,
    ref: str,
    kwargs: dict[str, Any],
    error: type[LabError],
    words: str,
) -> None:
    before = len(gate_lab.tracking.runs(max_results=1000))
    options = {"target": "is_fraud", **kwargs}
    with pytest.raises(error) as caught:
        gate_lab.models.validate(ref, holdout, **options)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert len(gate_lab.tracking.runs(max_results=1000)) == before


def test_unknown_data_path_is_one_line(gate_lab: Lab) -> None:
    with pytest.raises(LabError) as caught:
        gate_lab.models.validate("fraud@challenger", "fraud/missing.parquet", target="is_fraud")
    assert "missing.parquet" in str(caught.value) and "\n" not in str(caught.value)


def test_latency_over_budget_fails(gate_lab: Lab, holdout: pd.DataFrame) -> None:
    model = gate_lab.models.load("fraud@challenger")
    calls: list[int] = []

    def slow_endpoint(frame: pd.DataFrame) -> Any:
        calls.append(len(frame))
        time.sleep(0.01)
        return model.predict(frame)

    result = gate_lab.models.validate(
        "fraud@challenger",
        holdout,
        target="is_fraud",
        thresholds={"roc_auc": {"threshold": 0.5}},
        latency_budget_ms=5,
        predict=slow_endpoint,
    )
    assert set(calls) == {1}  # one-row requests
    assert result.latency["measured_on"].startswith("the predict function given")
    assert 10 <= result.latency["p50"] <= result.latency["p99"]
    p99 = next(c for c in result.checks if c.metric == "latency p99 ms")
    assert p99.passed is False and result.verdict == "failed"
    assert "p99" in result.summary and "✗" in result.summary


def test_failed_evaluation_leaves_no_run_and_no_verdict(
    gate_lab: Lab, holdout: pd.DataFrame
) -> None:
    before = len(gate_lab.tracking.runs(max_results=1000))
    tags = _tags(gate_lab, "fraud@challenger")
    with pytest.raises(UsageError, match="MLflow could not evaluate") as caught:
        gate_lab.models.validate(
            "fraud@challenger", holdout.drop(columns=["amount"]), target="is_fraud"
        )
    assert "\n" not in str(caught.value)
    assert len(gate_lab.tracking.runs(max_results=1000)) == before
    assert _tags(gate_lab, "fraud@challenger") == tags


def test_regressor_against_its_champion_by_default(gate_lab: Lab) -> None:
    """No thresholds: the main metric must be no worse than @champion; each model is scored
    on the columns its signature takes."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    frame["price"] = 3 * frame.a + frame.b + rng.normal(scale=0.3, size=300)
    for columns, alias in ((["a"], "champion"), (["a", "b"], "challenger")):
        with gate_lab.tracking.start_run(f"price {alias}") as run:
            run.log_model(
                LinearRegression().fit(frame[columns], frame.price),
                input_example=frame[columns].head(2),
            )
        gate_lab.models.register(run, "price", alias=alias)
    better = gate_lab.models.validate("price@challenger", frame, target="price")
    assert better.passed
    [check] = better.checks
    assert check.metric == "root_mean_squared_error" and check.rule == "change ≤ 0 vs v1"
    assert check.candidate is not None and check.baseline is not None
    assert check.candidate < check.baseline
    worse = gate_lab.models.validate("price@champion", frame, target="price", against="price/2")
    assert not worse.passed and _tags(gate_lab, "price/1")[validation.VERDICT] == "failed"
