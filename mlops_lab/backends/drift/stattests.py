"""The drift tests, each on prepared inputs: sorted finite samples for numerical tests,
count vectors aligned on the same keys for the others.

Each mirrors the Evidently 0.7 test of the same name (``evidently.legacy.calculations.
stattests``) so that scores and decisions agree with it: the same binning, the same
zero-filling, the same comparison against the threshold (``<=`` for K-S, ``<`` for the
other p-values, ``>=`` for distances).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Counts = NDArray[np.int64]

METHODS = ("ks", "wasserstein", "jensenshannon", "chisquare", "z", "psi")
NUMERICAL_ONLY = frozenset({"ks", "wasserstein"})
CATEGORICAL_ONLY = frozenset({"chisquare", "z"})
P_VALUES = frozenset({"ks", "chisquare", "z"})
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
# scipy's ks_2samp computes the exact distribution up to this sample size ("auto" mode).
KS_EXACT_MAX = 10_000


def drifted(method: str, score: float, threshold: float) -> bool:
    if method == "ks":
        return score <= threshold
    if method in P_VALUES:
        return score < threshold
    return score >= threshold


def ks(a: Floats, b: Floats) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value of sorted samples (scipy's "auto")."""
    from scipy import stats

    n1, n2 = len(a), len(b)
    if max(n1, n2) <= KS_EXACT_MAX:
        # Small enough that scipy's exact path costs nothing; it is the reference result.
        return float(stats.ks_2samp(a, b).pvalue)
    everything = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, everything, side="right") / n1
    cdf_b = np.searchsorted(b, everything, side="right") / n2
    differences = cdf_a - cdf_b
    d = max(float(np.clip(-differences.min(), 0, 1)), float(differences.max()))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    p = float(stats.kstwo.sf(d, np.round(m * n / (m + n))))
    return min(max(p, 0.0), 1.0)


def wasserstein(a: Floats, b: Floats, reference_std: float) -> float:
    """First Wasserstein distance of sorted samples over max(std of reference, 0.001)."""
    if len(a) == len(b):
        gaps = np.subtract(a, b)
        distance = float(np.abs(gaps, out=gaps).mean())
    else:
        merged = np.concatenate([a, b])
        merged.sort(kind="stable")  # two sorted runs: merged in one pass
        deltas = np.diff(merged)
        cdf_a = np.searchsorted(a, merged[:-1], side="right") / len(a)
        cdf_b = np.searchsorted(b, merged[:-1], side="right") / len(b)
        distance = float(np.sum(np.abs(cdf_a - cdf_b) * deltas))
    return distance / max(reference_std, 0.001)


def sturges_edges(a: Floats, b: Floats) -> Floats:
    """``np.histogram_bin_edges(concat(a, b), "sturges")`` from two sorted samples."""
    low, high = float(min(a[0], b[0])), float(max(a[-1], b[-1]))
    size = len(a) + len(b)
    if low == high:
        low, high = low - 0.5, high + 0.5
        bins = 1
    else:
        width = (high - low) / (np.log2(size) + 1.0)
        bins = math.ceil((high - low) / width)
    return np.linspace(low, high, bins + 1, endpoint=True, dtype=float)


def histogram(sorted_values: Floats, edges: Floats) -> Counts:
    """``np.histogram(values, edges)[0]`` of a sorted sample lying within the edges."""
    inner = np.searchsorted(sorted_values, edges[1:-1], side="left")
    return np.diff(np.concatenate([[0], inner, [len(sorted_values)]])).astype(np.int64)


def fill_zeroes(shares: Floats) -> Floats:
    """Evidently's replacement of empty bins before a log: a millionth of the smallest
    share when that is at most 1e-4, else 1e-4."""
    smallest = float(shares[shares != 0].min())
    filled = shares.copy()
    filled[filled == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return filled


def jensenshannon(reference: Counts, current: Counts, n_reference: int, n_current: int) -> float:
    """Jensen-Shannon distance (natural log) of the shares in each bin or category, as
    ``scipy.spatial.distance.jensenshannon`` computes it (shares renormalised to sum 1)."""
    p = reference / n_reference
    q = current / n_current
    p, q = p / p.sum(), q / q.sum()
    middle = (p + q) / 2.0
    divergence = _relative_entropy(p, middle) + _relative_entropy(q, middle)
    return float(np.sqrt(divergence / 2.0))


def _relative_entropy(p: Floats, q: Floats) -> float:
    """sum of p log(p/q), with 0 log 0 = 0 (q > 0 wherever p > 0 here)."""
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / q[present])))


def psi(reference: Counts, current: Counts, n_reference: int, n_current: int) -> float:
    """Population stability index of the shares in each bin or category."""
    ref = fill_zeroes(reference / n_reference)
    cur = fill_zeroes(current / n_current)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def chisquare(reference: Counts, current: Counts) -> float:
    """Chi-square p-value of the current counts against the reference shares."""
    from scipy import stats

    expected = reference * (current.sum() / reference.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(current, expected)[1])


def z(reference: Counts, current: Counts) -> float:
    """Two-proportion z-test p-value; ``reference[0]``/``current[0]`` count the first key in
    sorted order (the test is symmetric, so which key is first does not change the result)."""
    from scipy.stats import norm

    single = np.count_nonzero(reference) == 1 and np.count_nonzero(current) == 1
    if single and np.flatnonzero(reference)[0] == np.flatnonzero(current)[0]:
        return 1.0
    n1, n2 = int(reference.sum()), int(current.sum())
    p1 = float(n1 - int(reference[0])) / n1
    p2 = float(n2 - int(current[0])) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    statistic = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(statistic))))
