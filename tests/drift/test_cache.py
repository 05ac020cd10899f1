"""The cached reference statistics load back as they were written: same verdicts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_lab.backends.drift import ReferenceStats, compare
from mlops_lab.services._drift_cache import CACHE_FORMAT, load, save


def test_cache_round_trip_keeps_every_column_type(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "count": rng.integers(0, 500, n),
            "level": rng.integers(0, 4, n),
            "city": rng.choice(["oslo", "lima", "pune"], n),
            "flag": rng.random(n) < 0.2,
            "day": [dt.date(2026, 1, 1 + i % 28) for i in range(n)],
        }
    )
    current = reference.sample(frac=0.7, random_state=1).reset_index(drop=True)
    current["city"] = current["city"].replace({"pune": "nairobi"})
    built = ReferenceStats.build(reference)
    save(built, tmp_path)
    loaded = load(tmp_path)
    assert loaded is not None
    assert set(loaded.columns) == {"amount", "count", "level", "city", "flag"}  # dates: objects
    fresh = compare(reference, current)
    cached = compare(loaded, current)
    for column in ("amount", "count", "level", "city", "flag"):
        assert cached.column(column).score == fresh.column(column).score
        assert cached.column(column).drifted == fresh.column(column).drifted
    assert cached.column("city").unseen == ("nairobi",)
    assert [s.column for s in cached.skipped] == ["day"]


def test_a_cache_of_another_format_is_rebuilt(tmp_path: Path) -> None:
    save(ReferenceStats.build(pd.DataFrame({"x": [1.0, 2.0]})), tmp_path)
    index = tmp_path / "stats.json"
    index.write_text(index.read_text().replace(f'"format": {CACHE_FORMAT}', '"format": 1'))
    assert load(tmp_path) is None


def test_the_models_predictions_are_cached_beside_the_reference(tmp_path: Path) -> None:
    built = ReferenceStats.build(pd.DataFrame({"x": np.arange(50.0)}))
    built.predictions = ReferenceStats.build(pd.DataFrame({"prediction": np.arange(50) % 2 * 1.0}))
    save(built, tmp_path)
    loaded = load(tmp_path)
    assert loaded is not None and loaded.predictions is not None
    assert list(loaded.predictions.columns) == ["prediction"]
    column = loaded.predictions.columns["prediction"]
    assert column.categories()[1].tolist() == [25, 25]
    (tmp_path / "predictions.npz").unlink()  # half a cache is no cache
    assert load(tmp_path) is None

    without = ReferenceStats.build(pd.DataFrame({"x": [1.0, 2.0]}))
    without.predictions_note = "model m/1 has no input signature"
    save(without, tmp_path / "plain")
    plain = load(tmp_path / "plain")
    assert plain is not None and plain.predictions is None
    assert plain.predictions_note == "model m/1 has no input signature"
