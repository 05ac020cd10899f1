"""lab.drift over a real project: the reference found through the model's lineage (data read
back through lab.data at the recorded commit), cached per version as an artifact of its
run, each check an MLflow run linked to the version, and the Prometheus text."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mlops_lab
from mlops_lab.errors import NotFoundError, UsageError
from mlops_lab.examples.fraud import make_transactions
from mlops_lab.lab import Lab

FEATURES = ["amount", "merchant_category"]


def shifted(rows: int, seed: int) -> pd.DataFrame:
    """2026's new fraud pattern: larger amounts, more online and electronics."""
    frame = make_transactions(rows, seed)
    rng = np.random.default_rng(seed)
    frame["amount"] = np.round(frame["amount"] * rng.uniform(1.2, 2.0, rows), 2)
    online = rng.random(rows) < 0.3
    frame.loc[online, "merchant_category"] = rng.choice(
        ["online", "electronics", "crypto"], online.sum()
    )
    return frame


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root: Path = tmp_path_factory.mktemp("drift") / "project"
    root.mkdir()
    lab = mlops_lab.connect(root)
    lab.init()
    return lab


@pytest.fixture(scope="module")
def trained(lab: Lab) -> dict[str, Any]:
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    training = make_transactions(3000, 7)
    lab.data.write_table(training, "fraud/transactions.parquet")
    commit = lab.data.commit(message="training data")
    with lab.tracking.start_run("train") as run:
        frame = lab.data.read_table("fraud/transactions.parquet", ref=commit)
        model = LogisticRegression().fit(frame[["amount"]], frame["is_fraud"])
        signature = infer_signature(frame[FEATURES])  # the inputs a serving request carries
        run.log_model(model, signature=signature)
    version = lab.models.register(run, "fraud", alias="champion")
    return {"training": training, "commit": commit, "version": version}


def test_for_model_compares_with_the_training_data_from_lineage(
    lab: Lab, trained: dict[str, Any]
) -> None:
    current = shifted(2500, 11)
    result = lab.drift.for_model("fraud@champion", current, columns=FEATURES, record=False)
    training = trained["training"]
    amount = result.column("amount")
    expected = stats.wasserstein_distance(training["amount"], current["amount"]) / np.std(
        training["amount"]
    )
    assert amount.method == "wasserstein" and amount.score == pytest.approx(expected, rel=1e-9)
    assert amount.drifted
    category = result.column("merchant_category")
    assert category.method == "jensenshannon" and category.unseen == ("crypto",)
    assert result.meta["model"] == "fraud" and result.meta["version"] == "1"
    assert result.title.startswith("fraud v1: training data vs")


def test_reference_is_cached_locally_and_as_an_artifact_of_the_run(
    lab: Lab, trained: dict[str, Any]
) -> None:
    stats = lab.drift.reference("fraud@champion")
    folder = lab.drift.reports_dir / "reference" / "fraud" / "1"
    assert (folder / "stats.npz").is_file()
    # fraud/1 was fitted on amount alone but signed with two inputs: it cannot predict
    assert stats.predictions is None
    assert stats.predictions_note.startswith("model fraud/1 could not predict on its training")
    run_id = trained["version"].run_id
    artifacts = [a.path for a in lab.tracking.client.list_artifacts(run_id, "drift_reference")]
    assert sorted(artifacts) == ["drift_reference/stats.json", "drift_reference/stats.npz"]

    # A fresh kernel without the local cache reads the artifact, not the training data.
    shutil.rmtree(folder)
    fresh = mlops_lab.connect(lab.root)
    reads: list[str] = []
    read_table = fresh.data.read_table

    def counting(path: str, ref: str | None = None, **options: Any) -> Any:
        reads.append(path)
        return read_table(path, ref=ref, **options)

    fresh.data.read_table = counting  # type: ignore[method-assign]
    current = shifted(2000, 3)
    cached = fresh.drift.for_model("fraud/1", current, columns=FEATURES, record=False)
    cold = fresh.drift.compare(trained["training"], current, columns=FEATURES)
    assert reads == []
    assert (folder / "stats.npz").is_file()
    for name in FEATURES:
        assert cached.column(name).score == pytest.approx(cold.column(name).score, rel=1e-12)


