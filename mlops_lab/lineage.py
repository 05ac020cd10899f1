"""The lineage thread: stable keys, and a collector that services feed while a run is open.

Services that read or create something call ``note(key, value)``; a tracked run opens a
collector and stamps what was noted as MLflow tags when it ends. Outside a run, ``note``
does nothing. The keys are a public contract: they are stored in lakeFS commit metadata,
MLflow tags and Kubernetes annotations.

Two ways to collect:

- ``collecting()`` scopes a collector to the current context (a ``with`` block, a thread,
  an asyncio task);
- ``activate()`` / ``deactivate()`` open a process-wide collector, for a run that a notebook
  opens in one cell and ends in another: IPython kernels run each cell in a fresh context,
  so a context variable set in one cell is not seen by the next.

``note`` feeds every collector open at that moment.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_COMMIT = "mlops.data.commit"  # commit ids read or written (comma separated when several)
DATA_PATHS = "mlops.data.paths"
DATA_REPOSITORY = "mlops.data.repository"
FEATURES_SERVICE = "mlops.features.service"
FEATURES_VIEWS = "mlops.features.views"
FEATURES_DATA_REF = "mlops.features.data_ref"
NOTEBOOK_PATH = "mlops.notebook.path"
NOTEBOOK_GIT_SHA = "mlops.notebook.git_sha"
NOTEBOOK_GIT_DIRTY = "mlops.notebook.git_dirty"
CODE_HASH = "mlops.code.hash"
RAY_JOB_ID = "mlops.ray.job_id"
RUN_ID = "mlops.run.id"
MODEL_NAME = "mlops.model.name"
MODEL_VERSION = "mlops.model.version"
DEPLOY_REVISION = "mlops.deploy.revision"
PIPELINE_RUN = "mlops.pipeline.run"


@dataclass
class Collector:
    """What a run touched, key -> values in the order first seen."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, value: str) -> None:
        seen = self.values.setdefault(key, [])
        if value not in seen:
            seen.append(value)

    def tags(self) -> dict[str, str]:
        return {key: ",".join(values) for key, values in self.values.items() if values}


_context: contextvars.ContextVar[Collector | None] = contextvars.ContextVar(
    "mlops_lineage", default=None
)
_active: list[Collector] = []
_active_lock = threading.Lock()


def collecting_now() -> bool:
    """Whether a run (or ``collecting()``) is gathering lineage at this moment."""
    return _context.get() is not None or bool(_active)


def note(key: str, value: str) -> None:
    collector = _context.get()
    if collector is not None:
        collector.add(key, str(value))
    if _active:
        with _active_lock:
            for other in _active:
                if other is not collector:
                    other.add(key, str(value))


def activate(collector: Collector | None = None) -> Collector:
    """Open a process-wide collector (seen from every cell and thread) until ``deactivate``."""
    collector = collector if collector is not None else Collector()
    with _active_lock:
        if not any(c is collector for c in _active):
            _active.append(collector)
    return collector


def deactivate(collector: Collector) -> None:
    with _active_lock:
        _active[:] = [c for c in _active if c is not collector]


@contextlib.contextmanager
def collecting() -> Iterator[Collector]:
    collector = Collector()
    token = _context.set(collector)
    try:
        yield collector
    finally:
        _context.reset(token)


