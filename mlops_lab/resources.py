"""Files shipped with mlops-lab: the example notebooks (in the wheel under _notebooks/,
in a source checkout under notebooks/)."""

from __future__ import annotations

from pathlib import Path

from mlops_lab.errors import NotFoundError

_PACKAGE = Path(__file__).resolve().parent


def notebooks_dir() -> Path:
    for candidate in (_PACKAGE / "_notebooks", _PACKAGE.parent / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise NotFoundError("the example notebooks are missing from this install; reinstall mlops-lab")


def notebook(name: str) -> Path:
    path = notebooks_dir() / name
    if not path.is_file():
        raise NotFoundError(f"example notebook {name} is not shipped in {path.parent}")
    return path
