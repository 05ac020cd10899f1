"""Where the running code comes from: the notebook or script, its git state, a hash of the
code that ran. The only place that asks git."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlops_lab.jobenv import JobEnv
from mlops_lab.lineage.keys import NOTEBOOK_GIT_DIRTY, NOTEBOOK_GIT_SHA, NOTEBOOK_PATH


def _ipython_shell() -> Any:
    """The running IPython shell, without importing IPython when it is not loaded."""
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        return module.get_ipython()
    except Exception:
        return None


def notebook_path() -> str | None:
    """The notebook (or script) that is running, as an absolute path when it can be found.

    Order: ``MLOPS_NOTEBOOK_PATH`` (set for papermill runs), ``JPY_SESSION_NAME`` (set by
    jupyter-server for each kernel), VS Code's ``__vsc_ipynb_file__``, the input notebook of
    a plain ``papermill IN OUT`` command that started this kernel, the ``__main__`` script.
    """
    explicit = JobEnv.current().notebook_path
    if explicit:
        return str(Path(explicit).expanduser().resolve())
    session = os.environ.get("JPY_SESSION_NAME")
    if session:
        path = Path(session)
        if path.is_absolute():
            return str(path)
        # jupyter-server gives the path relative to its root and starts the kernel in the
        # notebook's directory.
        local = Path.cwd() / path.name
        return str(local if local.exists() else path)
    shell = _ipython_shell()
    if shell is not None:
        vscode = shell.user_ns.get("__vsc_ipynb_file__")
        if vscode:
            return str(vscode)
        launched = _papermill_input()
        if launched:
            return launched
    script = _user_script()
    if script and shell is None:
        return str(Path(script).resolve())
    return None


def _user_script() -> str | None:
    """The ``__main__`` script, unless it is the lab's own command line: a commit or run made
    from ``mlops-lab`` comes from no notebook or script of the user's."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if not script or Path(script).name == "mlops-lab":
        return None
    if spec is not None and spec.name.startswith("mlops_lab"):
        return None
    return str(script)


def _papermill_input() -> str | None:
    """The local input notebook of the ``papermill`` command line that started this kernel
    (the kernel's parent process), read as papermill's own command parses it."""
    parent = Path("/proc") / str(os.getppid())
    try:
        words = [w.decode() for w in (parent / "cmdline").read_bytes().split(b"\0") if w]
        cwd = Path(os.readlink(parent / "cwd"))
    except (OSError, UnicodeDecodeError):
        return None
    starts = [i for i, w in enumerate(words[:3]) if Path(w).name == "papermill"]
    if not starts:
        return None
    try:
        from papermill.cli import papermill as command

        context = command.make_context("papermill", words[starts[0] + 1 :], resilient_parsing=True)
    except Exception:  # not papermill's command line after all
        return None
    source = str(context.params.get("notebook_path") or "")
    if not source.endswith(".ipynb") or "://" in source:
        return None
    path = Path(source).expanduser()
    return str((path if path.is_absolute() else cwd / path).resolve())


def git_state(
    path: str | os.PathLike[str] | None, cwd: Path | None = None, only_path: bool = False
) -> dict[str, str]:
    """HEAD commit and dirty flag of the git checkout holding ``path`` (or ``cwd``).

    Dirty means tracked files differ from HEAD (only ``path`` itself with ``only_path``), or
    ``path`` is not committed at all. Empty when git or a checkout is missing.
    """
    where = Path(path).parent if path else (cwd or Path.cwd())
    if not where.is_dir():
        where = cwd or Path.cwd()
    command = ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"]
    if path and only_path:
        command += ["--", str(Path(path).resolve())]
    try:
        out = subprocess.run(
            command, cwd=where, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0:
        return {}
    sha = ""
    dirty = False
    for line in out.stdout.splitlines():
        if line.startswith("# branch.oid "):
            sha = line.removeprefix("# branch.oid ").strip()
        elif line and not line.startswith("#"):
            dirty = True
    if not sha or sha == "(initial)":
        return {} if only_path else {NOTEBOOK_GIT_DIRTY: "true"}
    if path and not dirty and Path(path).exists():
        try:
            tracked = subprocess.run(
                ["git", "ls-files", "--error-unmatch", "--", str(Path(path).resolve())],
                cwd=where,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return {}
        dirty = tracked.returncode != 0
    return {NOTEBOOK_GIT_SHA: sha, NOTEBOOK_GIT_DIRTY: "true" if dirty else "false"}


def code_hash() -> str | None:
    """sha256 of the code that ran: the cells executed so far in IPython, else the script."""
    shell = _ipython_shell()
    digest = hashlib.sha256()
    if shell is not None:
        cells = shell.user_ns.get("In") or getattr(shell.history_manager, "input_hist_raw", [])
        ran = [cell for cell in cells if cell and cell.strip()]
        for cell in ran:
            digest.update(cell.encode("utf-8"))
            digest.update(b"\0")
        return digest.hexdigest() if ran else None
    script = _user_script()
    if script and Path(script).is_file():
        digest.update(Path(script).read_bytes())
        return digest.hexdigest()
    return None


def origin_tags(cwd: Path | None = None) -> dict[str, str]:
    """Lineage tags describing the code that runs now: notebook path, git state."""
    tags: dict[str, str] = {}
    path = notebook_path()
    if path:
        tags[NOTEBOOK_PATH] = path
    tags.update(git_state(path, cwd))
    return tags
