"""MLflow's scoring protocol as the endpoint speaks it: the request body (JSON with one of
``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``, or CSV) as rows or a
pandas DataFrame, and the model's output as plain JSON values."""

from __future__ import annotations

import io
import json
import math
from typing import Any

PAYLOAD_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class PayloadError(Exception):
    """The request body does not follow the scoring protocol (answered with HTTP 400)."""


class Rows:
    """A request's rows as the JSON parser gave them, one list of values per row in
    ``columns`` order. A batch makes one DataFrame of all its requests' rows: building a
    DataFrame per request cost more than the model call itself at 32 clients."""

    __slots__ = ("columns", "data")

    def __init__(self, columns: list[str], data: list[list[Any]]) -> None:
        self.columns = columns
        self.data = data

    def __len__(self) -> int:
        return len(self.data)


def as_frame(inputs: Any) -> Any:
    """Rows or a DataFrame, as a DataFrame."""
    if isinstance(inputs, Rows):
        import pandas as pd

        return pd.DataFrame(inputs.data, columns=inputs.columns)
    return inputs


def join_frames(inputs: list[Any]) -> Any:
    """Several requests' inputs as one DataFrame, rows in request order."""
    first = inputs[0]
    if isinstance(first, Rows) and all(
        isinstance(i, Rows) and i.columns == first.columns for i in inputs
    ):
        return as_frame(Rows(first.columns, [row for i in inputs for row in i.data]))
    import pandas as pd

    return pd.concat([as_frame(i) for i in inputs], ignore_index=True)


def first_value(inputs: Any, column: str) -> Any:
    """The value of ``column`` in the first row (None when there is no such column)."""
    if not len(inputs) or column not in inputs.columns:
        return None
    if isinstance(inputs, Rows):
        return inputs.data[0][inputs.columns.index(column)]
    return inputs[column].iloc[0]


def parse_payload(body: bytes, content_type: str, columns: list[str] | None) -> Any:
    """The request as :class:`Rows` (named list- or object-shaped rows) or a pandas DataFrame
    (CSV, column objects, unnamed rows); ``columns`` names list-shaped rows when the model's
    signature has names. Raises PayloadError naming the offending field."""
    import pandas as pd

    if content_type.startswith("text/csv"):
        try:
            return pd.read_csv(io.BytesIO(body))
        except Exception as exc:
            raise PayloadError(f"the CSV body cannot be read: {first_line(exc)}") from None
    try:
        payload = json.loads(body or b"null")
    except ValueError as exc:
        raise PayloadError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"the JSON body must be an object with one of {', '.join(PAYLOAD_KEYS)}")
    present = [k for k in PAYLOAD_KEYS if k in payload]
    if len(present) != 1:
        unknown = sorted(set(payload) - {"params"})
        raise PayloadError(
            f"the JSON body must have exactly one of {', '.join(PAYLOAD_KEYS)}"
            + (f"; got {', '.join(unknown)}" if unknown else "")
        )
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise PayloadError("'dataframe_split' must be an object with 'columns' and 'data'")
        names = value.get("columns")
        data = value["data"]
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise PayloadError("'dataframe_split.columns' must be a list of column names")
            for i, row in enumerate(data):
                if not isinstance(row, list) or len(row) != len(names):
                    raise PayloadError(
                        f"'dataframe_split.data' row {i} must be a list of {len(names)} values"
                    )
            if value.get("index") is None:
                return Rows(names, data)
        return pd.DataFrame(data, columns=names, index=value.get("index"))
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise PayloadError("'dataframe_records' must be a list of objects (one per row)")
        return _records(value)
    # instances / inputs: rows as objects, columns as an object of lists, or rows as lists.
    if isinstance(value, dict):
        try:
            return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
        except ValueError as exc:
            raise PayloadError(f"'{key}' columns must have equal lengths ({exc})") from None
    if not isinstance(value, list) or not value:
        raise PayloadError(f"'{key}' must be a non-empty list of rows or an object of columns")
    if all(isinstance(r, dict) for r in value):
        return _records(value)
    if all(isinstance(r, list) for r in value):
        if columns and any(len(r) != len(columns) for r in value):
            raise PayloadError(f"each row of '{key}' must have {len(columns)} values ({columns})")
        return Rows(columns, value) if columns else pd.DataFrame(value)
    raise PayloadError(f"'{key}' rows must all be objects or all be lists")


def _records(records: list[dict[str, Any]]) -> Any:
    """Object-shaped rows: Rows when every row has the same keys in the same order."""
    names = list(records[0]) if records else []
    if names and all(list(r) == names for r in records):
        return Rows(names, [list(r.values()) for r in records])
    import pandas as pd

    return pd.DataFrame.from_records(records)


def predictions_to_list(raw: Any) -> list[Any]:
    """What MLflow's scoring server puts under "predictions", as plain JSON values."""
    import numpy as np
    import pandas as pd

    if isinstance(raw, pd.DataFrame):
        return [_plain(r) for r in raw.to_dict(orient="records")]
    if isinstance(raw, pd.Series | np.ndarray):
        return [_plain(v) for v in raw.tolist()]
    if isinstance(raw, list | tuple):
        return [_plain(v) for v in raw]
    return [_plain(raw)]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:400] if text else type(exc).__name__


def is_input_error(exc: BaseException) -> bool:
    """An MLflow schema-enforcement failure (the caller's data), not the model's fault."""
    code = str(getattr(exc, "error_code", ""))
    return code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST") or isinstance(
        exc, ValueError | KeyError | TypeError
    )
