"""The Evidently 0.7 side of the drift benchmarks, run in its own environment (Evidently
needs pandas < 3) as a subprocess on the same Parquet files:

    python evidently_peer.py REFERENCE.parquet CURRENT.parquet [--method psi] [--html OUT]

Prints one JSON object: per column the test, score and verdict (Evidently's own test
status), the seconds the report took, peak resident memory, and the HTML size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import warnings

import pandas as pd

NAMES = {
    "K-S p_value": "ks",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "PSI": "psi",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--method", default=None)
    parser.add_argument("--html", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(args.reference)
    current = pd.read_parquet(args.current)
    started = time.perf_counter()
    preset = DataDriftPreset(method=args.method) if args.method else DataDriftPreset()
    snapshot = Report([preset], include_tests=True).run(current, reference)
    seconds = time.perf_counter() - started
    found = snapshot.dict()
    columns: dict[str, dict] = {}
    for metric in found["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {
                "method": NAMES.get(config["method"], config["method"]),
                "score": metric["value"],
                "threshold": config["threshold"],
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    for test in found["tests"]:
        column = test.get("metric_config", {}).get("params", {}).get("column")
        if column is None:
            name = test.get("name", "")
            column = name.rsplit("column ", 1)[-1] if "Value Drift for column" in name else None
        if column in columns:
            columns[column]["drifted"] = test["status"] == "FAIL"
    html_size = None
    if args.html:
        snapshot.save_html(args.html)
        html_size = os.path.getsize(args.html)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "columns": columns,
                "share": share,
                "seconds": seconds,
                "peak_rss": peak,
                "html_bytes": html_size,
            }
        )
    )


if __name__ == "__main__":
    main()
