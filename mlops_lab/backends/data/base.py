"""The data-versioning protocol both backends implement, its value types, and the name and
path rules they share.

Semantics follow lakeFS: uncommitted writes are staged per branch and visible when reading
the branch; a commit turns the staged changes into an immutable commit with parents; a
ref is a branch, a tag or a commit id.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, Protocol

from mlops_lab import limits
from mlops_lab.errors import ConflictError, UsageError

ChangeKind = Literal["added", "removed", "changed"]
Strategy = Literal["fail", "source-wins", "dest-wins"]
STRATEGIES: tuple[str, ...] = ("fail", "source-wins", "dest-wins")

Metadata = Mapping[str, str] | Callable[[], Mapping[str, str]]

# lakeFS's rule for branch ids (Go's \w is ASCII), so a name valid here is valid on a server.
_NAME = re.compile(r"^\w[-\w]*$", re.ASCII)
# Tags follow git's ref rules as lakeFS applies them; the lab also keeps out what would read
# as a ref modifier (~ ^ @ $) and a leading '.' or '-'.
_TAG = re.compile(r"^[A-Za-z0-9_][^\x00-\x20\x7f~^:?*\[\\/@$]*$")
# lakeFS's ref modifiers: ~N (first parent N times), ^N (N-th parent), @ (a branch's
# committed state), $ (a branch with its staged changes).
_MODIFIERS = re.compile(r"(^|[~^@$])[^~^@$]*")
MERGE_STRATEGY_KEY = ".lakefs.merge.strategy"
"""Metadata key of a merge commit naming its strategy (lakeFS's own): default, dest-wins,
source-wins."""


@dataclass(frozen=True)
class ObjectInfo:
    path: str
    size: int
    checksum: str
    """sha256 for the local store, the server's checksum (ETag) for lakeFS."""


@dataclass(frozen=True)
class CommitInfo:
    id: str
    message: str
    parents: tuple[str, ...]
    committer: str
    created: float
    """Seconds since the epoch."""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    path: str
    kind: ChangeKind
    size: int | None
    """Size on the right side (the left side for a removed path)."""


@dataclass(frozen=True)
class BranchInfo:
    name: str
    commit_id: str


class DataBackend(Protocol):
    """What ``DataService`` needs from a store. Names and paths arrive validated."""

    kind: str
    default_branch: str

    def resolve(self, ref: str) -> str: ...
    def create_branch(self, name: str, source: str) -> str: ...
    def branches(self) -> list[BranchInfo]: ...
    def delete_branch(self, name: str) -> None: ...
    def put(self, path: str, branch: str, data: bytes | str) -> ObjectInfo:
        """Stage ``data`` (bytes, or the path of a local file) at ``path`` on ``branch``."""
        ...

    def delete(self, path: str, branch: str) -> None: ...
    def stat(self, ref: str, path: str) -> ObjectInfo: ...
    def open(self, ref: str, path: str) -> BinaryIO: ...
    def local_file(self, ref: str, path: str) -> str | None:
        """A local file holding the object's bytes, when the backend has one."""
        ...

    def ls(self, ref: str, prefix: str) -> list[ObjectInfo]: ...
    def commit(self, branch: str, message: str, metadata: Metadata) -> str:
        """``metadata`` may be a callable, evaluated only when a commit is really made."""
        ...

    def log(self, ref: str, path: str | None, limit: int) -> list[CommitInfo]: ...
    def get_commit(self, ref: str) -> CommitInfo: ...
    def diff(self, left: str, right: str) -> list[Change]: ...
    def uncommitted(self, branch: str) -> list[Change]: ...
    def merge(
        self, source: str, dest: str, strategy: Strategy, message: str, metadata: Mapping[str, str]
    ) -> str: ...
    def tag(self, name: str, ref: str) -> str: ...
    def tags(self) -> list[BranchInfo]: ...
    def reset(self, branch: str) -> None: ...
    def protection(self) -> list[str]: ...
    def set_protection(self, patterns: list[str]) -> None: ...
    def uri(self, ref: str, path: str, s3: bool) -> str: ...
    def describe(self) -> str: ...


def check_name(name: str, what: str = "branch") -> str:
    if isinstance(name, str):
        limits.check_name(name, f"{what} name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"invalid {what} name {name!r}: use letters, digits, '_' and '-', "
            "starting with a letter, digit or '_'"
        )
    return name


def check_tag(name: str) -> str:
    if isinstance(name, str):
        limits.check_name(name, "tag name")
    if (
        not isinstance(name, str)
        or not _TAG.match(name)
        or ".." in name
        or name.endswith((".", ".lock"))
    ):
        raise UsageError(
            f"invalid tag name {name!r}: use letters, digits and '._-' (such as v1.0), "
            "starting with a letter, digit or '_', without '..' or a trailing '.'"
        )
    return name


def parse_ref(ref: str) -> tuple[str, list[tuple[str, int]]]:
    """``main~2^1`` -> ("main", [("~", 2), ("^", 1)]), as lakeFS parses refs."""
    limits.check_name(ref, "ref")
    parts = [m.group(0) for m in _MODIFIERS.finditer(ref)]
    if not parts or not parts[0]:
        raise UsageError(f"invalid ref {ref!r}: give a branch, a tag or a commit id")
    modifiers = []
    for part in parts[1:]:
        kind, count = part[0], part[1:]
        if (kind in "@$" and count) or (count and not count.isdigit()):
            raise UsageError(f"invalid ref {ref!r}: modifiers are ~N, ^N, and a branch's @ or $")
        modifiers.append((kind, int(count) if count else 1))
    if any(kind in "@$" for kind, _ in modifiers) and len(modifiers) != 1:
        raise UsageError(f"invalid ref {ref!r}: @ and $ go alone after a branch name")
    return parts[0], modifiers


def current_user() -> str:
    """The user a commit records."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def merge_conflict(source: str, dest: str, paths: list[str]) -> ConflictError:
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    return ConflictError(
        f"merge of '{source}' into '{dest}' conflicts on {shown}; '{dest}' is unchanged. "
        "Fix the paths on one side, or merge with strategy='source-wins' or 'dest-wins'",
        paths=paths,
    )


def check_ref(ref: str) -> str:
    if isinstance(ref, str):
        limits.check_name(ref, "ref")
    if not isinstance(ref, str) or not ref or any(c in ref for c in "/\\ \t\n") or ".." in ref:
        raise UsageError(f"invalid ref {ref!r}: give a branch, a tag or a commit id")
    return ref


def check_path(path: str) -> str:
    """A repository path: relative, '/'-separated, no '..' or '.' parts. Returned normalised."""
    if not isinstance(path, str) or not path.strip():
        raise UsageError("empty path: give a path inside the repository such as data/x.parquet")
    limits.check_path(path)
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or "\x00" in path:
        raise UsageError(f"path {path!r} is absolute; give a path relative to the repository root")
    parts = path.replace("\\", "/").split("/")
    if any(p in ("..", ".") for p in parts):
        raise UsageError(
            f"path {path!r} escapes or walks the repository ('.' or '..' parts); "
            "give a plain relative path"
        )
    clean = [p for p in parts if p]
    if not clean or path.endswith("/"):
        raise UsageError(
            f"path {path!r} names a folder; give a file path such as {path.rstrip('/')}/x.parquet"
        )
    return "/".join(clean)


def check_prefix(prefix: str) -> str:
    if not prefix:
        return ""
    clean = check_path(prefix.rstrip("/") if prefix != "/" else prefix)
    return clean + ("/" if prefix.endswith("/") else "")
