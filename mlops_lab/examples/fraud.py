"""The quickstart's synthetic card-fraud data: transactions, per-card daily spend features,
and labels, deterministic for a given (rows, seed).

Tables (all timestamps tz-aware UTC):
- transactions: transaction_id, card_id, event_timestamp, amount, merchant_category, is_fraud
- card_features: card_id, event_timestamp (end of each day), spend_7d, txn_count_7d,
  avg_amount_7d, max_amount_7d  -- a 7-day rolling window over the card's transactions
- labels: card_id, event_timestamp, amount, is_fraud  -- one row per transaction, the entity
  frame for point-in-time joins
"""

from __future__ import annotations

from typing import Any

START = "2026-01-01"
DAYS = 60
CARDS_PER_1000_ROWS = 25
CATEGORIES = ("grocery", "fuel", "online", "travel", "electronics", "restaurant")


def make_transactions(rows: int = 2000, seed: int = 7) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cards = max(4, rows * CARDS_PER_1000_ROWS // 1000)
    card_id = rng.integers(1, cards + 1, size=rows)
    risky = (card_id % 7) == 0  # a fixed subset of cards is compromised more often
    seconds = rng.integers(0, DAYS * 86_400, size=rows)
    timestamps = pd.Timestamp(START, tz="UTC") + pd.to_timedelta(np.sort(seconds), unit="s")
    category = rng.choice(np.array(CATEGORIES), size=rows)
    amount = np.round(rng.lognormal(mean=3.5, sigma=0.8, size=rows), 2)
    score = (
        0.02
        + 0.25 * risky
        + 0.15 * (amount > 120)
        + 0.1 * np.isin(category, ["online", "electronics"])
    )
    is_fraud = (rng.random(rows) < score).astype("int64")
    amount = np.where(is_fraud == 1, np.round(amount * rng.uniform(1.5, 4.0, size=rows), 2), amount)
    return pd.DataFrame(
        {
            "transaction_id": np.arange(1, rows + 1, dtype="int64"),
            "card_id": card_id.astype("int64"),
            "event_timestamp": timestamps,
            "amount": amount,
            "merchant_category": category,
            "is_fraud": is_fraud,
        }
    )


def card_features(transactions: Any) -> Any:
    """Per card and day: spend, count, mean and max amount over the trailing 7 days."""
    import pandas as pd

    tx = transactions.set_index("event_timestamp").sort_index()
    frames = []
    for card, group in tx.groupby("card_id"):
        daily = group["amount"].resample("1D").agg(["sum", "count", "max"])
        window = daily.rolling(7, min_periods=1)
        frame = pd.DataFrame(
            {
                "spend_7d": window["sum"].sum(),
                "txn_count_7d": window["count"].sum().astype("int64"),
                "max_amount_7d": window["max"].max().fillna(0.0),
            }
        )
        frame["avg_amount_7d"] = (frame["spend_7d"] / frame["txn_count_7d"].clip(lower=1)).round(2)
        frame["card_id"] = card
        # A day's aggregate is known only once the day is over.
        frame.index = frame.index + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        frames.append(frame)
    out = pd.concat(frames).rename_axis("event_timestamp").reset_index()
    columns = [
        "card_id",
        "event_timestamp",
        "spend_7d",
        "txn_count_7d",
        "avg_amount_7d",
        "max_amount_7d",
    ]
    return out[columns].sort_values(["event_timestamp", "card_id"]).reset_index(drop=True)


def labels(transactions: Any) -> Any:
    return transactions[["card_id", "event_timestamp", "amount", "is_fraud"]].reset_index(drop=True)


def make_shifted_transactions(rows: int = 2000, seed: int = 8) -> Any:
    """Transactions eight months later, with 2026's new fraud patterns: larger amounts, more
    online and electronics spending, and a merchant category the training data never had
    ("crypto"), where much of the new fraud happens."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = make_transactions(rows, seed)
    frame["event_timestamp"] = frame["event_timestamp"] + pd.Timedelta(days=240)
    frame["amount"] = np.round(frame["amount"] * rng.lognormal(0.35, 0.25, size=rows), 2)
    moved = rng.random(rows) < 0.35
    frame.loc[moved, "merchant_category"] = rng.choice(
        np.array(["online", "electronics", "crypto"]), size=int(moved.sum()), p=[0.45, 0.35, 0.2]
    )
    new_fraud = moved & (frame["merchant_category"] == "crypto") & (rng.random(rows) < 0.5)
    frame.loc[new_fraud, "is_fraud"] = 1
    return frame
