"""Compare a reference with a current sample column by column, with Evidently 0.7's default
choice of test per column unless told otherwise.

Default choice (``evidently.legacy.calculations.stattests.registry._get_default_stattest``),
with n = distinct values of the column over both samples:

- reference of at most 1,000 rows: numerical with n > 5 -> K-S; otherwise chi-square
  (n > 2) or the two-proportion z-test (n <= 2);
- larger reference: numerical with n > 5 -> normed Wasserstein; otherwise Jensen-Shannon;
- the dataset drifts when the share of drifted columns is at least ``drift_share``.

Columns run in parallel threads: sorting and searching release the GIL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_lab.backends.drift import stattests
from mlops_lab.backends.drift.columns import (
    CATEGORICAL,
    FEW_DISTINCT,
    NUMERICAL,
    TEXT,
    PreparedColumn,
    align,
    comparable,
    infer_kind,
    kind_name,
    prepare,
)
from mlops_lab.errors import UsageError

SMALL_REFERENCE = 1_000
JS_BIN_MIN_DISTINCT = 20  # numerical columns with more distinct reference values are binned
SKETCH_BINS = 24
SKETCH_CATEGORIES = 8


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column, with what the report draws."""

    column: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    reference_missing: int
    current_missing: int
    unseen: tuple[str, ...] = ()
    """Current values the reference never had (at most 10 shown; ``unseen_count`` has all)."""
    unseen_count: int = 0
    sketch: dict[str, Any] = field(default_factory=dict, repr=False)
    """Histogram (numerical) or category shares (categorical) of both samples."""


@dataclass(frozen=True)
class Skipped:
    column: str
    reason: str


@dataclass
class ReferenceStats:
    """A reference sample, prepared once: what is cached per model version. Columns of
    types that are never tested (datetimes) are left out."""

    columns: dict[str, PreparedColumn]
    rows: int
    source: dict[str, str] = field(default_factory=dict)
    """Where the reference came from (data commit, paths)."""
    untested: list[str] = field(default_factory=list)
    """Columns of the reference that are not tested (datetimes, Python objects)."""
    predictions: ReferenceStats | None = None
    """A model's own predictions on this sample (one column, ``prediction``), when the
    reference is a model's training data."""
    predictions_note: str = ""
    """Why ``predictions`` is missing."""

    @classmethod
    def build(
        cls, frame: Any, columns: Iterable[str] | None = None, workers: int | None = None
    ) -> ReferenceStats:
        _check_frame(frame, "reference")
        names = list(columns) if columns is not None else [str(c) for c in frame.columns]
        tested = [name for name in names if _testable(frame[name])]

        def one(name: str) -> PreparedColumn:
            column = prepare(frame[name], name)
            if column.numeric and column.size:
                column.standard_deviation()  # part of what is cached
            return column

        prepared = _parallel(one, tested, workers)
        untested = [name for name in names if name not in tested]
        return cls({c.name: c for c in prepared}, len(frame), untested=untested)


@dataclass(frozen=True)
class Options:
    """Which test each column gets and where its threshold lies."""

    method: str | None = None
    tests: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    drift_share: float = 0.5

    def __post_init__(self) -> None:
        for where, method in [("method", self.method), *self.tests.items()]:
            if method is not None and method not in stattests.METHODS:
                raise UsageError(
                    f"'{method}' ({where}) is not a drift test; use one of "
                    + ", ".join(stattests.METHODS)
                )
        for key, value in self.thresholds.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise UsageError(f"threshold for '{key}' must be a number >= 0, got {value!r}")
        if not 0 < self.drift_share <= 1:
            raise UsageError(f"drift_share must be in (0, 1], got {self.drift_share!r}")

    def threshold(self, column: str, method: str) -> float:
        for key in (column, method):
            if key in self.thresholds:
                return float(self.thresholds[key])
        return stattests.DEFAULT_THRESHOLDS[method]


@dataclass
class Comparison:
    """Per-column verdicts and the dataset's."""

    columns: list[ColumnDrift]
    skipped: list[Skipped]
    drift_share: float
    reference_rows: int
    current_rows: int
    seconds: float
    title: str = ""
    """What was compared, e.g. "fraud v3: training data vs last 1h of predictions"."""
    meta: dict[str, str] = field(default_factory=dict)
    """Where both samples came from (model, version, data commit, window, run id)."""

    def __repr__(self) -> str:
        from mlops_lab.backends.drift import report

        return report.text(self, self.title)

    def _repr_html_(self) -> str:
        from mlops_lab.backends.drift import report

        return report.render(self, self.title)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the report as one standalone HTML file (no scripts); returns its path."""
        from pathlib import Path

        from mlops_lab.backends.drift import report

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(report.page(self, self.title), encoding="utf-8")
        os.replace(temporary, target)
        return str(target)

    def column(self, name: str) -> ColumnDrift:
        for column in self.columns:
            if column.column == name:
                return column
        raise UsageError(f"no tested column '{name}'; have {_few(self.names)}")

    @property
    def names(self) -> list[str]:
        return [c.column for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no sketches)."""
        return {
            "title": self.title,
            "meta": dict(self.meta),
            "dataset_drift": self.dataset_drift,
            "share": self.share,
            "drift_share": self.drift_share,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [
                {k: v for k, v in vars(c).items() if k != "sketch"} | {"unseen": list(c.unseen)}
                for c in self.columns
            ],
            "skipped": {s.column: s.reason for s in self.skipped},
        }

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.share >= self.drift_share


