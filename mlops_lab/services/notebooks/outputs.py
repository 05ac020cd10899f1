"""Executed notebooks written outside ``[notebooks] output_dir`` (``--output``): each is
noted in ``.mlops/notebook-outputs``, one absolute path a line, so that the side panel lists
them beside the ones in the folder."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_lab.config import Config

INDEX = "notebook-outputs"
KEEP = 100
"""Paths kept in the index (the newest)."""


def remember(config: Config, output: Path) -> None:
    """Note ``output`` when it is outside the output folder (which is listed anyway)."""
    folder = config.resolve(config.notebooks.output_dir).resolve()
    output = output.resolve()
    if folder in output.parents:
        return
    index = config.state_dir / INDEX
    with contextlib.suppress(OSError):  # a read-only project still runs the job
        index.parent.mkdir(parents=True, exist_ok=True)
        with index.open("a", encoding="utf-8") as handle:  # one short append: no torn lines
            handle.write(f"{output}\n")
        paths = recorded(config)
        if len(paths) > 2 * KEEP:
            partial = index.with_name(f".{INDEX}.{os.getpid()}.tmp")
            partial.write_text("".join(f"{p}\n" for p in reversed(paths[:KEEP])), "utf-8")
            partial.replace(index)


def recorded(config: Config) -> list[Path]:
    """The noted executed notebooks, newest first, each once (they may since be deleted)."""
    try:
        lines = (config.state_dir / INDEX).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    seen: dict[str, None] = {}
    for line in reversed(lines):
        if line.strip():
            seen.setdefault(line.strip(), None)
    return [Path(line) for line in seen]
