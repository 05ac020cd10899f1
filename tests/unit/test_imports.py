"""`import mlops_lab` and `%load_ext mlops_lab` must import no heavy SDK."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "mlflow",
    "feast",
    "ray",
    "lakefs",
    "lakefs_sdk",
    "kubernetes",
    "papermill",
    "torch",
    "pandas",
    "pyarrow",
    "pydantic",
    "sklearn",
    "ipywidgets",
    "numpy",
]

PROBE = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
import mlops_lab
shell.run_line_magic("load_ext", "mlops_lab")
shell.run_line_magic("mlops", "help")
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_no_heavy_imports_on_load_or_help() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
    assert heavy == [], f"imported on load/help: {heavy}"
