"""Point-in-time retrieval against a brute-force oracle, pinning to data commits, and the
report of the rows Feast drops."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_lab import lineage
from mlops_lab.examples import fraud

FEATURES = ["spend_7d", "txn_count_7d", "avg_amount_7d", "max_amount_7d"]
TTL = timedelta(days=2)


def oracle(entity: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Brute force: per entity row, the latest feature row of its card in [ts - ttl, ts]."""
    out = []
    by_card = {card: group for card, group in rows.groupby("card_id")}
    for card, ts in zip(entity["card_id"], entity["event_timestamp"], strict=True):
        group = by_card.get(card)
        hit = None
        if group is not None:
            window = group[
                (group["event_timestamp"] <= ts) & (group["event_timestamp"] >= ts - TTL)
            ]
            if len(window):
                hit = window.loc[window["event_timestamp"].idxmax()]
        out.append(
            {
                "card_id": card,
                "event_timestamp": ts,
                "feature_ts": None if hit is None else hit["event_timestamp"],
                **{f: (np.nan if hit is None else hit[f]) for f in FEATURES},
            }
        )
    return pd.DataFrame(out)


def test_point_in_time_matches_brute_force_oracle(fraud_lab: dict[str, Any]) -> None:
    lab = fraud_lab["lab"]
    rows = lab.data.read_table("fraud/card_features.parquet", fraud_lab["commit"])
    rng = np.random.default_rng(11)
    cards = rng.choice(rows["card_id"].unique(), size=1000)
    start = pd.Timestamp(fraud.START, tz="UTC")
    seconds = rng.integers(0, (fraud.DAYS + 3) * 86_400, size=1000)
    entity = pd.DataFrame(
        {
            "card_id": cards.astype("int64"),
            "event_timestamp": start + pd.to_timedelta(seconds, unit="s"),
            "row": np.arange(1000),
        }
    )
    got = lab.features.historical(entity, [f"card_daily:{f}" for f in FEATURES])
    expected = oracle(entity, rows).assign(row=np.arange(1000))
    have = expected.dropna(subset=["feature_ts"])
    # Feast keeps exactly the rows the oracle finds a feature row for (the rest it drops,
    # and the lab reports them), and their values agree.
    assert sorted(got["row"]) == sorted(have["row"])
    merged = have.merge(got, on="row", suffixes=("_oracle", ""))
    mismatches = sum(int((~np.isclose(merged[f"{f}_oracle"], merged[f])).sum()) for f in FEATURES)
    assert mismatches == 0
    assert (merged["feature_ts"] <= merged["event_timestamp"]).all()
    assert got.attrs["mlops.dropped"]["count"] == 1000 - len(have)


def test_no_feature_is_later_than_its_label(fraud_lab: dict[str, Any]) -> None:
    lab = fraud_lab["lab"]
    labels = lab.data.read_table("fraud/labels.parquet", fraud_lab["commit"])
    rows = lab.data.read_table("fraud/card_features.parquet", fraud_lab["commit"])
    got = lab.features.historical(labels, "fraud_v1")
    # Find each returned value's feature row: its timestamp must not pass the label's.
    joined = pd.merge_asof(
        got.sort_values("event_timestamp"),
        rows.rename(columns={"event_timestamp": "feature_ts"}).sort_values("feature_ts"),
        left_on="event_timestamp",
        right_on="feature_ts",
        by="card_id",
        direction="backward",
        suffixes=("", "_row"),
    )
    assert joined["feature_ts"].notna().all()
    assert (joined["feature_ts"] <= joined["event_timestamp"]).all()
    assert np.isclose(joined["spend_7d"], joined["spend_7d_row"]).all()


def test_dropped_rows_are_counted_and_explained(
    fraud_lab: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    lab = fraud_lab["lab"]
    labels = lab.data.read_table("fraud/labels.parquet", fraud_lab["commit"])
    labels = labels.iloc[:-1]  # rows no other test asks for: a notice no test has seen
    got = lab.features.historical(labels, "fraud_v1")
    lab.features.historical(labels, "fraud_v1")  # the same notice is not shown twice
    dropped = got.attrs["mlops.dropped"]
    assert dropped["count"] == len(labels) - len(got) > 0
    first_row = (
        lab.data.read_table("fraud/card_features.parquet", fraud_lab["commit"])
        .groupby("card_id")["event_timestamp"]
        .min()
    )
    early = int((labels["event_timestamp"] < labels["card_id"].map(first_row)).sum())
    assert dropped["reasons"] == {"earlier than the first card_daily row for their key": early}
    shown = capsys.readouterr()
    notice = f"note: Feast dropped {dropped['count']:,} of {len(labels):,} entity rows"
    assert shown.out.count(notice) == 1, shown.out
    assert "Feast dropped" not in shown.err


def test_pinned_data_ref_returns_identical_frames_after_main_moves(
    fraud_lab: dict[str, Any],
) -> None:
    lab = fraud_lab["lab"]
    commit = fraud_lab["commit"]
    labels = lab.data.read_table("fraud/labels.parquet", commit)
    key = ["card_id", "event_timestamp"]
    before = lab.features.historical(labels, "fraud_v1", data_ref=commit)
    before = before.sort_values(key).reset_index(drop=True)

    moved = fraud.make_transactions(3000, 99)
    lab.data.write_table(fraud.card_features(moved), "fraud/card_features.parquet")
    new_head = lab.data.commit(message="fraud data v2")
    assert new_head != commit
    lab.features.apply()  # the registry now reads main's new head

    after = lab.features.historical(labels, "fraud_v1", data_ref=commit)
    pd.testing.assert_frame_equal(before, after.sort_values(key).reset_index(drop=True))
    on_main = lab.features.historical(labels, "fraud_v1").sort_values(key).reset_index(drop=True)
    assert len(on_main) != len(before) or not on_main.equals(before)
    # And the catalogue says which commit the registry reads now.
    assert lab.features.list().views[0].data_commit == new_head


def test_historical_notes_lineage(fraud_lab: dict[str, Any]) -> None:
    lab = fraud_lab["lab"]
    commit = fraud_lab["commit"]
    labels = lab.data.read_table("fraud/labels.parquet", commit).head(200)
    with lineage.collecting() as seen:
        lab.features.historical(labels, "fraud_v1", data_ref=commit)
    tags = seen.tags()
    assert tags[lineage.FEATURES_VIEWS] == "card_daily"
    assert tags[lineage.FEATURES_SERVICE] == "fraud_v1"
    assert tags[lineage.FEATURES_DATA_REF] == commit
    assert commit in tags[lineage.DATA_COMMIT].split(",")
