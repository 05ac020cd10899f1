"""One column of one sample, prepared once for every test: typed, cleaned of NaN and ±inf,
sorted (numerical) or counted per category (categorical).

A reference's prepared columns are what the lab caches per model version, so a repeated
check only prepares the current window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_lab.errors import UsageError

NUMERICAL = "numerical"
CATEGORICAL = "categorical"
TEXT = "text"
KINDS = (NUMERICAL, CATEGORICAL)
# An integer column with at most this many distinct values is categorical (Evidently's rule).
CATEGORICAL_MAX_INTEGERS = 10
# Numerical columns keep their distinct values and counts when they have at most this many.
FEW_DISTINCT = 32

_KIND_NAMES = {"num": NUMERICAL, "numerical": NUMERICAL, "cat": CATEGORICAL}
_KIND_NAMES[CATEGORICAL] = CATEGORICAL


@dataclass
class PreparedColumn:
    """One side of one column. Numbers keep their finite values sorted (``values``), or,
    for integers in a small range, counted per value (``keys``/``counts``, from which the
    sorted values are rebuilt in one pass when a test needs them). Other columns keep
    ``keys`` (distinct values) and ``counts``."""

    name: str
    rows: int
    missing: int
    values: NDArray[np.float64] | None = None
    keys: NDArray[Any] | None = None
    counts: NDArray[np.int64] | None = None
    distinct: int = 0
    std: float | None = None
    value_type: str = ""
    """"number", or pandas' inferred type of the values (string, boolean, ...)."""

    @property
    def size(self) -> int:
        """Rows left after dropping missing values."""
        return self.rows - self.missing

    @property
    def numeric(self) -> bool:
        return self.value_type == "number"

    def sorted_values(self) -> NDArray[np.float64]:
        if self.values is None:
            assert self.keys is not None and self.counts is not None
            self.values = np.repeat(self.keys.astype(np.float64), self.counts)
        return self.values

    def standard_deviation(self) -> float:
        if self.std is None:
            if self.values is None and self.keys is not None and self.counts is not None:
                keys = self.keys.astype(np.float64)
                mean = float(keys @ self.counts) / self.size
                self.std = float(np.sqrt(((keys - mean) ** 2) @ self.counts / self.size))
            else:
                self.std = float(np.std(self.sorted_values()))
        return self.std

    def categories(self) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """Distinct values and their counts (from the sorted values when not kept)."""
        if self.keys is None or self.counts is None:
            assert self.values is not None
            self.keys, self.counts = _runs(self.values)
        return self.keys, self.counts


def _runs(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distinct values of a sorted array and how often each occurs."""
    if not len(values):
        return values[:0], np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
    return values[starts], np.diff(np.concatenate([starts, [len(values)]])).astype(np.int64)


def kind_name(value: str, column: str) -> str:
    kind = _KIND_NAMES.get(str(value).lower())
    if kind is None:
        raise UsageError(
            f"column_types['{column}'] = {value!r} is not a column type; use 'numerical' or "
            "'categorical'"
        )
    return kind


def infer_kind(series: Any, column: PreparedColumn) -> str:
    """Evidently's typing (``evidently.core.datasets.infer_column_type``, applied to the
    current sample): floats are numerical, integers too unless they have at most 10
    distinct values; booleans and categories are categorical, and so are strings unless
    more than half of the values are distinct, which makes them text (not tested here)."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return CATEGORICAL
    if pd.api.types.is_integer_dtype(dtype):
        return CATEGORICAL if column.distinct <= CATEGORICAL_MAX_INTEGERS else NUMERICAL
    if pd.api.types.is_float_dtype(dtype):
        return NUMERICAL
    if column.value_type == "string" and column.distinct > column.size * 0.5:
        return TEXT
    return CATEGORICAL


def is_number(series: Any) -> bool:
    import pandas as pd

    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def prepare(series: Any, name: str) -> PreparedColumn:
    """Drop NaN and ±inf, then sort numbers (count small-range integers) or count the
    values of anything else."""
    import pandas as pd

    rows = len(series)
    if is_number(series):
        raw = series.to_numpy()
        if raw.dtype.kind in "iu" and len(raw):
            low, high = int(raw.min()), int(raw.max())
            if high - low <= 4 * len(raw) + 1024:  # bounded memory: bincount, no sort
                counts = np.bincount(raw - low if low else raw)
                present = np.flatnonzero(counts)
                return PreparedColumn(
                    name,
                    rows,
                    0,
                    keys=present + low,
                    counts=counts[present].astype(np.int64),
                    distinct=len(present),
                    value_type="number",
                )
        raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(raw)
        values = np.sort(raw) if finite.all() else np.sort(raw[finite])
        column = PreparedColumn(name, rows, rows - len(values), values=values, value_type="number")
        if len(values):
            column.distinct = int(np.count_nonzero(values[1:] != values[:-1])) + 1
            if column.distinct <= FEW_DISTINCT:
                column.categories()
        return column

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    present = codes[codes >= 0]
    counts = np.bincount(present, minlength=len(uniques)).astype(np.int64)
    keys = np.asarray(uniques.to_numpy() if hasattr(uniques, "to_numpy") else uniques)
    value_type = pd.api.types.infer_dtype(keys, skipna=True) if len(keys) else "empty"
    if value_type in ("mixed", "mixed-integer"):
        kinds = sorted({type(k).__name__ for k in keys.tolist()})
        raise UsageError(
            f"column '{name}' mixes types ({', '.join(kinds)}); convert it to one type "
            "before comparing"
        )
    if value_type in ("integer", "floating", "mixed-integer-float", "decimal"):
        value_type = "number"
    return PreparedColumn(
        name,
        rows,
        rows - len(present),
        keys=keys,
        counts=counts,
        distinct=len(keys),
        value_type=value_type,
    )


def comparable(reference: PreparedColumn, current: PreparedColumn) -> None:
    """Refuse columns whose two sides hold values of different types (e.g. numbers in the
    reference, text in the current sample)."""
    left, right = reference.value_type, current.value_type
    if "empty" in (left, right) or left == right:
        return
    raise UsageError(
        f"column '{reference.name}' holds {left} values in the reference and {right} values "
        "in the current data (mixed types); convert one side before comparing"
    )


def align(
    reference: PreparedColumn, current: PreparedColumn
) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.int64], NDArray[Any]]:
    """Counts of both sides on the union of their keys, sorted; and the current keys the
    reference never saw."""
    import pandas as pd

    ref_keys, ref_counts_only = reference.categories()
    cur_keys, cur_counts_only = current.categories()
    position = pd.Index(ref_keys).get_indexer(cur_keys)
    unseen = position < 0
    keys = np.concatenate([ref_keys, cur_keys[unseen]])
    ref_counts = np.concatenate([ref_counts_only, np.zeros(int(unseen.sum()), np.int64)])
    cur_counts = np.zeros(len(keys), np.int64)
    cur_counts[position[~unseen]] = cur_counts_only[~unseen]
    cur_counts[len(ref_keys) :] = cur_counts_only[unseen]
    try:
        order = np.argsort(keys, kind="stable")
    except TypeError:
        order = np.argsort(np.array([str(k) for k in keys]), kind="stable")
    return keys[order], ref_counts[order], cur_counts[order], cur_keys[unseen]
