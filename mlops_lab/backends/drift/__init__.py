"""The drift engine: Evidently 0.7's default decisions, vectorised (no service imports).

``compare(reference, current)`` takes DataFrames, or a ``ReferenceStats`` prepared once for
the reference; the result renders as a small static HTML report.
"""

from mlops_lab.backends.drift.engine import (
    ColumnDrift,
    Comparison,
    Options,
    ReferenceStats,
    Skipped,
    choose_method,
    compare,
)

__all__ = [
    "ColumnDrift",
    "Comparison",
    "Options",
    "ReferenceStats",
    "Skipped",
    "choose_method",
    "compare",
]
