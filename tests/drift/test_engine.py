"""The engine's decisions on every branch of Evidently 0.7's default test choice, each score
checked against scipy (or numpy's histogram where scipy has no such test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from mlops_lab.backends.drift import ReferenceStats, compare
from mlops_lab.backends.drift.engine import Options
from mlops_lab.errors import UsageError

rng = np.random.default_rng(7)


def frames(reference: dict, current: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(reference), pd.DataFrame(current)


def shares(series: pd.Series, keys: list) -> np.ndarray:
    counts = series.value_counts()
    return np.array([counts.get(k, 0) for k in keys]) / len(series)


def test_small_reference_numerical_uses_ks_like_scipy() -> None:
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1, 800)
    result = compare(*frames({"x": a}, {"x": b}))
    column = result.column("x")
    expected = stats.ks_2samp(a, b).pvalue
    assert column.method == "ks"
    assert column.score == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert column.drifted == (expected <= 0.05)


def test_ks_with_a_large_current_sample_uses_the_asymptotic_p_value() -> None:
    a, b = rng.normal(0, 1, 900), rng.normal(0.05, 1, 30_000)
    column = compare(*frames({"x": a}, {"x": b})).column("x")
    expected = stats.ks_2samp(a, b).pvalue
    assert column.method == "ks"
    assert column.score == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_small_reference_with_few_values_uses_chi_square() -> None:
    a = rng.choice([1.0, 2.0, 3.0, 4.0], 600)
    b = rng.choice([1.0, 2.0, 3.0, 4.0], 700, p=[0.1, 0.2, 0.3, 0.4])
    column = compare(*frames({"x": a}, {"x": b})).column("x")
    keys = [1.0, 2.0, 3.0, 4.0]
    observed = shares(pd.Series(b), keys) * len(b)
    expected_counts = shares(pd.Series(a), keys) * len(b)
    expected = stats.chisquare(observed, expected_counts).pvalue
    assert column.method == "chisquare"
    assert column.score == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert column.drifted == (expected < 0.05)


def test_binary_columns_use_the_two_proportion_z_test() -> None:
    a = np.where(rng.random(700) < 0.4, "yes", "no")
    b = np.where(rng.random(600) < 0.5, "yes", "no")
    column = compare(*frames({"x": a}, {"x": b})).column("x")
    table = [[(a == "yes").sum(), (a == "no").sum()], [(b == "yes").sum(), (b == "no").sum()]]
    # The pooled two-proportion z-test is the 2x2 chi-square test without continuity correction.
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert column.method == "z"
    assert column.score == pytest.approx(expected, rel=1e-9)
    assert column.drifted == (expected < 0.05)


def test_one_same_value_on_both_sides_is_no_drift() -> None:
    column = compare(*frames({"x": ["a"] * 50}, {"x": ["a"] * 70})).column("x")
    assert (column.method, column.score, column.drifted) == ("z", 1.0, False)


def test_large_reference_numerical_uses_normed_wasserstein_equal_and_unequal_sizes() -> None:
    a = rng.normal(0, 2, 4000)
    for b in (rng.normal(0.3, 2, 4000), rng.normal(0.1, 2, 2500)):
        column = compare(*frames({"x": a}, {"x": b})).column("x")
        expected = stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
        assert column.method == "wasserstein"
        assert column.score == pytest.approx(expected, rel=1e-9)
        assert column.drifted == (expected >= 0.1)


def test_large_reference_categories_use_jensen_shannon_with_unseen_values() -> None:
    a = rng.choice(list("abcde"), 3000)
    b = np.concatenate([rng.choice(list("abcde"), 2000), ["new"] * 300])
    column = compare(*frames({"x": a}, {"x": b})).column("x")
    keys = sorted(set(a) | set(b))
    expected = distance.jensenshannon(shares(pd.Series(a), keys), shares(pd.Series(b), keys))
    assert column.method == "jensenshannon"
    assert column.score == pytest.approx(expected, rel=1e-9)
    assert column.drifted == (expected >= 0.1)
    assert (column.unseen, column.unseen_count) == (("new",), 1)


def test_unseen_category_in_chi_square_is_drift() -> None:
    a = rng.choice(list("abc"), 500)
    b = np.concatenate([rng.choice(list("abc"), 500), ["d"] * 5])
    column = compare(*frames({"x": a}, {"x": b})).column("x")
    assert column.method == "chisquare" and column.unseen == ("d",)
    with np.errstate(divide="ignore", invalid="ignore"):
        keys = ["a", "b", "c", "d"]
        expected = stats.chisquare(
            shares(pd.Series(b), keys) * len(b), shares(pd.Series(a), keys) * len(b)
        ).pvalue
    assert column.score == expected and column.drifted


def test_integer_column_with_few_values_is_categorical() -> None:
    # Evidently types each column by the current sample.
    few, many = rng.integers(0, 8, 3000), rng.integers(0, 50, 3000)
    assert compare(*frames({"x": many}, {"x": few})).column("x").kind == "categorical"
    assert compare(*frames({"x": few}, {"x": many})).column("x").kind == "numerical"
    assert compare(*frames({"x": few * 1.0}, {"x": few * 1.0})).column("x").kind == "numerical"


def test_strings_that_are_mostly_distinct_are_text_and_not_tested() -> None:
    ids = [f"id-{i}" for i in range(300)]
    reference, current = frames(
        {"id": ids, "x": rng.normal(0, 1, 300)}, {"id": ids[::-1], "x": rng.normal(0, 1, 300)}
    )
    result = compare(reference, current)
    assert result.names == ["x"]
    assert result.skipped[0].column == "id" and result.skipped[0].reason.startswith("text")
    forced = compare(reference, current, column_types={"id": "categorical"})
    assert forced.column("id").method == "chisquare" and forced.column("id").score == 1.0


def test_distinct_values_are_counted_over_both_samples() -> None:
    a = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], 3000)
    b = np.concatenate([rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], 2000), [6.0] * 10])
    assert compare(*frames({"x": a}, {"x": a[:2000]})).column("x").method == "jensenshannon"
    assert compare(*frames({"x": a}, {"x": b})).column("x").method == "wasserstein"


def test_missing_and_infinite_values_are_dropped_and_counted() -> None:
    a = rng.normal(0, 1, 3000)
    b = rng.normal(0, 1, 3000)
    a[:30], b[:10], b[10:15] = np.nan, np.inf, -np.inf
    column = compare(*frames({"x": a}, {"x": b})).column("x")
    clean_a, clean_b = a[np.isfinite(a)], b[np.isfinite(b)]
    expected = stats.wasserstein_distance(clean_a, clean_b) / np.std(clean_a)
    assert (column.reference_missing, column.current_missing) == (30, 15)
    assert column.score == pytest.approx(expected, rel=1e-9)


def test_binned_tests_on_many_values_use_sturges_bins_over_both_samples() -> None:
    a, b = rng.normal(0, 1, 3000), rng.normal(0.2, 1.3, 2000)
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    ref = np.histogram(a, edges)[0] / len(a)
    cur = np.histogram(b, edges)[0] / len(b)
    js = compare(*frames({"x": a}, {"x": b}), options=Options(method="jensenshannon"))
    assert js.column("x").score == pytest.approx(distance.jensenshannon(ref, cur), rel=1e-9)
    psi = compare(*frames({"x": a}, {"x": b}), options=Options(method="psi"))
    ref_f = np.where(ref == 0, _fill(ref), ref)
    cur_f = np.where(cur == 0, _fill(cur), cur)
    expected_psi = np.sum((ref_f - cur_f) * np.log(ref_f / cur_f))
    assert psi.column("x").score == pytest.approx(expected_psi, rel=1e-9)
    assert psi.column("x").drifted == (expected_psi >= 0.1)


def _fill(shares: np.ndarray) -> float:
    smallest = shares[shares != 0].min()
    return smallest / 10**6 if smallest <= 0.0001 else 0.0001


def test_thresholds_tests_and_share_are_configurable_per_call() -> None:
    a, b = rng.normal(0, 1, 3000), rng.normal(0.15, 1, 3000)
    reference, current = frames({"x": a, "y": a}, {"x": b, "y": a})
    default = compare(reference, current)
    assert default.column("x").drifted and not default.column("y").drifted
    assert default.share == 0.5 and default.dataset_drift
    strict = compare(reference, current, options=Options(thresholds={"wasserstein": 0.5}))
    assert not strict.column("x").drifted
    per_column = compare(reference, current, options=Options(tests={"x": "ks"}, drift_share=0.6))
    assert per_column.column("x").method == "ks" and not per_column.dataset_drift


def test_cached_reference_gives_the_same_result() -> None:
    reference = pd.DataFrame({"x": rng.normal(0, 1, 3000), "c": rng.choice(list("abc"), 3000)})
    current = pd.DataFrame({"x": rng.normal(0.2, 1, 2000), "c": rng.choice(list("abd"), 2000)})
    cold = compare(reference, current)
    cached = compare(ReferenceStats.build(reference), current)
    for name in ("x", "c"):
        assert cold.column(name).score == cached.column(name).score


def test_all_missing_column_is_reported_not_tested() -> None:
    reference, current = frames(
        {"x": rng.normal(0, 1, 100), "gone": rng.normal(0, 1, 100)},
        {"x": rng.normal(0, 1, 100), "gone": [np.nan] * 100},
    )
    result = compare(reference, current)
    assert [s.column for s in result.skipped] == ["gone"]
    assert "all values missing in the current data" in result.skipped[0].reason
    with pytest.raises(UsageError, match="column 'gone' cannot be compared: all values missing"):
        compare(reference, current, columns=["gone"])


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        ({"a": [1.0]}, {"b": [1.0]}, "no common columns"),
        ({"a": ["x", 1, 2.5]}, {"a": ["x"]}, "column 'a' mixes types"),
        ({"a": [1.0, 2.0]}, {"a": ["x", "y"]}, "number values in the reference and string values"),
        ({"a": [1.0, 2.0]}, {"a": []}, "current data has no rows"),
    ],
)
def test_bad_input_is_one_line(reference: dict, current: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message) as error:
        compare(*frames(reference, current))
    assert "\n" not in str(error.value)


def test_unknown_test_and_wrong_type_are_one_line() -> None:
    with pytest.raises(UsageError, match=r"'anova' .* is not a drift test"):
        Options(method="anova")
    reference, current = frames({"c": list("ab") * 10}, {"c": list("ab") * 10})
    with pytest.raises(UsageError, match="test 'ks' needs a numerical column"):
        compare(reference, current, options=Options(method="ks"))
    with pytest.raises(UsageError, match="must be a pandas DataFrame"):
        compare([1, 2], current)
