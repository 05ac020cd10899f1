"""`lab.data`: versioned datasets from a notebook, on the embedded store or lakeFS.

Every operation validates names and paths first (so a bad one changes nothing), speaks in
branches, tags and commit ids, and feeds the lineage thread: reads note the commit they
read, commits carry the notebook, git commit and user that made them.
"""

from __future__ import annotations

import fnmatch
import html
import io
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlops_lab import lineage
from mlops_lab.backends import data as data_backends
from mlops_lab.backends.data.base import (
    STRATEGIES,
    BranchInfo,
    CommitInfo,
    DataBackend,
    ObjectInfo,
    Strategy,
    check_name,
    check_path,
    check_prefix,
    check_ref,
    check_tag,
    current_user,
)
from mlops_lab.display import BAD, CHANGED, GOOD, MUTED, Table, colour
from mlops_lab.errors import (
    AccessDeniedError,
    NotAvailableError,
    NotFoundError,
    UsageError,
    require,
)
from mlops_lab.render import bar_chart
from mlops_lab.services.progress import ProgressCallback, track

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

USER = "mlops.user"
_TINTS = {"added": GOOD, "removed": BAD, "changed": CHANGED}
_COLOURS = {kind: colour(tint) for kind, tint in _TINTS.items()}


class DataService:
    """Branch, write, commit, diff, merge and read datasets. ``ref`` is a branch, tag or commit id."""

    def __init__(self, lab: Lab, backend: DataBackend | None = None) -> None:
        self.lab = lab
        self._backend = backend

    @property
    def backend(self) -> DataBackend:
        if self._backend is None:
            self._backend = data_backends.make(self.lab.config)
        return self._backend

    @property
    def default_branch(self) -> str:
        return self.backend.default_branch

    def __repr__(self) -> str:
        kind = self.lab.config.data.backend
        return f"<DataService {kind}>"

    # ---------------------------------------------------------------- refs

    def resolve(self, ref: str | None = None) -> str:
        """The immutable commit id a branch, tag or commit id points at now."""
        return self.backend.resolve(check_ref(ref or self.default_branch))

    def create_branch(self, name: str, source: str | None = None) -> BranchInfo:
        check_name(name)
        source = check_ref(source or self.default_branch)
        return BranchInfo(name, self.backend.create_branch(name, source))

    def branches(self) -> Listing:
        rows = self.backend.branches()
        return Listing(
            ["branch", "commit"], [[b.name, b.commit_id[:12]] for b in rows], rows, "branches"
        )

    def delete_branch(self, name: str) -> None:
        """Delete a branch; the default branch and protected branches are refused on every
        backend (lakeFS itself lets a protected branch be deleted)."""
        check_name(name)
        if name == self.default_branch:
            raise UsageError(f"'{name}' is the default branch and cannot be deleted")
        rule = next((p for p in self.backend.protection() if fnmatch.fnmatchcase(name, p)), None)
        if rule is not None:
            raise AccessDeniedError(
                f"branch '{name}' is protected (rule '{rule}'); remove the rule with "
                f"lab.data.unprotect('{rule}') to delete it"
            )
        self.backend.delete_branch(name)

    def protect(self, pattern: str) -> list[str]:
        """Protect branches matching ``pattern`` (fnmatch, e.g. "main" or "release-*"): they
        change only by merges. Returns the rules now in force."""
        if not isinstance(pattern, str) or not pattern.strip():
            raise UsageError("give a branch name or pattern to protect, such as main or release-*")
        rules = sorted({*self.backend.protection(), pattern.strip()})
        self.backend.set_protection(rules)
        return rules

    def unprotect(self, pattern: str) -> list[str]:
        current = self.backend.protection()
        if pattern not in current:
            raise NotFoundError(
                f"no protection rule '{pattern}'; rules: {', '.join(current) or 'none'}"
            )
        rules = [p for p in current if p != pattern]
        self.backend.set_protection(rules)
        return rules

    def protection(self) -> list[str]:
        return self.backend.protection()

    def tag(self, name: str, ref: str | None = None) -> str:
        check_tag(name)
        return self.backend.tag(name, check_ref(ref or self.default_branch))

    def tags(self) -> Listing:
        rows = self.backend.tags()
        return Listing(["tag", "commit"], [[t.name, t.commit_id[:12]] for t in rows], rows, "tags")

    # ---------------------------------------------------------------- writes

    def write_table(
        self, df: Any, path: str, branch: str | None = None, **options: Any
    ) -> ObjectInfo:
        """Stage a DataFrame as parquet (or csv when the path ends in .csv)."""
        path = check_path(path)
        branch = check_name(branch or self.default_branch)
        if not hasattr(df, "to_parquet"):
            raise UsageError(f"write_table needs a pandas DataFrame, got {type(df).__name__}")
        buffer = io.BytesIO()
        kind = _format(path)
        try:
            if kind == "csv":
                df.to_csv(buffer, index=False, **options)
            else:
                df.to_parquet(buffer, **options)
        except (ValueError, TypeError, NotImplementedError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(
                f"cannot write this DataFrame as {kind} ({reason}); fix the columns or "
                "write to a .csv path"
            ) from None
        return self.backend.put(path, branch, buffer.getvalue())

    def write_file(
        self, source: bytes | str | os.PathLike[str], path: str, branch: str | None = None
    ) -> ObjectInfo | list[ObjectInfo]:
        """Stage bytes or a local file at ``path``; a local folder is staged under ``path/``."""
        path = check_path(path)
        branch = check_name(branch or self.default_branch)
        if isinstance(source, bytes | bytearray):
            return self.backend.put(path, branch, bytes(source))
        local = Path(source)
        if local.is_dir():
            files = _files_under(local)
            if not files:
                raise UsageError(f"folder {local} holds no files")
            items: list[tuple[str, bytes | str]] = [
                (f"{path}/{name}", os.path.join(local, name)) for name in files
            ]
            put_many = getattr(self.backend, "put_many", None)
            if put_many is not None:
                return list(put_many(items, branch))
            return [self.backend.put(p, branch, d) for p, d in items]
        if not local.is_file():
            raise NotFoundError(f"local file {local} not found; check the path")
        return self.backend.put(path, branch, str(local))

    def delete(self, path: str, branch: str | None = None) -> None:
        """Stage the removal of ``path`` from ``branch``; a path that is not there is a
        NotFoundError on every backend."""
        self.backend.delete(check_path(path), check_name(branch or self.default_branch))

    def commit(
        self,
        branch: str | None = None,
        message: str = "",
        metadata: Mapping[str, str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Commit the branch's staged changes; returns the commit id (the current head when
        nothing changed, so an unchanged dataset stores nothing new). ``progress`` is called
        as the commit starts (with the staged changes' count and size) and when it ends."""
        branch = check_name(branch or self.default_branch)
        if not message or not message.strip():
            raise UsageError("a commit needs a message saying what changed")
        extra = _check_metadata(metadata)
        root = self.lab.root
        label = f"commit {branch}"
        if progress is not None:  # listing the staged changes costs a scan: only when shown
            staged = self.backend.uncommitted(branch)
            size = sum(c.size or 0 for c in staged)
            label += f": {len(staged):,} changes, {_size(size)}"
        with track(root, "data commit", label, callback=progress):
            # origin (git subprocesses) only when a commit is really made
            commit_id = self.backend.commit(
                branch, message.strip(), lambda: {**provenance(root), **extra}
            )
        lineage.note(lineage.DATA_COMMIT, commit_id)
        return commit_id

    def reset(self, branch: str | None = None) -> None:
        """Drop the branch's uncommitted changes."""
        self.backend.reset(check_name(branch or self.default_branch))

    def merge(
        self,
        source: str,
        dest: str | None = None,
        strategy: Strategy = "fail",
        message: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Three-way merge of ``source`` into the branch ``dest``; returns dest's new head.
        A conflict raises ConflictError listing the paths and leaves ``dest`` unchanged.
        As in lakeFS, on every backend: a source with nothing new since the merge base
        changes nothing; otherwise the merge is a commit with parents (dest, source) even
        when the result equals ``dest``, its strategy in ``.lakefs.merge.strategy``."""
        source = check_ref(source)
        dest = check_name(dest or self.default_branch)
        if strategy not in STRATEGIES:
            raise UsageError(
                f"unknown merge strategy {strategy!r}; use one of {', '.join(STRATEGIES)}"
            )
        meta = {**provenance(self.lab.root), **_check_metadata(metadata)}
        text = message or f"Merge '{source}' into '{dest}'"
        commit_id = self.backend.merge(source, dest, strategy, text, meta)
        lineage.note(lineage.DATA_COMMIT, commit_id)
        return commit_id

    def gc(self, grace_seconds: float = 3600.0) -> str:
        """Embedded store: free objects nothing refers to any more (dropped staged writes,
        writers killed before staging), older than ``grace_seconds``."""
        collect = getattr(self.backend, "gc", None)
        if collect is None:
            raise NotAvailableError(
                "lakeFS collects its own garbage: configure garbage collection rules on the server"
            )
        removed, freed = collect(grace_seconds)
        return f"removed {removed} unreferenced file(s), {_size(freed) or '0 B'} freed"

    def check(self, deep: bool = False) -> Listing:
        """Embedded store: every problem found, one line each (empty when sound);
        ``deep`` also re-hashes every object."""
        examine = getattr(self.backend, "check", None)
        if examine is None:
            raise NotAvailableError("lakeFS checks its own store; there is nothing to check here")
        problems = examine(deep)
        title = f"{len(problems)} problem(s)" if problems else "no problems"
        return Listing(
            ["problem"], [[p] for p in problems], problems, f"{title} in {self.backend.describe()}"
        )

    # ---------------------------------------------------------------- reads

    def read_table(self, path: str, ref: str | None = None, **options: Any) -> Any:
        """A DataFrame of the parquet (or .csv) file at ``ref``; noted in the run's lineage."""
        pd = require("pandas")
        path = check_path(path)
        ref = check_ref(ref or self.default_branch)
        local = self.backend.local_file(ref, path)
        source: Any = local if local is not None else self._bytes(ref, path)
        kind = _format(path)
        try:
            frame = (pd.read_csv if kind == "csv" else pd.read_parquet)(source, **options)
        except (ValueError, TypeError, pd.errors.ParserError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(
                f"cannot read '{path}' at '{ref}' as {kind} ({reason}); use lab.data.open() "
                "for other files"
            ) from None
        self._note(ref, path)
        return frame

    def open(self, path: str, ref: str | None = None) -> BinaryIO:
        """The file at ``ref`` opened for binary reading; noted in the run's lineage."""
        path = check_path(path)
        ref = check_ref(ref or self.default_branch)
        handle = self.backend.open(ref, path)
        self._note(ref, path)
        return handle

    def _bytes(self, ref: str, path: str) -> io.BytesIO:
        with self.backend.open(ref, path) as fh:
            return io.BytesIO(fh.read())

    def _note(self, ref: str, path: str) -> None:
        if not lineage.collecting_now():
            return
        commit = self.backend.resolve(ref)
        if commit != ref and not self._committed(ref, commit, path):
            warnings.warn(
                f"read '{path}' from '{ref}' including uncommitted changes; the run's lineage "
                f"records commit {commit[:12]}, which does not hold them: commit first to make "
                "the run reproducible",
                UserWarning,
                stacklevel=3,
            )
        lineage.note(lineage.DATA_COMMIT, commit)
        lineage.note(lineage.DATA_PATHS, path)
        repository = getattr(self.backend, "repository", None)
        if repository:
            lineage.note(lineage.DATA_REPOSITORY, repository)

    def _committed(self, ref: str, commit: str, path: str) -> bool:
        """Whether ``path`` at ``ref`` is the same bytes as in ``commit``."""
        try:
            return self.backend.stat(commit, path).checksum == self.backend.stat(ref, path).checksum
        except NotFoundError:
            return False

    def stat(self, path: str, ref: str | None = None) -> ObjectInfo:
        return self.backend.stat(check_ref(ref or self.default_branch), check_path(path))

    def ls(self, ref: str | None = None, prefix: str = "") -> Listing:
        rows = self.backend.ls(check_ref(ref or self.default_branch), check_prefix(prefix))
        return Listing(
            ["path", "size", "checksum"],
            [[o.path, _size(o.size), o.checksum[:12]] for o in rows],
            rows,
            f"objects at {ref or self.default_branch}" + (f" under {prefix}" if prefix else ""),
        )

    def log(self, ref: str | None = None, path: str | None = None, limit: int = 100) -> Listing:
        ref = check_ref(ref or self.default_branch)
        if path is not None:
            path = check_prefix(path)
        rows = self.backend.log(ref, path, limit)
        return Listing(
            ["commit", "message", "committer", "created", "notebook"],
            [
                [
                    c.id[:12],
                    c.message,
                    c.committer,
                    _time(c.created),
                    c.metadata.get(lineage.NOTEBOOK_PATH, ""),
                ]
                for c in rows
            ],
            rows,
            f"log of {ref}" + (f" for {path}" if path else ""),
        )

    def get_commit(self, ref: str | None = None) -> CommitInfo:
        return self.backend.get_commit(check_ref(ref or self.default_branch))

    def diff(self, left: str | None = None, right: str | None = None) -> Listing:
        """Paths added, removed or changed from ``left`` to ``right``; with one branch only,
        its uncommitted changes."""
        left = check_ref(left or self.default_branch)
        if right is None:
            rows = self.backend.uncommitted(check_name(left))
            title = f"uncommitted changes on {left}"
        else:
            rows = self.backend.diff(left, check_ref(right))
            title = f"{left} -> {right}"
        return Diff(
            ["change", "path", "size"],
            [[c.kind, c.path, _size(c.size)] for c in rows],
            rows,
            title,
            style=lambda column, value: _COLOURS.get(value, "") if column == "change" else "",
            empty="no changes",
        )

    def uri(self, ref: str | None, path: str, s3: bool = False) -> str:
        """Where another tool reads the file: a local path (embedded store), or
        ``lakefs://repo/ref/path`` (``s3://repo/ref/path`` with ``s3=True``)."""
        return self.backend.uri(check_ref(ref or self.default_branch), check_path(path), s3)


class Listing(list[Any]):
    """A list of results that shows as a table (HTML in notebooks, text in terminals)."""

    def __init__(
        self,
        columns: Sequence[str],
        cells: Sequence[Sequence[Any]],
        items: Sequence[Any],
        title: str,
        style: Any = None,
        empty: str = "none",
    ) -> None:
        super().__init__(items)
        self.columns = list(columns)
        self.cells = [list(c) for c in cells]
        self.title = title
        self.style = style
        self.empty = empty
        """What an empty listing says, in one line."""
        self.max_rows = 50

    @property
    def rows(self) -> list[list[Any]]:
        return self.cells

    def table(self, max_rows: int | None = None) -> Table:
        shown = self.max_rows if max_rows is None else max_rows
        return Table(self.columns, self.cells, self.title, (), shown, self.style)

    def __repr__(self) -> str:
        return repr(self.table()) if self.cells else f"{self.title}: {self.empty}"

    def _repr_html_(self) -> str:
        if not self.cells:
            return (
                f'<div class="mlops-empty"><strong>{html.escape(self.title)}</strong>: '
                f'<span style="{colour(MUTED)}">{html.escape(self.empty)}</span></div>'
            )
        return self.table()._repr_html_()


class Diff(Listing):
    """A diff's listing, drawn above its table as counts per change kind."""

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for kind, *_rest in self.cells:
            found[kind] = found.get(kind, 0) + 1
        return found

    def _repr_html_(self) -> str:
        if not self.cells:
            return super()._repr_html_()
        tints = {kind: _TINTS.get(kind, MUTED) for kind in self.counts()}
        chart = bar_chart("paths per change", self.counts(), tints)
        return f'<div class="mlops-diff">{chart}{super()._repr_html_()}</div>'


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise UsageError("commit metadata must be a dict of str to str")
    bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise UsageError(f"commit metadata must map str to str; fix {', '.join(map(str, bad))}")
    return dict(metadata)


def _format(path: str) -> str:
    lower = path.lower()
    return "csv" if lower.endswith((".csv", ".csv.gz")) else "parquet"


def _size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def _time(seconds: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- provenance


def provenance(root: Path) -> dict[str, str]:
    """Commit metadata: the notebook (or script) path, its git commit and dirty flag when in
    a git checkout, and the user."""
    return {USER: current_user(), **lineage.origin_tags(root)}


def _files_under(folder: Path) -> list[str]:
    """Relative POSIX paths of the files under ``folder``, as ``rglob`` + ``is_file`` finds
    them (a symlink to a file counts, a symlinked folder is not entered), from ``scandir``
    alone: no stat for a plain file, which matters for thousands of small ones."""
    found: list[str] = []
    pending = [("", str(folder))]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{entry.name}/", entry.path))
                elif entry.is_file():
                    found.append(prefix + entry.name)
    return sorted(found, key=lambda name: name.split("/"))