def test_the_reference_keeps_what_the_model_predicted_on_its_training_data(
    lab: Lab, trained: dict[str, Any]
) -> None:
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    with lab.tracking.start_run("score") as run:
        frame = lab.data.read_table("fraud/transactions.parquet", ref=trained["commit"])
        model = LinearRegression().fit(frame[["amount"]], frame["is_fraud"])
        run.log_model(model, signature=infer_signature(frame[["amount"]]))
    lab.models.register(run, "score")
    on_training = model.predict(trained["training"][["amount"]])
    stats = lab.drift.reference("score/1")
    assert stats.predictions is not None and stats.predictions_note == ""
    kept = stats.predictions.columns["prediction"]
    assert kept.size == 3000
    assert np.allclose(kept.sorted_values(), np.sort(on_training))
    artifacts = [a.path for a in lab.tracking.client.list_artifacts(run.id, "drift_reference")]
    assert "drift_reference/predictions.npz" in artifacts

    # cached: a fresh kernel reads the predictions back from the run's artifact
    shutil.rmtree(lab.drift.reports_dir / "reference" / "score" / "1")
    fresh = mlops_lab.connect(lab.root)
    current = shifted(2000, 12)
    answered = pd.DataFrame({"prediction": model.predict(current[["amount"]])})
    moved = fresh.drift.for_model("score/1", answered, predictions=True, record=False)
    assert moved.names == ["prediction"] and moved.column("prediction").drifted
    assert moved.title == "score v1: predictions on training data vs a DataFrame"
    usual = pd.DataFrame({"prediction": model.predict(make_transactions(2000, 13)[["amount"]])})
    steady = fresh.drift.for_model("score/1", usual, predictions=True)
    assert not steady.column("prediction").drifted
    # a predictions check is a run of its own; the version's gauges stay its inputs'
    assert "mlops.drift.run" not in lab.tracking.client.get_model_version("score", "1").tags

    with pytest.raises(UsageError, match="the DataFrame has no 'prediction' column") as error:
        fresh.drift.for_model("score/1", current, predictions=True, record=False)
    assert "\n" not in str(error.value)
    with pytest.raises(NotFoundError, match="fraud/1 could not predict on its training data"):
        fresh.drift.for_model("fraud/1", answered, predictions=True, record=False)


def test_reference_takes_each_column_from_the_tables_the_run_read(lab: Lab) -> None:
    from sklearn.linear_model import LogisticRegression

    from mlops_lab.examples import fraud

    transactions = make_transactions(1500, 2)
    features = fraud.card_features(transactions)
    lab.data.write_table(fraud.labels(transactions), "two/labels.parquet")
    lab.data.write_table(features, "two/features.parquet")
    commit = lab.data.commit(message="labels and card features")
    with lab.tracking.start_run("two tables") as run:
        labels = lab.data.read_table("two/labels.parquet", ref=commit)
        daily = lab.data.read_table("two/features.parquet", ref=commit)
        run.log_model(LogisticRegression().fit(labels[["amount"]], labels["is_fraud"]))
    lab.models.register(run, "two-tables")
    stats = lab.drift.reference("two-tables/1")
    assert {"amount", "is_fraud", "card_id", "spend_7d", "avg_amount_7d"} <= set(stats.columns)
    assert "event_timestamp" not in stats.columns  # datetimes are not tested
    assert stats.columns["spend_7d"].size == len(daily)
    assert stats.columns["amount"].size == len(labels)
    assert stats.source["data_paths"] == "two/labels.parquet,two/features.parquet"


def test_a_check_is_a_run_linked_to_the_version_and_feeds_the_metrics(
    lab: Lab, trained: dict[str, Any]
) -> None:
    result = lab.drift.for_model("fraud@champion", shifted(2000, 5), columns=FEATURES)
    client = lab.tracking.client
    version = client.get_model_version("fraud", "1")
    run = client.get_run(version.tags["mlops.drift.run"])
    assert run.data.tags["mlops.model.name"] == "fraud"
    assert run.data.tags["mlops.model.version"] == "1"
    assert run.data.metrics["score.amount"] == pytest.approx(result.column("amount").score)
    assert run.data.metrics["drift_share"] == result.share
    assert [a.path for a in client.list_artifacts(run.info.run_id, "drift")] == [
        "drift/drift.html",
        "drift/drift.json",
    ]
    text = lab.drift.metrics()
    score = result.column("amount").score
    assert (
        'mlops_drift_score{column="amount",method="wasserstein",model="fraud",version="1"} '
        f"{score!r}" in text
    )
    assert 'mlops_drift_detected{column="amount",model="fraud",version="1"} 1.0' in text
    assert f'mlops_dataset_drift_share{{model="fraud",version="1"}} {result.share!r}' in text