# --- where the running code comes from -------------------------------------------------


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
    jupyter-server for each kernel), VS Code's ``__vsc_ipynb_file__``, the ``__main__`` script.
    """
    explicit = os.environ.get("MLOPS_NOTEBOOK_PATH")
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
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script and shell is None:
        return str(Path(script).resolve())
    return None


def git_state(path: str | None, cwd: Path | None = None) -> dict[str, str]:
    """HEAD commit and dirty flag of the git checkout holding ``path`` (or ``cwd``).

    Dirty means tracked files differ from HEAD, or the notebook itself is not committed.
    Empty when git or a checkout is missing.
    """
    where = Path(path).parent if path else (cwd or Path.cwd())
    if not where.is_dir():
        where = cwd or Path.cwd()
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
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
        return {NOTEBOOK_GIT_DIRTY: "true"}
    if path and not dirty and Path(path).exists():
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", str(Path(path).resolve())],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
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
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
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


# --- walking the thread -----------------------------------------------------------------


@dataclass
class Lineage:
    """Where a model version or run came from, and what used it (`lab.lineage(target)`).

    Plain data: ``to_dict()`` gives JSON-ready values. Each ``*_`` dict holds the lineage
    tags of that step, keyed by the short name of the tag.
    """

    target: str
    model: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    data: list[dict[str, Any]] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    used_by: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)

    def rows(self) -> list[list[str]]:
        """(step, kind, id, detail) from the code back-end to the forward uses."""
        rows: list[list[str]] = []
        if self.code:
            detail = []
            if self.code.get("git_sha"):
                dirty = " (dirty)" if self.code.get("git_dirty") == "true" else ""
                detail.append(f"git {self.code['git_sha'][:12]}{dirty}")
            if self.code.get("code_hash"):
                detail.append(f"code sha256 {self.code['code_hash'][:12]}")
            rows.append(
                ["notebook", "code", self.code.get("path") or "(unknown)", ", ".join(detail)]
            )
        for item in self.data:
            about = ", ".join(item.get("paths", []))
            if item.get("message"):
                about += f" ({item['message']})"
            written_by = item.get("metadata", {}).get(NOTEBOOK_PATH)
            if written_by:
                about += f"; written by {written_by}"
            rows.append(["data", "commit", item["commit"], about])
        if self.features:
            views = ", ".join(self.features.get("views", []))
            service = self.features.get("service")
            ref = self.features.get("data_ref")
            text = (f"service {service}; " if service else "") + (f"data_ref {ref}" if ref else "")
            rows.append(["features", "feature views", views, text.strip("; ")])
        if self.training:
            rows.append(["training", "ray job", self.training.get("ray_job_id", ""), ""])
        if self.run:
            metrics = ", ".join(
                f"{k}={v:.4g}" for k, v in sorted(self.run.get("metrics", {}).items())
            )
            rows.append(
                [
                    "run",
                    self.run.get("status", ""),
                    self.run["id"],
                    f"{self.run.get('name', '')} {metrics}".strip(),
                ]
            )
        if self.model:
            aliases = ", ".join(f"@{a}" for a in self.model.get("aliases", []))
            rows.append(
                [
                    "model",
                    "version",
                    f"{self.model['name']}/{self.model['version']}",
                    aliases,
                ]
            )
        for use in self.used_by:
            rows.append(["used by", use["kind"], use["id"], use.get("detail", "")])
        return rows

    def table(self, max_rows: int = 50) -> Any:
        from mlops_lab.display import Table

        return Table(
            ["step", "kind", "id", "detail"],
            self.rows(),
            title=f"lineage of {self.target}",
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        import html

        boxes = []
        for step, kind, ident, detail in self.rows():
            boxes.append(
                '<div style="display:inline-block;vertical-align:top;border:1px solid #8c959f;'
                'border-radius:6px;padding:4px 8px;margin:2px;max-width:260px;font-size:85%">'
                f"<b>{html.escape(step)}</b> <span style='color:#57606a'>{html.escape(kind)}</span>"
                f"<br><code>{html.escape(ident)}</code>"
                + (
                    f"<br><span style='color:#57606a'>{html.escape(detail)}</span>"
                    if detail
                    else ""
                )
                + "</div>"
            )
        arrow = '<span style="margin:0 2px">&rarr;</span>'
        return (
            f'<div class="mlops-lineage"><strong>lineage of {html.escape(self.target)}</strong>'
            f"<div>{arrow.join(boxes)}</div></div>"
        )


def _short(tags: dict[str, str], key: str) -> str | None:
    value = tags.get(key)
    return value if value else None


def walk(lab: Any, target: str) -> Lineage:
    """Build the :class:`Lineage` of a model reference or run id (see ``Lab.lineage``)."""
    from mlops_lab.errors import UsageError
    from mlops_lab.services.models import parse_ref
    from mlops_lab.services.tracking import RUN_ID_PATTERN

    target = (target or "").strip()
    if not target:
        raise UsageError("lineage needs a target: a model NAME@ALIAS or NAME/VERSION, or a run id")
    result = Lineage(target=target)
    tags: dict[str, str] = {}
    client = lab.tracking.client
    run_id: str | None
    if RUN_ID_PATTERN.match(target):
        run_id = target
    else:
        parse_ref(target)
        version = lab.models.get(target)
        result.model = {
            "name": version.name,
            "version": version.version,
            "aliases": list(version.aliases),
            "source": version.source,
            "created": version.created.isoformat() if version.created else None,
        }
        tags.update(version.lineage)
        run_id = version.run_id or tags.get(RUN_ID)
    if run_id:
        run = lab.tracking._get(run_id)
        run_tags = dict(run.data.tags)
        tags = {**{k: v for k, v in run_tags.items() if k.startswith("mlops.")}, **tags}
        result.run = {
            "id": run_id,
            "name": run.info.run_name or "",
            "status": run.info.status,
            "experiment_id": run.info.experiment_id,
            "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
            "parent": run_tags.get("mlflow.parentRunId"),
        }
    commits = [c for c in (tags.get(DATA_COMMIT) or "").split(",") if c]
    paths = [p for p in (tags.get(DATA_PATHS) or "").split(",") if p]
    result.data = [
        {
            "commit": c,
            "paths": paths,
            "repository": tags.get(DATA_REPOSITORY, ""),
            **_commit_details(lab, c),
        }
        for c in commits
    ]
    views = [v for v in (tags.get(FEATURES_VIEWS) or "").split(",") if v]
    if views or tags.get(FEATURES_SERVICE):
        result.features = {
            "views": views,
            "service": tags.get(FEATURES_SERVICE),
            "data_ref": tags.get(FEATURES_DATA_REF),
        }
    result.code = {
        k: v
        for k, v in {
            "path": _short(tags, NOTEBOOK_PATH),
            "git_sha": _short(tags, NOTEBOOK_GIT_SHA),
            "git_dirty": _short(tags, NOTEBOOK_GIT_DIRTY),
            "code_hash": _short(tags, CODE_HASH),
            "pipeline_run": _short(tags, PIPELINE_RUN),
        }.items()
        if v
    }
    if tags.get(RAY_JOB_ID):
        result.training = {"ray_job_id": tags[RAY_JOB_ID]}
    if run_id:
        used = _forward(lab, client, run_id, commits)
        if result.model is not None:
            itself = f"{result.model['name']}/{result.model['version']}"
            used = [u for u in used if not (u["kind"] == "model version" and u["id"] == itself)]
        result.used_by = used
    elif tags.get(DEPLOY_REVISION) and result.model is not None:
        itself = f"{result.model['name']}/{result.model['version']}"
        result.used_by = [
            {"kind": "deployment", "id": tags[DEPLOY_REVISION], "detail": f"serves {itself}"}
        ]
    return result


def _commit_details(lab: Any, commit: str) -> dict[str, Any]:
    """Message, committer and the lineage metadata (e.g. the notebook that wrote it) of a
    data commit, when the data store still knows it."""
    try:
        info = lab.data.get_commit(commit)
    except Exception:
        return {}
    return {
        "message": info.message,
        "committer": info.committer,
        "metadata": {k: v for k, v in dict(info.metadata).items() if k.startswith("mlops.")},
    }


def _forward(lab: Any, client: Any, run_id: str, commits: list[str]) -> list[dict[str, Any]]:
    """What used this run: model versions registered from it (with aliases and
    deployments), child runs, and other runs that read the same data commits."""
    used: list[dict[str, Any]] = []
    try:
        versions = list(client.search_model_versions(f"run_id = '{run_id}'"))
    except Exception:
        versions = []
    aliases_of: dict[str, dict[str, list[str]]] = {}
    for version in sorted(versions, key=lambda v: (v.name, int(v.version))):
        if version.name not in aliases_of:
            try:
                model = client.get_registered_model(version.name)
                mapping: dict[str, list[str]] = {}
                for alias, number in (model.aliases or {}).items():
                    mapping.setdefault(str(number), []).append(alias)
                aliases_of[version.name] = mapping
            except Exception:
                aliases_of[version.name] = {}
        aliases = sorted(aliases_of[version.name].get(str(version.version), []))
        detail = " ".join(f"@{a}" for a in aliases)
        deploy = (version.tags or {}).get(DEPLOY_REVISION)
        used.append(
            {"kind": "model version", "id": f"{version.name}/{version.version}", "detail": detail}
        )
        if deploy:
            used.append(
                {
                    "kind": "deployment",
                    "id": deploy,
                    "detail": f"serves {version.name}/{version.version}",
                }
            )
    try:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
        children = client.search_runs(
            experiment_ids,
            filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'",
            max_results=20,
        )
        used += [
            {"kind": "child run", "id": r.info.run_id, "detail": r.info.run_name or ""}
            for r in children
        ]
        for commit in commits[:5]:
            others = client.search_runs(
                experiment_ids,
                filter_string=f"tags.`{DATA_COMMIT}` LIKE '%{commit}%'",
                max_results=20,
            )
            used += [
                {
                    "kind": "run on same data",
                    "id": r.info.run_id,
                    "detail": f"{r.info.run_name or ''} reads {commit[:12]}".strip(),
                }
                for r in others
                if r.info.run_id != run_id
            ]
    except Exception:
        pass
    return used
