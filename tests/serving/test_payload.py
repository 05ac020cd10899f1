"""The scoring protocol's parser: every request shape gives the DataFrame MLflow's scoring
server builds, whether it is kept as rows (joined once per batch) or built at once."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from mlops_lab.backends.serving.payload import (
    PayloadError,
    Rows,
    as_frame,
    first_value,
    join_frames,
    parse_payload,
)

COLUMNS = ["amount", "spend_7d"]


def parse(body: Any, columns: list[str] | None = COLUMNS) -> Any:
    return parse_payload(json.dumps(body).encode(), "application/json", columns)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"dataframe_split": {"columns": COLUMNS, "data": [[1.5, 2], [3.0, 4]]}}, True),
        ({"dataframe_records": [{"amount": 1.5, "spend_7d": 2}, {"amount": 3.0, "spend_7d": 4}]},
         True),
        ({"instances": [[1.5, 2], [3.0, 4]]}, True),
        ({"inputs": [{"amount": 1.5, "spend_7d": 2}, {"amount": 3.0, "spend_7d": 4}]}, True),
        ({"inputs": {"amount": [1.5, 3.0], "spend_7d": [2, 4]}}, False),
        ({"dataframe_split": {"columns": COLUMNS, "data": [[1.5, 2], [3.0, 4]], "index": [7, 8]}},
         False),
    ],
)  # fmt: skip
def test_each_shape_gives_mlflows_frame(body: dict[str, Any], expected: bool) -> None:
    parsed = parse(body)
    assert isinstance(parsed, Rows) is expected
    frame = as_frame(parsed).reset_index(drop=True)
    want = pd.DataFrame({"amount": [1.5, 3.0], "spend_7d": [2, 4]})
    pd.testing.assert_frame_equal(frame, want)
    assert first_value(parsed, "amount") == 1.5
    assert first_value(parsed, "card_id") is None


def test_records_with_different_keys_fill_missing_values() -> None:
    parsed = parse({"dataframe_records": [{"amount": 1.0}, {"spend_7d": 2.0}]})
    frame = as_frame(parsed)
    assert list(frame.columns) == COLUMNS
    assert frame.isna().sum().sum() == 2


def test_a_batch_joins_requests_in_order() -> None:
    first = parse({"instances": [[1.0, 2.0]]})
    second = parse({"dataframe_split": {"columns": COLUMNS, "data": [[3.0, 4.0], [5.0, 6.0]]}})
    third = parse({"inputs": {"amount": [7.0], "spend_7d": [8.0]}})
    assert join_frames([first, second])["amount"].tolist() == [1.0, 3.0, 5.0]
    assert join_frames([first, third, second])["amount"].tolist() == [1.0, 7.0, 3.0, 5.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dataframe_split": {"columns": COLUMNS, "data": [[1.0]]}}, "row 0 must be a list of 2"),
        ({"instances": [[1.0, 2.0, 3.0]]}, "must have 2 values"),
        ({"instances": [[1.0, 2.0], {"amount": 1.0}]}, "all be objects or all be lists"),
        ({"rows": []}, "exactly one of"),
    ],
)
def test_malformed_bodies_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(body)