def test_current_can_be_a_data_path_at_a_ref(lab: Lab, trained: dict[str, Any]) -> None:
    lab.data.create_branch("january-2026")
    lab.data.write_table(shifted(1500, 9), "fraud/2026-01.parquet", branch="january-2026")
    commit = lab.data.commit("january-2026", message="January 2026 transactions")
    # Without columns=, the model's signature says which columns are its inputs.
    result = lab.drift.for_model(
        "fraud@champion", "fraud/2026-01.parquet", ref=commit, record=False
    )
    assert result.names == FEATURES
    assert result.meta["current_commit"] == commit
    assert result.meta["reference_data_commit"] == trained["commit"]
    assert result.column("amount").drifted


class PredictionLog:
    """What ``lab.serving.predictions`` returns (``input.<feature>`` columns beside the
    request's version and variant), held in memory."""

    def __init__(self, log: pd.DataFrame) -> None:
        self.log = log
        self.calls: list[dict[str, Any]] = []

    def predictions(
        self,
        endpoint: str,
        since: Any = None,
        until: Any = None,
        version: Any = None,
        variant: Any = None,
    ) -> pd.DataFrame:
        self.calls.append(
            {"endpoint": endpoint, "since": since, "version": version, "variant": variant}
        )
        rows = self.log[self.log["endpoint"] == endpoint]
        if version is not None:
            rows = rows[rows["version"] == version]
        if variant is not None:
            rows = rows[rows["variant"] == variant]
        return rows.reset_index(drop=True)


def prediction_log(frame: pd.DataFrame, version: str, variant: str) -> pd.DataFrame:
    n = len(frame)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "endpoint": "fraud",
            "model": "fraud",
            "version": version,
            "variant": variant,
            "time": pd.Timestamp.now(tz="UTC"),
            "latency_ms": 2.0,
            "status": "ok",
            "prediction": 0.1,
            "input.amount": frame["amount"].to_numpy(),
            "input.merchant_category": frame["merchant_category"].to_numpy(),
        }
    )


def test_current_can_be_a_window_of_the_prediction_log(lab: Lab, trained: dict[str, Any]) -> None:
    log = pd.concat(
        [
            prediction_log(shifted(1200, 1), "1", "stable"),
            prediction_log(shifted(300, 2), "2", "canary"),
        ]
    )
    fresh = mlops_lab.connect(lab.root)
    serving = PredictionLog(log)
    fresh._services["serving"] = serving
    result = fresh.drift.for_model("fraud@champion", window="1h", record=False)
    assert serving.calls[-1] == {
        "endpoint": "fraud",
        "since": "1h",
        "version": "1",
        "variant": None,
    }
    assert result.current_rows == 1200 and set(result.names) == set(FEATURES)
    assert result.title == "fraud v1: training data vs last 1h of predictions"
    canary = fresh.drift.for_model("fraud@champion", window="15m", variant="canary", record=False)
    assert canary.current_rows == 300
    serving.log = log.iloc[:0]
    with pytest.raises(
        UsageError, match=r"no predictions from endpoint 'fraud' \(variant stable\) in the last 2h"
    ):
        fresh.drift.for_model("fraud@champion", window="2h", variant="stable", record=False)


def test_bad_input_is_one_line(lab: Lab, trained: dict[str, Any]) -> None:
    with lab.tracking.start_run("untracked data") as run:
        from sklearn.linear_model import LogisticRegression

        run.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    lab.models.register(run, "blind")
    with pytest.raises(
        NotFoundError, match=r"lacks the lineage tag mlops\.data\.commit and mlops\.data\.paths"
    ) as error:
        lab.drift.for_model("blind/1", shifted(100, 1), record=False)
    assert "\n" not in str(error.value)
    with pytest.raises(NotFoundError, match=r"lacks the lineage tag mlops\.data\.commit"):
        lab.drift.for_model("blind/1", shifted(100, 1), predictions=True, record=False)
    with pytest.raises(UsageError, match="window 'soon' is not a duration"):
        lab.drift.for_model("fraud@champion", window="soon", record=False)
    with pytest.raises(UsageError, match="pass either current= or window="):
        lab.drift.for_model("fraud@champion", shifted(10, 1), window="1h", record=False)


