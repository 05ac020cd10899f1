"""`lab.features.historical` / `online` vs the same raw Feast calls on the same repository.

Run: python benchmarks/features_retrieval.py [rows]
Prints the median time of each and the ratio lab/raw (goal <= 1.05).
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlops_lab
from mlops_lab.examples import fraud

REPEAT = 9


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def compare(
    name: str, lab_call: Callable[[], Any], raw_call: Callable[[], Any], repeat: int = REPEAT
) -> float:
    lab_call(), raw_call()  # warm caches on both sides
    lab_times, raw_times = [], []
    for _ in range(repeat):  # interleaved, so machine noise hits both alike
        lab_times.append(timed(lab_call))
        raw_times.append(timed(raw_call))
    lab_s, raw_s = statistics.median(lab_times), statistics.median(raw_times)
    ratio = lab_s / raw_s
    print(
        f"{name}: lab {lab_s * 1000:.1f} ms, raw Feast {raw_s * 1000:.1f} ms; "
        f"ratio lab/raw = {ratio:.2f} (goal <= 1.05)"
    )
    return ratio


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    logging.getLogger("mlops_lab").setLevel(logging.ERROR)  # the dropped-rows line, once is enough
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        lab = mlops_lab.connect(root)
        lab.init()
        tx = fraud.make_transactions(rows, 7)
        lab.data.write_table(fraud.card_features(tx), "fraud/card_features.parquet")
        labels = fraud.labels(tx)
        commit = lab.data.commit(message="benchmark data")
        lab.features.apply()

        from feast import FeatureStore

        raw = FeatureStore(repo_path=str(lab.features.repo))
        refs = [
            f"card_daily:{f}"
            for f in ("spend_7d", "txn_count_7d", "avg_amount_7d", "max_amount_7d")
        ]
        print(f"{len(labels):,} entity rows, {len(fraud.card_features(tx)):,} feature rows")
        compare(
            "historical",
            lambda: lab.features.historical(labels, refs, data_ref=commit),
            lambda: raw.get_historical_features(entity_df=labels, features=refs).to_df(),
        )
        lab.features.materialize("2025-12-01", "2026-04-01")
        entity_rows = [{"card_id": int(c)} for c in labels["card_id"].unique()[:50]]
        compare(
            "online (50 keys)",
            lambda: lab.features.online(entity_rows, refs),
            lambda: raw.get_online_features(features=refs, entity_rows=entity_rows).to_df(),
            repeat=41,
        )


if __name__ == "__main__":
    main()
