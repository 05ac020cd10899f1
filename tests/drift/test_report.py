"""The drift report is small static HTML: inline SVG, no script, no event handlers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_lab.backends.drift import compare


def frames(rows: int, columns: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    make = {
        i: (lambda n, s: rng.normal(s, 1, n))
        if i % 3
        else (lambda n, s: rng.choice([f"merchant-{k}" for k in range(40)], n))
        for i in range(columns)
    }
    reference = pd.DataFrame({f"c{i}": make[i](rows, 0.0) for i in range(columns)})
    current = pd.DataFrame({f"c{i}": make[i](rows, 0.3) for i in range(columns)})
    return reference, current


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def test_report_for_25_columns_is_small_static_html(tmp_path: Path) -> None:
    result = compare(*frames(20_000, 25))
    html = result._repr_html_()
    assert len(html.encode()) <= 100 * 1024
    parsed = Tags()
    parsed.feed(html)
    assert "script" not in parsed.tags and "iframe" not in parsed.tags
    assert not [a for a in parsed.attributes if a.startswith("on")]
    assert "javascript:" not in html
    assert html.count("<svg") == 25
    saved = Path(result.save(tmp_path / "out" / "drift.html"))
    page = saved.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page


def test_report_shows_verdicts_unseen_values_and_skipped_columns() -> None:
    reference = pd.DataFrame({"city": ["a", "b"] * 50, "gone": np.arange(100.0)})
    current = pd.DataFrame({"city": ["a", "z"] * 50, "gone": [np.nan] * 100})
    result = compare(reference, current)
    html = result._repr_html_()
    assert "1 unseen value" in html and "title='z'" in html
    assert "not tested: all values missing in the current data" in html
    assert re.search(r"Dataset: drift</b>", html)
    assert "city" in repr(result) and "DRIFT" in repr(result)


def test_the_quickstart_shift_is_seen_as_drift() -> None:
    from mlops_lab.examples import fraud

    before, after = fraud.make_transactions(2000, 7), fraud.make_shifted_transactions(2000, 8)
    result = compare(before, after, columns=["amount", "merchant_category", "is_fraud"])
    assert result.column("amount").drifted and result.column("merchant_category").drifted
    assert result.column("merchant_category").unseen == ("crypto",)
    assert result.dataset_drift
