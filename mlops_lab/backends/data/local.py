"""The embedded data store: content-addressed objects, immutable commits, refs as files.

Layout under the store root (``.mlops/data`` by default)::

    objects/ab/cdef...[.ext]   file contents, named by sha256 (read-only, never rewritten)
    commits/<id>.json          immutable commit records: tree, parents, message, metadata
    refs/heads/<branch>        the branch's head commit id
    refs/tags/<tag>            the tag's commit id
    staging/<branch>.json      uncommitted changes of the branch: path -> entry (null: deleted)
    cache/stat.json            (path, inode, size, mtime) -> sha256, so unchanged files are not
                               hashed twice
    tmp/<pid>-<random>-<n>     a file being stored (copied and hashed in one pass); a small
                               one is read once and written beside its object's name
    lock                       flock()ed by every writer

Safety: every metadata file is written to a temporary name, fsynced and renamed over the
old one, so a reader sees the old or the new version and never a torn one. A commit
writes its record first and moves the branch ref last: a writer killed at any point leaves
the previous head intact. Writers in any process are serialised by the lock file; readers
take no lock (objects and commits are immutable, refs are replaced atomically). Temporary
files carry their writer's pid, so the next write (or ``gc``) removes those of dead writers.

Anything read from the store is checked before use: damage (a torn or edited file, an
object name pointing outside the store) fails in one line naming the file, and
``check()`` (store_check.py) lists every problem.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from mlops_lab.backends.data import store_check
from mlops_lab.backends.data import store_format as sf
from mlops_lab.backends.data.base import (
    MERGE_STRATEGY_KEY,
    BranchInfo,
    Change,
    CommitInfo,
    Metadata,
    ObjectInfo,
    Strategy,
    current_user,
    merge_conflict,
    parse_ref,
)
from mlops_lab.backends.data.store_format import Entry, Tree, three_way
from mlops_lab.backends.data.store_objects import ObjectStore
from mlops_lab.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    UsageError,
)


class LocalBackend:
    kind = "local"

    def __init__(self, root: Path, default_branch: str = "main") -> None:
        self.root = Path(root)
        self.default_branch = default_branch
        self._commits: dict[str, tuple[CommitInfo, Tree]] = {}
        self._ready = False
        self.objects = ObjectStore(self.root)

    def describe(self) -> str:
        return str(self.root)

    # ---------------------------------------------------------------- plumbing

    def _ensure(self) -> None:
        if self._ready:
            return
        for sub in ("objects", "commits", "refs/heads", "refs/tags", "staging", "cache", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if not (self.root / "refs" / "heads" / self.default_branch).exists():
            with self._locked():
                if not any((self.root / "refs" / "heads").iterdir()):
                    first = self._write_commit({}, (), "Repository created", {})
                    self._write_ref("heads", self.default_branch, first)
        self._ready = True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive writer lock, across processes and threads (one open file each time)."""
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = sf.tmp_name(path)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            sf.crash_point("before-rename:" + path.parent.name)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        sf.fsync_dir(path.parent)

    def damaged(self, path: Path, reason: str) -> sf.StoreDamaged:
        where = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        return sf.StoreDamaged(
            f"data store {self.root} is damaged: {where} {reason}; run `mlops-lab data check` "
            "(or lab.data.check()) to list every problem",
            where=str(where),
            reason=reason,
        )

    def _ref_file(self, kind: str, name: str) -> Path:
        return self.root / "refs" / kind / name

    def _read_ref(self, kind: str, name: str) -> str | None:
        path = self._ref_file(kind, name)
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:  # a name no file can have (too long) names no ref either
            if exc.errno == errno.ENAMETOOLONG:
                return None
            raise
        text = raw.decode("ascii", "replace").strip()
        if not sf.SHA256.match(text):
            raise self.damaged(path, "does not hold a commit id")
        return text

    def _write_ref(self, kind: str, name: str, commit_id: str) -> None:
        self._atomic_write(self._ref_file(kind, name), commit_id.encode("ascii") + b"\n")

    def _staging_file(self, branch: str) -> Path:
        return self.root / "staging" / f"{branch}.json"

    def _staging(self, branch: str) -> dict[str, Entry | None]:
        path = self._staging_file(branch)
        try:
            staged = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError:
            raise self.damaged(path, "is not valid JSON") from None
        if not isinstance(staged, dict):
            raise self.damaged(path, "is not a JSON object")
        for name, entry in staged.items():
            if entry is not None:
                self._check_entry(path, name, entry)
        return staged

    def _check_entry(self, where: Path, name: str, entry: Any) -> None:
        """An entry names its object by its sha256: anything else (a path outside the
        store above all) is damage, never followed."""
        found = sf.OBJECT.match(entry.get("object", "")) if isinstance(entry, dict) else None
        if (
            found is None
            or found.group(1) + found.group(2) != entry.get("sha256")
            or not isinstance(entry.get("size"), int)
            or isinstance(entry.get("size"), bool)
        ):
            raise self.damaged(where, f"has a bad entry for '{name}' (object outside the store?)")

    def _write_staging(self, branch: str, staged: Mapping[str, Entry | None]) -> None:
        store_check.remove_leftovers(self.root, branch)  # of writers killed before
        if staged:
            self._atomic_write(self._staging_file(branch), sf.dumps(staged))
        else:
            with contextlib.suppress(FileNotFoundError):
                self._staging_file(branch).unlink()

    def _write_commit(
        self, tree: Tree, parents: tuple[str, ...], message: str, metadata: Mapping[str, str]
    ) -> str:
        record = {
            "tree": tree,
            "parents": list(parents),
            "message": message,
            "metadata": dict(metadata),
            "committer": current_user(),
            "created": time.time(),
        }
        commit_id = hashlib.sha256(sf.dumps(record)).hexdigest()
        self._atomic_write(self.root / "commits" / f"{commit_id}.json", sf.dumps(record))
        return commit_id

    def _load(self, commit_id: str) -> tuple[CommitInfo, Tree]:
        cached = self._commits.get(commit_id)
        if cached is not None:
            return cached
        path = self.root / "commits" / f"{commit_id}.json"
        try:
            record = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"commit {commit_id} not found in {self.root}") from None
        except ValueError:
            raise self.damaged(path, "is not valid JSON") from None
        try:
            info = CommitInfo(
                id=commit_id,
                message=str(record["message"]),
                parents=tuple(str(p) for p in record["parents"]),
                committer=str(record["committer"]),
                created=float(record["created"]),
                metadata={str(k): str(v) for k, v in record["metadata"].items()},
            )
            tree = record["tree"]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.damaged(path, "is not a commit record") from None
        if not isinstance(tree, dict) or not all(sf.SHA256.match(p) for p in info.parents):
            raise self.damaged(path, "is not a commit record")
        for name, entry in tree.items():
            self._check_entry(path, name, entry)
        self._commits[commit_id] = (info, tree)
        return info, tree

    def _object(self, entry: Entry) -> Path:
        return self.objects.path(entry)

    def _view(self, ref: str) -> Tree:
        """The tree a ref shows: a branch (or ``branch$``) includes its staged changes,
        ``branch@`` is its committed state."""
        self._ensure()
        base, modifiers = parse_ref(ref)
        branch = base if modifiers in ([], [("$", 1)]) and not self._is_commit(base) else None
        head = self._read_ref("heads", branch) if branch else None
        if branch is None or head is None:
            return self._load(self.resolve(ref))[1]
        tree = dict(self._load(head)[1])
        for path, entry in self._staging(branch).items():
            if entry is None:
                tree.pop(path, None)
            else:
                tree[path] = entry
        return tree

    def _head(self, branch: str) -> str:
        head = self._read_ref("heads", branch)
        if head is None:
            raise NotFoundError(
                f"branch '{branch}' not found in {self.root}; "
                f"see lab.data.branches() or create it with lab.data.create_branch('{branch}')"
            )
        return head

    # ---------------------------------------------------------------- refs

    def resolve(self, ref: str) -> str:
        """As lakeFS resolves: a full commit id, a branch, a tag, a commit id prefix; then
        the modifiers (``~N`` first parent N times, ``^N`` N-th parent, ``@``/``$``)."""
        self._ensure()
        base, modifiers = parse_ref(ref)
        commit_id = self._resolve_base(base)
        if modifiers and modifiers[0][0] in "@$":
            if self._is_commit(base) or self._read_ref("heads", base) is None:
                raise UsageError(f"invalid ref '{ref}': @ and $ follow a branch name")
            return commit_id
        for kind, count in modifiers:
            for _ in range(count if kind == "~" else 1):
                parents = self._load(commit_id)[0].parents
                number = 1 if kind == "~" else count
                if number == 0:
                    break
                if number > len(parents):
                    if kind == "^":
                        raise UsageError(
                            f"invalid ref '{ref}': commit {commit_id[:12]} has "
                            f"{len(parents)} parent(s)"
                        )
                    raise NotFoundError(f"ref '{ref}' goes past the first commit")
                commit_id = parents[number - 1]
        return commit_id

    def _is_commit(self, name: str) -> bool:
        return bool(sf.SHA256.match(name)) and (self.root / "commits" / f"{name}.json").is_file()

    def _resolve_base(self, ref: str) -> str:
        if self._is_commit(ref):
            return ref
        for kind in ("heads", "tags"):
            found = self._read_ref(kind, ref)
            if found is not None:
                return found
        if len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref):
            matches = [p.stem for p in (self.root / "commits").glob(f"{ref}*.json")]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UsageError(f"commit id prefix '{ref}' is ambiguous; give more characters")
        raise NotFoundError(
            f"ref '{ref}' not found (no branch, tag or commit by that name in {self.root}); "
            "see lab.data.branches() and lab.data.log()"
        )

    def _check_new_ref(self, name: str, kind: str) -> None:
        """Branch and tag names never shadow each other or a commit id (as in lakeFS)."""
        if self._read_ref("heads", name) is not None:
            raise ConflictError(
                f"{'a' if kind == 'tag' else 'the'} branch '{name}' already exists; "
                "pick another name" + ("" if kind == "tag" else " or delete it first")
            )
        if self._read_ref("tags", name) is not None:
            raise ConflictError(
                f"{'the' if kind == 'tag' else 'a'} tag '{name}' already exists; "
                + ("tags never move, pick another name" if kind == "tag" else "pick another name")
            )
        if self._is_commit(name):
            raise ConflictError(f"'{name}' is a commit id; pick another {kind} name")

    def create_branch(self, name: str, source: str) -> str:
        self._ensure()
        with self._locked():
            self._check_new_ref(name, "branch")
            commit_id = self.resolve(source)
            self._write_ref("heads", name, commit_id)
        return commit_id

    def branches(self) -> list[BranchInfo]:
        self._ensure()
        out = []
        for ref in sorted((self.root / "refs" / "heads").iterdir()):
            if ref.name.startswith("."):
                continue
            commit_id = self._read_ref("heads", ref.name)
            if commit_id:
                out.append(BranchInfo(ref.name, commit_id))
        return out

    # ---------------------------------------------------------------- protection

    def protection(self) -> list[str]:
        self._ensure()
        path = self.root / "refs" / "protected.json"
        try:
            rules = json.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except ValueError:
            raise self.damaged(path, "is not valid JSON") from None
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise self.damaged(path, "is not a list of branch patterns")
        return rules

    def set_protection(self, patterns: list[str]) -> None:
        self._ensure()
        with self._locked():
            self._atomic_write(
                self.root / "refs" / "protected.json", sf.dumps(sorted(set(patterns)))
            )

    def _check_writable(self, branch: str) -> None:
        if any(fnmatch.fnmatchcase(branch, p) for p in self.protection()):
            raise AccessDeniedError(
                f"branch '{branch}' is protected; write on another branch and merge it into '{branch}'"
            )

    def delete_branch(self, name: str) -> None:
        self._ensure()
        with self._locked():
            self._head(name)
            self._check_writable(name)
            self._ref_file("heads", name).unlink()
            self._write_staging(name, {})

    def tag(self, name: str, ref: str) -> str:
        self._ensure()
        with self._locked():
            self._check_new_ref(name, "tag")
            commit_id = self.resolve(ref)
            self._write_ref("tags", name, commit_id)
        return commit_id

    def tags(self) -> list[BranchInfo]:
        self._ensure()
        out = []
        for ref in sorted((self.root / "refs" / "tags").iterdir()):
            commit_id = self._read_ref("tags", ref.name)
            if commit_id and not ref.name.startswith("."):
                out.append(BranchInfo(ref.name, commit_id))
        return out

    # ---------------------------------------------------------------- writes

    def put(self, path: str, branch: str, data: bytes | str) -> ObjectInfo:
        return self.put_many([(path, data)], branch)[0]

    def put_many(self, items: list[tuple[str, bytes | str]], branch: str) -> list[ObjectInfo]:
        """Store objects (in parallel threads: hashing and copying release the GIL), then
        stage them all in one locked update."""
        self._ensure()
        self._head(branch)
        self._check_writable(branch)

        entries = self.objects.store_many(items)
        with self._locked():
            self._head(branch)
            self._check_writable(branch)
            staged = self._staging(branch)
            for (path, _), entry in zip(items, entries, strict=True):
                staged[path] = entry
            self._write_staging(branch, staged)
        return [
            ObjectInfo(p, e["size"], e["sha256"]) for (p, _), e in zip(items, entries, strict=True)
        ]

    def delete(self, path: str, branch: str) -> None:
        self._ensure()
        with self._locked():
            self._check_writable(branch)
            tree = self._view(branch)
            if path not in tree:
                raise NotFoundError(
                    f"'{path}' not found on branch '{branch}'; see lab.data.ls('{branch}')"
                )
            staged = self._staging(branch)
            staged[path] = None
            self._write_staging(branch, staged)

    def reset(self, branch: str) -> None:
        self._ensure()
        with self._locked():
            self._head(branch)
            self._check_writable(branch)
            self._write_staging(branch, {})

    def commit(self, branch: str, message: str, metadata: Metadata) -> str:
        self._ensure()
        with self._locked():
            head = self._head(branch)
            staged = self._staging(branch)
            if not staged:
                return head
            self._check_writable(branch)
            tree = self._view(branch)
            if tree == self._load(head)[1]:
                self._write_staging(branch, {})  # re-staged identical content: nothing to store
                return head
            meta = metadata() if callable(metadata) else metadata
            commit_id = self._write_commit(tree, (head,), message, meta)
            sf.crash_point("before-ref")
            self._write_ref("heads", branch, commit_id)
            self._write_staging(branch, {})
        return commit_id

    def merge(
        self, source: str, dest: str, strategy: Strategy, message: str, metadata: Mapping[str, str]
    ) -> str:
        self._ensure()
        with self._locked():
            dest_head = self._head(dest)
            if self._staging(dest):
                raise ConflictError(
                    f"branch '{dest}' has uncommitted changes; commit or reset it before merging into it"
                )
            source_id = self.resolve(source)
            base = self._merge_base(source_id, dest_head)
            base_tree = self._load(base)[1] if base else {}
            src_tree = self._load(source_id)[1]
            dst_tree = self._load(dest_head)[1]
            if sf.same_tree(src_tree, base_tree):
                return dest_head  # nothing new on the source side (lakeFS: "no changes")
            merged, conflicts = three_way(base_tree, src_tree, dst_tree, strategy)
            if conflicts:
                raise merge_conflict(source, dest, conflicts)
            # Always a merge commit, even when the result equals the destination, so the next
            # merge starts from here (as lakeFS does).
            meta = {**metadata, MERGE_STRATEGY_KEY: "default" if strategy == "fail" else strategy}
            commit_id = self._write_commit(merged, (dest_head, source_id), message, meta)
            sf.crash_point("before-ref")
            self._write_ref("heads", dest, commit_id)
        return commit_id

    def _merge_base(self, left: str, right: str) -> str | None:
        ancestors = set(self._ancestors(left))
        for commit_id in self._ancestors(right):
            if commit_id in ancestors:
                return commit_id
        return None

    def _ancestors(self, start: str) -> Iterator[str]:
        """Commits reachable from ``start``, newest first."""
        seen = {start}
        frontier = [start]
        while frontier:
            frontier.sort(key=lambda c: self._load(c)[0].created)
            current = frontier.pop()
            yield current
            for parent in self._load(current)[0].parents:
                if parent not in seen:
                    seen.add(parent)
                    frontier.append(parent)

    def check(self, deep: bool = False) -> list[str]:
        """Every problem found, one line each (see store_check.check)."""
        self._ensure()
        return store_check.check(self, deep)

    def gc(self, grace_seconds: float = 3600.0) -> tuple[int, int]:
        """Remove what nothing refers to (see store_check.gc): (files removed, bytes freed)."""
        self._ensure()
        with self._locked():
            return store_check.gc(self, grace_seconds)

    # ---------------------------------------------------------------- reads

    def stat(self, ref: str, path: str) -> ObjectInfo:
        entry = self._view(ref).get(path)
        if entry is None:
            raise NotFoundError(f"'{path}' not found at '{ref}'; see lab.data.ls('{ref}')")
        return ObjectInfo(path, entry["size"], entry["sha256"])

    def local_file(self, ref: str, path: str) -> str | None:
        entry = self._view(ref).get(path)
        if entry is None:
            raise NotFoundError(f"'{path}' not found at '{ref}'; see lab.data.ls('{ref}')")
        target = self._object(entry)
        if not target.is_file():
            raise self.damaged(target, f"(the object of '{path}') is missing")
        return str(target)

    def open(self, ref: str, path: str) -> BinaryIO:
        local = self.local_file(ref, path)
        assert local is not None
        return open(local, "rb")

    def ls(self, ref: str, prefix: str) -> list[ObjectInfo]:
        tree = self._view(ref)
        return [
            ObjectInfo(p, e["size"], e["sha256"])
            for p, e in sorted(tree.items())
            if p.startswith(prefix)
        ]

    def get_commit(self, ref: str) -> CommitInfo:
        return self._load(self.resolve(ref))[0]

    def log(self, ref: str, path: str | None, limit: int) -> list[CommitInfo]:
        out: list[CommitInfo] = []
        for commit_id in self._ancestors(self.resolve(ref)):
            info, tree = self._load(commit_id)
            if path is not None:
                if len(info.parents) != 1:
                    continue  # as lakeFS: a path's history skips merges and the first commit
                parent_tree = self._load(info.parents[0])[1] if info.parents else {}
                if not sf.touches(tree, parent_tree, path):
                    continue
            out.append(info)
            if len(out) >= limit:
                break
        return out

    def diff(self, left: str, right: str) -> list[Change]:
        return sf.diff(self._load(self.resolve(left))[1], self._load(self.resolve(right))[1])

    def uncommitted(self, branch: str) -> list[Change]:
        self._ensure()
        head = self._head(branch)
        return sf.diff(self._load(head)[1], self._view(branch))

    def uri(self, ref: str, path: str, s3: bool) -> str:
        if s3:
            raise UsageError(
                "the local store has no S3 gateway; use the plain file path (s3=False)"
            )
        local = self.local_file(ref, path)
        assert local is not None
        return local
