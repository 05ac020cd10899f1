"""What a notebook shows besides results: the lab's own notices, once each, and no warnings
from third-party libraries the user cannot act on.

``notice(message)`` shows an expected, explained condition (Feast dropped label rows
that have no features yet) as a notice: in a notebook a display output, not red stderr;
elsewhere one ``note:`` line. The same message is shown once per process.

``quiet_kernel()`` runs where the lab starts in a kernel (``%load_ext mlops_lab``,
``connect()``): warnings raised inside installed libraries or the lab (MLflow's and
SQLAlchemy's deprecations, Ray's and torch's) are dropped, while warnings about the
notebook's own code still show; MLflow logs only errors.
"""

from __future__ import annotations

import html
import os
import sys
import sysconfig
import warnings
from pathlib import Path
from typing import Any

_shown: set[str] = set()
_original_showwarning = warnings.showwarning
_library_dirs: tuple[str, ...] = ()


def notice(message: str) -> None:
    """Show ``message`` once in this process, as a notice."""
    if message in _shown:
        return
    _shown.add(message)
    shell = _kernel_shell()
    if shell is None:
        print(f"note: {message}", flush=True)
        return
    from IPython.display import display

    display(
        {
            "text/plain": f"note: {message}",
            "text/html": f'<div class="mlops-notice" style="color:#555">ⓘ {html.escape(message)}</div>',
        },
        raw=True,
    )


def quiet_kernel() -> None:
    """Keep third-party warnings out of this kernel's outputs (idempotent; nothing outside
    a Jupyter kernel)."""
    global _library_dirs
    if _kernel_shell() is None or warnings.showwarning is _showwarning:
        return
    paths = sysconfig.get_paths()
    package = str(Path(__file__).resolve().parent)
    _library_dirs = tuple({paths["purelib"], paths["platlib"], paths["stdlib"], package})
    warnings.showwarning = _showwarning
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    if from_library(filename):
        return
    _original_showwarning(message, category, filename, lineno, file, line)


def from_library(filename: str) -> bool:
    """Whether a warning points into an installed library (or the lab), not at code the
    notebook's author wrote."""
    if filename.startswith("<frozen "):  # raised while a library was being imported
        return True
    try:
        where = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return any(where.startswith(folder + os.sep) for folder in _library_dirs)


def _kernel_shell() -> Any:
    """The running IPython kernel's shell, without importing IPython when it is not loaded."""
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        shell = module.get_ipython()
    except Exception:
        return None
    return shell if shell is not None and hasattr(shell, "kernel") else None
