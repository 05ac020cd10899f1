"""The cached reference statistics load back as they were written: same verdicts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_lab.backends.drift import ReferenceStats, compare
from mlops_lab.services.drift import CACHE_FORMAT, _load, _save


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
    _save(built, tmp_path)
    loaded = _load(tmp_path)
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
    _save(ReferenceStats.build(pd.DataFrame({"x": [1.0, 2.0]})), tmp_path)
    index = tmp_path / "stats.json"
    index.write_text(index.read_text().replace(f'"format": {CACHE_FORMAT}', '"format": 1'))
    assert _load(tmp_path) is None