def compare(
    reference: Any,
    current: Any,
    columns: Iterable[str] | None = None,
    column_types: Mapping[str, str] | None = None,
    options: Options | None = None,
    workers: int | None = None,
) -> Comparison:
    """Compare ``current`` (a DataFrame) with ``reference`` (a DataFrame or ReferenceStats)."""
    started = time.perf_counter()
    options = options or Options()
    column_types = dict(column_types or {})
    _check_frame(current, "current")
    if isinstance(reference, ReferenceStats):
        available = [*reference.columns, *reference.untested]
        reference_rows = reference.rows
    else:
        _check_frame(reference, "reference")
        available = [str(c) for c in reference.columns]
        reference_rows = len(reference)
    names = _columns(available, [str(c) for c in current.columns], columns)
    if not len(current):
        raise UsageError("the current data has no rows (empty window?); widen the window")
    if not reference_rows:
        raise UsageError("the reference data has no rows; check where it is read from")
    for name in column_types:
        if name not in names:
            raise UsageError(f"column_types names '{name}', which is not compared")

    def one(name: str) -> ColumnDrift | Skipped:
        if not _testable(current[name]):
            return Skipped(name, "not a numerical or categorical column")
        if isinstance(reference, ReferenceStats):
            ref = reference.columns.get(name)
        else:
            ref = prepare(reference[name], name) if _testable(reference[name]) else None
        if ref is None:
            return Skipped(name, "not a numerical or categorical column")
        cur = prepare(current[name], name)
        comparable(ref, cur)
        # Evidently types each column by the current sample.
        if name in column_types:
            kind = kind_name(column_types[name], name)
        else:
            kind = infer_kind(current[name], cur)
        if kind == TEXT:
            return Skipped(
                name,
                "text (most values distinct; Evidently runs a text-content test); pass "
                f"column_types={{'{name}': 'categorical'}} to compare its values",
            )
        if kind == NUMERICAL and not (ref.numeric and cur.numeric):
            raise UsageError(
                f"column '{name}' holds {cur.value_type if ref.numeric else ref.value_type} "
                "values where numbers are expected (mixed types); convert it, or pass "
                f"column_types={{'{name}': 'categorical'}}"
            )
        if not ref.size or not cur.size:
            side = "reference" if not ref.size else "current data"
            return Skipped(name, f"all values missing in the {side}")
        return _compare_column(ref, cur, kind, options)

    results = _parallel(one, names, workers)
    explicit = columns is not None
    checked = [r for r in results if isinstance(r, ColumnDrift)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    if skipped and (explicit or not checked):
        first = skipped[0]
        raise UsageError(
            f"column '{first.column}' cannot be compared: {first.reason}; "
            + ("drop it from columns=" if explicit else "check the data")
        )
    return Comparison(
        checked,
        skipped,
        options.drift_share,
        reference_rows,
        len(current),
        time.perf_counter() - started,
    )


def choose_method(kind: str, reference_rows: int, distinct: int) -> str:
    """Evidently 0.7's default test for a column (``distinct`` over both samples)."""
    if reference_rows <= SMALL_REFERENCE:
        if kind == NUMERICAL and distinct > 5:
            return "ks"
        return "chisquare" if distinct > 2 else "z"
    if kind == NUMERICAL and distinct > 5:
        return "wasserstein"
    return "jensenshannon"


def _compare_column(
    ref: PreparedColumn, cur: PreparedColumn, kind: str, options: Options
) -> ColumnDrift:
    name = ref.name
    method = options.tests.get(name) or options.method
    if method is None:
        # Evidently counts rows of the cleaned reference column.
        method = choose_method(kind, ref.size, _distinct_over_both(ref, cur))
    if kind == CATEGORICAL and method in stattests.NUMERICAL_ONLY:
        raise UsageError(f"test '{method}' needs a numerical column; '{name}' is categorical")
    threshold = options.threshold(name, method)
    unseen: Any = np.array([])
    if method == "ks":
        score = stattests.ks(ref.sorted_values(), cur.sorted_values())
    elif method == "wasserstein":
        score = stattests.wasserstein(
            ref.sorted_values(), cur.sorted_values(), ref.standard_deviation()
        )
    else:
        ref_counts, cur_counts, unseen = _binned(ref, cur, kind)
        if method == "jensenshannon":
            score = stattests.jensenshannon(ref_counts, cur_counts, ref.size, cur.size)
        elif method == "psi":
            score = stattests.psi(ref_counts, cur_counts, ref.size, cur.size)
        elif method == "chisquare":
            score = stattests.chisquare(ref_counts, cur_counts)
        else:
            score = stattests.z(ref_counts, cur_counts)
    if kind == CATEGORICAL and not len(unseen):
        _, _, _, unseen = align(ref, cur)
    return ColumnDrift(
        column=name,
        kind=kind,
        method=method,
        score=score,
        threshold=threshold,
        drifted=stattests.drifted(method, score, threshold),
        reference_rows=ref.rows,
        current_rows=cur.rows,
        reference_missing=ref.missing,
        current_missing=cur.missing,
        unseen=tuple(str(u) for u in unseen[:10]),
        unseen_count=len(unseen),
        sketch=_sketch(ref, cur, kind),
    )


def _distinct_over_both(ref: PreparedColumn, cur: PreparedColumn) -> int:
    if ref.distinct > FEW_DISTINCT or cur.distinct > FEW_DISTINCT:
        return ref.distinct + cur.distinct  # one side alone has many: enough to decide
    keys, _, _, _ = align(ref, cur)
    return len(keys)


def _binned(ref: PreparedColumn, cur: PreparedColumn, kind: str) -> tuple[Any, Any, Any]:
    """Counts per bin or value for JS/PSI/chi-square/z, as Evidently bins them: Sturges bins
    over both samples for numerical columns with more than 20 distinct reference values,
    else one bin per value."""
    if kind == NUMERICAL and ref.distinct > JS_BIN_MIN_DISTINCT:
        ref_values, cur_values = ref.sorted_values(), cur.sorted_values()
        edges = stattests.sturges_edges(ref_values, cur_values)
        return (
            stattests.histogram(ref_values, edges),
            stattests.histogram(cur_values, edges),
            np.array([]),
        )
    _, ref_counts, cur_counts, unseen = align(ref, cur)
    return ref_counts, cur_counts, (unseen if kind == CATEGORICAL else np.array([]))


def _sketch(ref: PreparedColumn, cur: PreparedColumn, kind: str) -> dict[str, Any]:
    """What the report draws: a shared-bin histogram, or the largest categories' shares."""
    if kind == NUMERICAL:
        ref_values, cur_values = ref.sorted_values(), cur.sorted_values()
        low = float(min(ref_values[0], cur_values[0]))
        high = float(max(ref_values[-1], cur_values[-1]))
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, SKETCH_BINS + 1)
        return {
            "edges": edges.tolist(),
            "reference": (stattests.histogram(ref_values, edges) / ref.size).tolist(),
            "current": (stattests.histogram(cur_values, edges) / cur.size).tolist(),
        }
    keys, ref_counts, cur_counts, _ = align(ref, cur)
    ref_shares, cur_shares = ref_counts / ref.size, cur_counts / cur.size
    top = np.argsort(-(ref_shares + cur_shares), kind="stable")[:SKETCH_CATEGORIES]
    sketch = {
        "keys": [str(k) for k in keys[top]],
        "reference": ref_shares[top].tolist(),
        "current": cur_shares[top].tolist(),
    }
    if len(keys) > SKETCH_CATEGORIES:
        sketch["keys"].append(f"other ({len(keys) - SKETCH_CATEGORIES})")
        sketch["reference"].append(float(1 - ref_shares[top].sum()))
        sketch["current"].append(float(1 - cur_shares[top].sum()))
    return sketch


