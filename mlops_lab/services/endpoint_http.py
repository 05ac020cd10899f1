"""Talking to a served endpoint over HTTP, for `lab.serving`: the scoring request a value
becomes, and a JSON request whose failures are one line each."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from mlops_lab.errors import BackendError, NotFoundError, UnreachableError, UsageError


def scoring_payload(data: Any) -> dict[str, Any]:
    """``data`` (a DataFrame, a row dict, a list of them, or a scoring request already) as
    MLflow's scoring protocol request."""
    import pandas as pd

    if isinstance(data, dict) and any(
        k in data for k in ("dataframe_split", "dataframe_records", "instances", "inputs")
    ):
        return data
    if isinstance(data, dict):
        data = [data]
    if isinstance(data, list):
        if not all(isinstance(r, dict) for r in data):
            raise UsageError("predict takes a DataFrame, a row dict or a list of row dicts")
        data = pd.DataFrame.from_records(data)
    if not isinstance(data, pd.DataFrame):
        raise UsageError("predict takes a DataFrame, a row dict or a list of row dicts")
    split = json.loads(data.to_json(orient="split", index=False, date_format="iso"))
    return {"dataframe_split": {"columns": split["columns"], "data": split["data"]}}


def request_json(
    method: str, url: str, body: Any = None, timeout: float = 30, what: str = "the endpoint"
) -> Any:
    """``body`` sent as JSON to ``url``; the JSON answer, or one line saying what failed
    (``what`` names the service that answered, e.g. "the Ray head's Job API")."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8") or "null")
    except urllib.error.HTTPError as exc:
        message = _message(exc)
        if exc.code == 404:
            raise NotFoundError(f"{url} is not served here ({message})") from None
        if 400 <= exc.code < 500:
            raise UsageError(f"{what} refused the request ({exc.code}): {message}") from None
        raise BackendError(f"{what} failed ({exc.code}): {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UnreachableError(f"{url.rsplit('/', 1)[0]} did not answer ({exc})") from None


def _message(error: urllib.error.HTTPError) -> str:
    """An error answer's message: its JSON ``message``, else its last line of text."""
    text = error.read().decode("utf-8", errors="replace").strip()
    try:
        return str(json.loads(text).get("message", error.reason))
    except (ValueError, AttributeError):
        return text.splitlines()[-1][:300] if text else str(error.reason)