def test_magic_shows_the_report(ipython: Any, lab: Lab, trained: dict[str, Any]) -> None:
    ipython.magics_manager.registry["MLOps"].project = str(lab.root)
    ipython.user_ns["january"] = shifted(800, 4)[FEATURES]
    report = ipython.run_line_magic("mlops", "drift fraud@champion --current january --no-record")
    assert report.names == FEATURES
    html = report._repr_html_()
    assert "<svg" in html and "<script" not in html
    widget = ipython.run_line_magic("mlops", "drift fraud@champion --current january --widget")
    assert list(widget.columns.options) == FEATURES


@pytest.mark.slow
def test_drift_check_notebook_runs_with_papermill(lab: Lab, trained: dict[str, Any]) -> None:
    lab.data.write_table(shifted(1000, 21), "fraud/2026-02.parquet")
    commit = lab.data.commit(message="February 2026 transactions")
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "drift_check.ipynb"
    output = lab.notebooks.run(
        notebook,
        {"model": "fraud@champion", "path": "fraud/2026-02.parquet", "ref": commit},
        output=lab.root / "drift_check.out.ipynb",
        cwd=lab.root,
    )
    executed = output.read_text(encoding="utf-8")
    assert "mlops-drift" in executed and "<script" not in executed
    assert (lab.root / "drift.html").is_file()
    version = lab.tracking.client.get_model_version("fraud", "1")
    run = lab.tracking.client.get_run(version.tags["mlops.drift.run"])
    assert run.data.tags["mlops.drift.current_commit"] == commit


def test_widget_picks_columns_and_shows_errors_in_one_line(
    lab: Lab, trained: dict[str, Any]
) -> None:
    from mlops_lab.widgets.drift import DriftWidget

    widget = DriftWidget(lab, "fraud@champion", current=shifted(900, 8))
    assert widget.window.layout.display == "none"
    widget.check()
    assert list(widget.columns.options) == FEATURES
    assert widget.report.value.count("<svg") == 2
    widget.columns.value = ("amount",)
    assert widget.report.value.count("<svg") == 1 and ">amount<" in widget.report.value

    windowed = DriftWidget(lab, "fraud@champion", window="6h")
    windowed.lab = mlops_lab.connect(lab.root)
    windowed.lab._services["serving"] = PredictionLog(
        prediction_log(shifted(500, 3), "1", "stable")
    )
    windowed.check()
    assert windowed.result is not None and windowed.result.current_rows == 500
    windowed.window.value = "15m"  # the slider reruns the check for its window
    assert windowed.lab._services["serving"].calls[-1]["since"] == "15m"

    broken = DriftWidget(lab, "nosuchmodel@champion", current=shifted(10, 1))
    broken.check()
    assert broken.report.value == "" and "nosuchmodel" in broken.message.value


def test_config_chooses_the_test_threshold_and_share(lab: Lab) -> None:
    config = lab.root / "mlops.toml"
    original = config.read_text(encoding="utf-8")
    config.write_text(
        '[drift]\nmethod = "psi"\nthreshold = 0.3\ndrift_share = 0.8\n', encoding="utf-8"
    )
    try:
        configured = mlops_lab.connect(lab.root)
    finally:
        config.write_text(original, encoding="utf-8")
    reference, current = make_transactions(2000, 1), shifted(2000, 2)
    result = configured.drift.compare(reference, current, columns=FEATURES)
    assert {c.method for c in result.columns} == {"psi"}
    assert {c.threshold for c in result.columns} == {0.3}
    assert result.drift_share == 0.8
    per_call = configured.drift.compare(
        reference, current, columns=FEATURES, tests={"amount": "ks"}, thresholds={"amount": 0.01}
    )
    assert per_call.column("amount").method == "ks" and per_call.column("amount").threshold == 0.01
    assert per_call.column("merchant_category").method == "psi"
