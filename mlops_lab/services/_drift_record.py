"""What a drift check leaves behind: an MLflow run linked to the model version, the
latest figures per version (read by the metrics endpoint), and their Prometheus text.

The gauges are rebuilt from the latest-check files at every scrape, so a check run by a
scheduled notebook in another process shows up without a long-lived exporter.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage

if TYPE_CHECKING:
    from mlops_lab.backends.drift import Comparison
    from mlops_lab.lab import Lab
    from mlops_lab.services.models import VersionInfo

DRIFT_EXPERIMENT = "drift"
RUN_TAG = "mlops.drift.run"
SHARE_TAG = "mlops.drift.share"
DETECTED_TAG = "mlops.drift.detected"


def record(lab: Lab, version: VersionInfo, result: Comparison) -> str:
    """Log the check as a run of the ``drift`` experiment, tag the version with it, and
    write the latest figures (input checks only); returns the run id."""
    from mlflow.entities import Metric, Param

    client = lab.tracking.client
    experiment = lab.tracking.experiment_id(DRIFT_EXPERIMENT)
    tags = lineage.origin_tags(lab.root)
    tags |= {
        lineage.MODEL_NAME: version.name,
        lineage.MODEL_VERSION: str(version.version),
        DETECTED_TAG: str(result.dataset_drift).lower(),
    }
    tags |= {f"mlops.drift.{k}": str(v)[:500] for k, v in result.meta.items() if v}
    run = client.create_run(
        experiment, tags=tags, run_name=f"drift {version.name} v{version.version}"
    )
    run_id = str(run.info.run_id)
    now = int(datetime.now(UTC).timestamp() * 1000)
    metrics = [
        Metric("drift_share", result.share, now, 0),
        Metric("dataset_drift", float(result.dataset_drift), now, 0),
        Metric("current_rows", float(result.current_rows), now, 0),
    ]
    for column in result.columns:
        name = _metric_name(column.column)
        metrics.append(Metric(f"score.{name}", column.score, now, 0))
        metrics.append(Metric(f"drifted.{name}", float(column.drifted), now, 0))
    params = [Param("drift_share_threshold", str(result.drift_share))]
    params += [Param(f"test.{_metric_name(c.column)}", c.method) for c in result.columns]
    client.log_batch(run_id, metrics=metrics[:1000], params=params[:100])
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "drift.html"
        result.save(report)
        summary = Path(folder) / "drift.json"
        summary.write_text(json.dumps(result.to_dict(), default=str), encoding="utf-8")
        client.log_artifact(run_id, str(report), "drift")
        client.log_artifact(run_id, str(summary), "drift")
    client.set_terminated(run_id, "FINISHED")
    if result.meta.get("compared") == "predictions":
        return run_id  # the version's tags and the gauges speak of its inputs
    client.set_model_version_tag(version.name, str(version.version), RUN_TAG, run_id)
    client.set_model_version_tag(
        version.name, str(version.version), SHARE_TAG, f"{result.share:.4f}"
    )
    _write_latest(lab, version, result, run_id)
    return run_id


def _write_latest(lab: Lab, version: VersionInfo, result: Comparison, run_id: str) -> None:
    folder = lab.drift.reports_dir / "latest"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "model": version.name,
        "version": str(version.version),
        "run_id": run_id,
        "time": datetime.now(UTC).isoformat(),
        "share": result.share,
        "dataset_drift": result.dataset_drift,
        "columns": [
            {"column": c.column, "method": c.method, "score": c.score, "drifted": c.drifted}
            for c in result.columns
        ],
    }
    target = folder / f"{_file_name(version.name)}--{version.version}.json"
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(entry), encoding="utf-8")
    os.replace(temporary, target)


def exposition(entries: list[dict[str, Any]]) -> str:
    """Prometheus text format of the latest check of each model version."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    class Latest:
        def collect(self) -> Any:
            score = GaugeMetricFamily(
                "mlops_drift_score",
                "Drift score of a column in the latest check (p-value or distance, see method)",
                labels=["model", "version", "column", "method"],
            )
            detected = GaugeMetricFamily(
                "mlops_drift_detected",
                "1 when the column drifted in the latest check",
                labels=["model", "version", "column"],
            )
            share = GaugeMetricFamily(
                "mlops_dataset_drift_share",
                "Share of columns that drifted in the latest check",
                labels=["model", "version"],
            )
            for entry in entries:
                model, version = str(entry["model"]), str(entry["version"])
                share.add_metric([model, version], float(entry["share"]))
                for column in entry["columns"]:
                    name = str(column["column"])
                    score.add_metric([model, version, name, column["method"]], column["score"])
                    detected.add_metric([model, version, name], float(column["drifted"]))
            yield from (score, detected, share)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Latest())
    return str(generate_latest(registry).decode("utf-8"))


def _metric_name(column: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\- /]", "_", column)[:200]


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
