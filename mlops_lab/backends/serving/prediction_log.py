"""The prediction log of a replica: a bounded buffer of answered requests that a background
thread flushes to Parquet (a full buffer drops rows and counts them)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from typing import Any

LOG_CAPACITY_ROWS = 100_000
LOG_FLUSH_ROWS = 20_000
LOG_FLUSH_INTERVAL_S = 2.0


class PredictionLog:
    """Bounded buffer of answered requests, flushed to Parquet by a background thread."""

    def __init__(self, on_drop: Any, capacity_rows: int = LOG_CAPACITY_ROWS) -> None:
        self.directory: str | None = None
        self.capacity = capacity_rows
        self.rows = 0
        self.dropped = 0
        self.written = 0
        self._entries: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._on_drop = on_drop
        self._thread: threading.Thread | None = None
        self._stop = False
        self._seq = 0
        self._replica = uuid.uuid4().hex[:8]

    def configure(self, directory: str | None) -> None:
        self.directory = directory
        if directory and self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="prediction-log")
            self._thread.start()

    def append(self, entry: tuple[Any, ...], rows: int) -> None:
        """On the request path: an append under a lock, or a counted drop when full."""
        if self.directory is None:
            return
        with self._lock:
            if self.rows + rows > self.capacity:
                self.dropped += rows
                dropped = True
            else:
                self._entries.append(entry)
                self.rows += rows
                dropped = False
        if dropped:
            self._on_drop(rows)
        elif self.rows >= LOG_FLUSH_ROWS:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(LOG_FLUSH_INTERVAL_S)
            self._wake.clear()
            with contextlib.suppress(Exception):
                self.flush()

    def flush(self) -> None:
        with self._lock:
            entries, self._entries, self.rows = self._entries, [], 0
        directory = self.directory
        if not entries or directory is None:
            return
        table = log_table(entries)
        import pyarrow.parquet as pq

        os.makedirs(directory, exist_ok=True)
        self._seq += 1
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{self._replica}-{self._seq:06d}"
        tmp = os.path.join(directory, f".{name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, os.path.join(directory, f"{name}.parquet"))
        self.written += table.num_rows

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        with contextlib.suppress(Exception):
            self.flush()


def log_table(entries: list[tuple[Any, ...]]) -> Any:
    """Entries (request_id, endpoint, model, version, variant, time, latency_ms, status,
    frame, predictions) as one Arrow table, one row per input row."""
    import pandas as pd
    import pyarrow as pa

    from mlops_lab.backends.serving.payload import join_frames

    names = ("request_id", "endpoint", "model", "version", "variant", "time", "latency_ms",
             "status")  # fmt: skip
    columns: dict[str, list[Any]] = {name: [] for name in (*names, "prediction")}
    inputs = []
    for *meta, data, preds in entries:  # one DataFrame for all entries, built column-wise
        n = len(data)
        for name, value in zip(names, meta, strict=True):
            columns[name].extend([value] * n)
        columns["prediction"].extend(
            list(preds) if preds is not None and len(preds) == n else [None] * n
        )
        inputs.append(data)
    frame = join_frames(inputs).reset_index(drop=True).add_prefix("input.")
    table = pd.concat([pd.DataFrame(columns), frame], axis=1)
    table["time"] = pd.to_datetime(table["time"], utc=True)
    predictions = table["prediction"].map(
        lambda p: p[0] if isinstance(p, list) and len(p) == 1 else p
    )
    numeric = pd.to_numeric(predictions, errors="coerce")
    if numeric.notna().sum() == predictions.notna().sum():
        table["prediction"] = numeric.astype("float64")
    else:
        table["prediction"] = [
            None if p is None else (p if isinstance(p, str) else json.dumps(p)) for p in predictions
        ]
    for column in table.columns:
        if column.startswith("input.") and table[column].dtype == object:
            table[column] = table[column].map(lambda v: None if v is None else str(v))
    return pa.Table.from_pandas(table, preserve_index=False)
