"""Synthetic data for the drift benchmarks: the same files feed mlops-lab and Evidently.

``branch_cases()`` covers every branch of Evidently 0.7's default test choice; ``wide()``
is the 1M x 25 (or x 100) speed case with a mix of numerical and categorical columns.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd


def _with_missing(values: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    values = values.astype(float)
    holes = rng.random(len(values)) < share
    values[holes] = rng.choice([np.nan, np.inf, -np.inf], int(holes.sum()))
    return values


def _frame(n: int, rng: np.random.Generator, shifted: bool, extra_value: bool) -> pd.DataFrame:
    shift = 0.35 if shifted else 0.0
    letters = np.array(list("abcdefghijklmnop"))
    cats = rng.choice(letters[:12], n, p=None if not shifted else _skew(12))
    if extra_value:
        cats[rng.random(n) < 0.02] = "zz-unseen"
    five = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n)
    if extra_value:
        five[rng.random(n) < 0.05] = 6.0  # n over both samples becomes 6
    return pd.DataFrame(
        {
            "num_same": rng.normal(0, 1, n),
            "num_shift": rng.normal(shift, 1, n),
            "num_nan": _with_missing(rng.gamma(2.0, 1.0 + shift, n), rng, 0.05),
            "num_four": rng.choice([0.5, 1.5, 2.5, 3.5], n, p=_skew(4) if shifted else None),
            "num_three": rng.choice([0.0, 1.0, 2.0], n),
            "num_two": rng.choice([0.0, 1.0], n, p=[0.5 - shift / 2, 0.5 + shift / 2]),
            "num_five_plus": five,
            "int_seven": rng.integers(0, 7, n),
            "int_many": rng.integers(0, 40, n) + (3 if shifted else 0),
            "flag": rng.random(n) < (0.3 + shift / 3),
            "city": cats,
            "yes_no": np.where(rng.random(n) < 0.4 + shift / 4, "yes", "no"),
            "one_value": np.full(n, "same"),
        }
    )


def _skew(k: int) -> np.ndarray:
    weights = np.arange(1, k + 1, dtype=float)
    return weights / weights.sum()


def branch_cases() -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(name, reference, current) for small and large references, equal and unequal sizes,
    drifted and not, with NaN, ±inf and unseen values."""
    cases = []
    for name, n_ref, n_cur, shifted, extra in [
        ("small ref, same", 600, 700, False, False),
        ("small ref, shifted + unseen", 800, 900, True, True),
        ("small ref, large current (asymptotic K-S)", 1000, 12_000, True, False),
        ("large ref, equal sizes", 5000, 5000, False, False),
        ("large ref, shifted, equal sizes", 5000, 5000, True, True),
        ("large ref, unequal sizes", 20_000, 7_000, True, True),
    ]:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        reference = _frame(n_ref, rng, False, False)
        current = _frame(n_cur, rng, shifted, extra)
        cases.append((name, reference, current))
    return cases


def wide(rows: int, columns: int, seed: int = 0, shifted: bool = False) -> pd.DataFrame:
    """``columns`` columns: four in five float, the rest small-integer categories."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for i in range(columns):
        if i % 5 == 4:
            data[f"c{i}"] = rng.integers(0, 8, rows)
        else:
            data[f"f{i}"] = rng.normal(0.1 * shifted * (i % 3), 1.0, rows)
    return pd.DataFrame(data)
