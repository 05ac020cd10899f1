"""The cached statistics of a model version's training data: one uncompressed ``.npz``
(fast to load) and a JSON index per sample, the model's predictions on it beside them.
Kept under ``[drift] reports`` and as an artifact of the version's run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.backends.drift import ReferenceStats

# Bumped when the cached format changes, so old caches are rebuilt instead of misread.
CACHE_FORMAT = 3
PREDICTIONS_FILE = "predictions"


def save(stats: ReferenceStats, folder: Path, name: str = "stats") -> None:
    """Write prepared columns as one uncompressed .npz (fast to load) and a JSON index,
    the model's predictions on the sample beside them (``predictions.*``), index last."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    if stats.predictions is not None:
        save(stats.predictions, folder, PREDICTIONS_FILE)
    arrays: dict[str, Any] = {}
    index: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "rows": stats.rows,
        "source": stats.source,
        "columns": [],
        "untested": stats.untested,
        "predictions": stats.predictions is not None,
        "predictions_note": stats.predictions_note,
    }
    for column in list(stats.columns.values()):
        parts = {p: getattr(column, p) for p in ("values", "keys", "counts")}
        keys = parts["keys"]
        if keys is not None and keys.dtype == object:
            keys = np.asarray(keys.astype(str) if column.value_type == "string" else keys.tolist())
            if keys.dtype == object:  # e.g. dates or decimals held as Python objects
                del stats.columns[column.name]  # not tested, in memory as from the cache
                stats.untested.append(column.name)
                continue
            parts["keys"] = keys
        i = len(index["columns"])
        arrays.update({f"{i}.{p}": a for p, a in parts.items() if a is not None})
        index["columns"].append(
            {
                "name": column.name,
                "rows": column.rows,
                "missing": column.missing,
                "distinct": column.distinct,
                "std": column.std,
                "value_type": column.value_type,
            }
        )
    temporary = folder / f".{name}.{os.getpid()}.npz"
    with open(temporary, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(temporary, folder / f"{name}.npz")
    (folder / f"{name}.json").write_text(json.dumps(index), encoding="utf-8")


def load(folder: Path, name: str = "stats") -> ReferenceStats | None:
    import numpy as np

    from mlops_lab.backends.drift import ReferenceStats
    from mlops_lab.backends.drift.columns import PreparedColumn

    try:
        index = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        if index.get("format") != CACHE_FORMAT:
            return None
        arrays = np.load(folder / f"{name}.npz", allow_pickle=False)
    except (OSError, ValueError):
        return None
    columns = {}
    with arrays:
        for i, entry in enumerate(index["columns"]):
            parts = {
                p: arrays[f"{i}.{p}"] for p in ("values", "keys", "counts") if f"{i}.{p}" in arrays
            }
            columns[entry["name"]] = PreparedColumn(**entry, **parts)
    predictions = load(folder, PREDICTIONS_FILE) if index.get("predictions") else None
    if index.get("predictions") and predictions is None:
        return None  # half a cache: rebuild it
    return ReferenceStats(
        columns,
        int(index["rows"]),
        dict(index["source"]),
        list(index["untested"]),
        predictions,
        str(index.get("predictions_note") or ""),
    )