def _check_frame(frame: Any, what: str) -> None:
    if not (hasattr(frame, "columns") and hasattr(frame, "dtypes")):
        raise UsageError(
            f"the {what} data must be a pandas DataFrame, got {type(frame).__name__}; "
            "wrap it in pandas.DataFrame(...)"
        )


def _columns(reference: list[str], current: list[str], wanted: Iterable[str] | None) -> list[str]:
    if wanted is None:
        in_current = set(current)
        names = [c for c in reference if c in in_current]
        if not names:
            raise UsageError(
                "the reference and the current data have no common columns (reference: "
                f"{_few(reference)}; current: {_few(current)}); rename them or read the "
                "right data"
            )
        return names
    names = [str(c) for c in wanted]
    if not names:
        raise UsageError("columns= is empty; name at least one column, or leave it out")
    for name in names:
        for side, have in (("reference", reference), ("current data", current)):
            if name not in have:
                raise UsageError(f"column '{name}' is not in the {side}; have {_few(have)}")
    return names


def _few(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") or "none"


def _testable(series: Any) -> bool:
    import pandas as pd

    dtype = series.dtype
    return not (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or pd.api.types.is_complex_dtype(dtype)
    )


def _parallel(function: Any, items: list[str], workers: int | None) -> list[Any]:
    workers = workers or min(len(items), os.cpu_count() or 1)
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
        return list(pool.map(function, items))
