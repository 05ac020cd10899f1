"""The embedded data store: content-addressed objects, immutable commits, refs as files.

Layout under the store root (``.mlops/data`` by default)::

    objects/ab/cdef...[.ext]   file contents, named by sha256 (read-only, never rewritten)
    commits/<id>.json          immutable commit records: tree, parents, message, metadata
    refs/heads/<branch>        the branch's head commit id
    refs/tags/<tag>            the tag's commit id
    staging/<branch>.json      uncommitted changes of the branch: path -> entry (null: deleted)
    cache/stat.json            (path, inode, size, mtime) -> sha256, so unchanged files are not
                               hashed twice
    lock                       flock()ed by every writer

Safety: every metadata file is written to a temporary name, fsynced and renamed over the
old one, so a reader sees the old or the new version and never a torn one. A commit
writes its record first and moves the branch ref last: a writer killed at any point leaves
the previous head intact. Writers in any process are serialised by the lock file; readers
take no lock (objects and commits are immutable, refs are replaced atomically).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import getpass
import hashlib
import json
import mmap
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from mlops_lab.backends.data.base import (
    BranchInfo,
    Change,
    CommitInfo,
    Metadata,
    ObjectInfo,
    Strategy,
)
from mlops_lab.errors import AccessDeniedError, ConflictError, NotFoundError, UsageError

Entry = dict[str, Any]  # {"sha256": str, "size": int, "object": "ab/cdef...ext"}
Tree = dict[str, Entry]

_CHUNK = 1 << 20
_WORKERS = min(16, 2 * (os.cpu_count() or 2))
_RACY_SECONDS = 0.05  # a file modified this recently is hashed again next time


class LocalBackend:
    kind = "local"

    def __init__(self, root: Path, default_branch: str = "main") -> None:
        self.root = Path(root)
        self.default_branch = default_branch
        self._commits: dict[str, tuple[CommitInfo, Tree]] = {}
        self._ready = False
        self._cache_lock = threading.Lock()
        self._stat_cache: dict[str, list[Any]] | None = None

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

    def _tmp_name(self, near: Path) -> Path:
        return near.with_name(f".{near.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = self._tmp_name(path)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            _crash_point("before-rename:" + path.parent.name)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(path.parent)

    def _ref_file(self, kind: str, name: str) -> Path:
        return self.root / "refs" / kind / name

    def _read_ref(self, kind: str, name: str) -> str | None:
        try:
            return self._ref_file(kind, name).read_text(encoding="ascii").strip() or None
        except (FileNotFoundError, IsADirectoryError):
            return None

    def _write_ref(self, kind: str, name: str, commit_id: str) -> None:
        self._atomic_write(self._ref_file(kind, name), commit_id.encode("ascii") + b"\n")

    def _staging_file(self, branch: str) -> Path:
        return self.root / "staging" / f"{branch}.json"

    def _staging(self, branch: str) -> dict[str, Entry | None]:
        try:
            return dict(json.loads(self._staging_file(branch).read_bytes()))
        except FileNotFoundError:
            return {}

    def _write_staging(self, branch: str, staged: Mapping[str, Entry | None]) -> None:
        if staged:
            self._atomic_write(self._staging_file(branch), _dumps(staged))
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
            "committer": user(),
            "created": time.time(),
        }
        commit_id = hashlib.sha256(_dumps(record)).hexdigest()
        self._atomic_write(self.root / "commits" / f"{commit_id}.json", _dumps(record))
        return commit_id

    def _load(self, commit_id: str) -> tuple[CommitInfo, Tree]:
        cached = self._commits.get(commit_id)
        if cached is not None:
            return cached
        try:
            record = json.loads((self.root / "commits" / f"{commit_id}.json").read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"commit {commit_id} not found in {self.root}") from None
        info = CommitInfo(
            id=commit_id,
            message=record["message"],
            parents=tuple(record["parents"]),
            committer=record["committer"],
            created=float(record["created"]),
            metadata=dict(record["metadata"]),
        )
        self._commits[commit_id] = (info, record["tree"])
        return info, record["tree"]

    def _object(self, entry: Entry) -> Path:
        return self.root / "objects" / str(entry["object"])

    def _view(self, ref: str) -> Tree:
        """The tree a ref shows: a branch includes its staged changes."""
        self._ensure()
        head = self._read_ref("heads", ref)
        if head is not None:
            tree = dict(self._load(head)[1])
            for path, entry in self._staging(ref).items():
                if entry is None:
                    tree.pop(path, None)
                else:
                    tree[path] = entry
            return tree
        return self._load(self.resolve(ref))[1]

    def _head(self, branch: str) -> str:
        head = self._read_ref("heads", branch)
        if head is None:
            raise NotFoundError(
                f"branch '{branch}' not found in {self.root}; "
                f"see lab.data.branches() or create it with lab.data.create_branch('{branch}')"
            )
        return head

    # ---------------------------------------------------------------- objects

    def _store_bytes(self, data: bytes, path: str) -> Entry:
        sha = hashlib.sha256(data).hexdigest()
        entry = _entry(sha, len(data), path)
        target = self._object(entry)
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            tmp = self._tmp_name(target)
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        return entry

    def _store_file(self, source: Path, path: str) -> Entry:
        st = source.stat()
        key = str(source.resolve())
        signature = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        cache = self._load_stat_cache()
        hit = cache.get(key)
        if hit is not None and hit[:5] == signature:
            entry = _entry(hit[5], st.st_size, path)
            if self._object(entry).exists():
                return entry
        # Copy first, then hash the copy: the name always matches the bytes stored, even if
        # the source changes meanwhile (a dedup hit just drops the copy).
        spool = self.root / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex}"
        try:
            shutil.copyfile(source, spool)
            size = spool.stat().st_size
            sha = _sha256_file(spool, size)
            entry = _entry(sha, size, path)
            target = self._object(entry)
            if target.exists():
                spool.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                os.chmod(spool, 0o444)
                os.replace(spool, target)
        except BaseException:
            with contextlib.suppress(OSError):
                spool.unlink()
            raise
        if (
            size == st.st_size
            and time.time() - st.st_mtime_ns / 1e9 > _RACY_SECONDS
            and source.stat().st_mtime_ns == st.st_mtime_ns
        ):
            with self._cache_lock:
                cache[key] = [*signature, sha]
        return entry

    def _load_stat_cache(self) -> dict[str, list[Any]]:
        with self._cache_lock:
            if self._stat_cache is None:
                try:
                    self._stat_cache = dict(
                        json.loads((self.root / "cache" / "stat.json").read_bytes())
                    )
                except (FileNotFoundError, ValueError):
                    self._stat_cache = {}
            return self._stat_cache

    def _save_stat_cache(self) -> None:
        with self._cache_lock:
            data = _dumps(self._stat_cache or {})
        with contextlib.suppress(OSError):
            tmp = self._tmp_name(self.root / "cache" / "stat.json")
            tmp.write_bytes(data)
            os.replace(tmp, self.root / "cache" / "stat.json")

    # ---------------------------------------------------------------- refs

    def resolve(self, ref: str) -> str:
        self._ensure()
        for kind in ("heads", "tags"):
            found = self._read_ref(kind, ref)
            if found is not None:
                return found
        if len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref):
            if (self.root / "commits" / f"{ref}.json").exists():
                return ref
            matches = [p.stem for p in (self.root / "commits").glob(f"{ref}*.json")]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UsageError(f"commit id prefix '{ref}' is ambiguous; give more characters")
        raise NotFoundError(
            f"ref '{ref}' not found (no branch, tag or commit by that name in {self.root}); "
            "see lab.data.branches() and lab.data.log()"
        )

    def create_branch(self, name: str, source: str) -> str:
        self._ensure()
        with self._locked():
            if self._read_ref("heads", name) is not None:
                raise ConflictError(
                    f"branch '{name}' already exists; pick another name or delete it first"
                )
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
        try:
            return list(json.loads((self.root / "refs" / "protected.json").read_bytes()))
        except FileNotFoundError:
            return []

    def set_protection(self, patterns: list[str]) -> None:
        self._ensure()
        with self._locked():
            self._atomic_write(self.root / "refs" / "protected.json", _dumps(sorted(set(patterns))))

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
            if self._read_ref("tags", name) is not None:
                raise ConflictError(
                    f"tag '{name}' already exists; tags never move, pick another name"
                )
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

        def store(item: tuple[str, bytes | str]) -> Entry:
            path, data = item
            if isinstance(data, bytes | bytearray | memoryview):
                return self._store_bytes(bytes(data), path)
            return self._store_file(Path(data), path)

        if len(items) > 1:
            with ThreadPoolExecutor(max_workers=min(_WORKERS, len(items))) as pool:
                entries = list(pool.map(store, items))
        else:
            entries = [store(items[0])]
        self._save_stat_cache()
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
            _crash_point("before-ref")
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
            if base == source_id or source_id == dest_head:
                return dest_head  # nothing new on the source side
            base_tree = self._load(base)[1] if base else {}
            src_tree = self._load(source_id)[1]
            dst_tree = self._load(dest_head)[1]
            merged: Tree = {}
            conflicts = []
            for path in sorted(set(base_tree) | set(src_tree) | set(dst_tree)):
                b, s, d = base_tree.get(path), src_tree.get(path), dst_tree.get(path)
                if _same(s, d) or _same(s, b):
                    chosen = d
                elif _same(d, b) or strategy == "source-wins":
                    chosen = s
                elif strategy == "dest-wins":
                    chosen = d
                else:
                    conflicts.append(path)
                    continue
                if chosen is not None:
                    merged[path] = chosen
            if conflicts:
                raise merge_conflict(source, dest, conflicts)
            if merged == dst_tree:
                return dest_head
            commit_id = self._write_commit(merged, (dest_head, source_id), message, metadata)
            _crash_point("before-ref")
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
        """Problems found: refs to missing commits, tree or staged entries whose object is
        missing or of the wrong size (``deep``: or whose bytes do not hash to their name)."""
        self._ensure()
        problems: list[str] = []
        entries: list[tuple[str, Entry]] = []
        for kind in ("heads", "tags"):
            for ref in (self.root / "refs" / kind).iterdir():
                if ref.name.startswith("."):
                    continue
                commit_id = self._read_ref(kind, ref.name)
                if not commit_id or not (self.root / "commits" / f"{commit_id}.json").is_file():
                    problems.append(f"{kind[:-1]} {ref.name} points to missing commit {commit_id}")
                    continue
                for ancestor in self._ancestors(commit_id):
                    entries += [
                        (f"{ancestor[:12]}:{p}", e) for p, e in self._load(ancestor)[1].items()
                    ]
        for staged in (self.root / "staging").glob("*.json"):
            entries += [
                (f"staged {staged.stem}:{p}", e) for p, e in self._staging(staged.stem).items() if e
            ]
        seen: set[str] = set()
        for where, entry in entries:
            if entry["object"] in seen:
                continue
            seen.add(entry["object"])
            target = self._object(entry)
            if not target.is_file():
                problems.append(f"{where}: object {entry['object']} is missing")
            elif target.stat().st_size != entry["size"]:
                problems.append(f"{where}: object {entry['object']} has the wrong size")
            elif deep and _sha256_file(target, entry["size"]) != entry["sha256"]:
                problems.append(f"{where}: object {entry['object']} does not match its hash")
        return problems

    # ---------------------------------------------------------------- garbage

    def gc(self, grace_seconds: float = 3600.0) -> tuple[int, int]:
        """Delete objects no commit and no staged change refers to, and temporary files of
        killed writers, when older than ``grace_seconds`` (a writer stores objects before it
        stages them). Commits are kept: run lineage may name any of them. Returns
        (files removed, bytes freed)."""
        self._ensure()
        cutoff = time.time() - grace_seconds
        removed = freed = 0
        with self._locked():
            live: set[str] = set()
            for record in (self.root / "commits").glob("*.json"):
                live.update(e["object"] for e in self._load(record.stem)[1].values())
            for staged in (self.root / "staging").glob("*.json"):
                live.update(e["object"] for e in self._staging(staged.stem).values() if e)
            candidates = [
                p
                for p in (self.root / "objects").rglob("*")
                if p.is_file() and f"{p.parent.name}/{p.name}" not in live
            ]
            candidates += [p for p in (self.root / "tmp").iterdir() if p.is_file()]
            candidates += [p for p in (self.root / "refs").rglob(".*.tmp") if p.is_file()]
            for path in candidates:
                try:
                    st = path.stat()
                    if st.st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                        freed += st.st_size
                except FileNotFoundError:
                    continue
        return removed, freed

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
        return str(self._object(entry))

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
                parent_tree = self._load(info.parents[0])[1] if info.parents else {}
                if not _touches(tree, parent_tree, path):
                    continue
            out.append(info)
            if len(out) >= limit:
                break
        return out

    def diff(self, left: str, right: str) -> list[Change]:
        return _diff(self._load(self.resolve(left))[1], self._load(self.resolve(right))[1])

    def uncommitted(self, branch: str) -> list[Change]:
        self._ensure()
        head = self._head(branch)
        return _diff(self._load(head)[1], self._view(branch))

    def uri(self, ref: str, path: str, s3: bool) -> str:
        if s3:
            raise UsageError(
                "the local store has no S3 gateway; use the plain file path (s3=False)"
            )
        local = self.local_file(ref, path)
        assert local is not None
        return local


def merge_conflict(source: str, dest: str, paths: list[str]) -> ConflictError:
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    return ConflictError(
        f"merge of '{source}' into '{dest}' conflicts on {shown}; '{dest}' is unchanged. "
        "Fix the paths on one side, or merge with strategy='source-wins' or 'dest-wins'",
        paths=paths,
    )


def _sha256_file(path: Path, size: int) -> str:
    """sha256 of a file, hashing straight from the page cache (mmap: no copy into Python)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if size >= _CHUNK:
            with (
                mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
                memoryview(mapped) as view,
            ):
                step = 64 * _CHUNK
                for start in range(0, len(view), step):
                    digest.update(view[start : start + step])
        else:
            digest.update(fh.read())
    return digest.hexdigest()


def _same(a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(a["sha256"] == b["sha256"])


def _touches(tree: Tree, parent: Tree, path: str) -> bool:
    if path.endswith("/"):
        keys = {p for p in tree if p.startswith(path)} | {p for p in parent if p.startswith(path)}
        return any(not _same(tree.get(p), parent.get(p)) for p in keys)
    return not _same(tree.get(path), parent.get(path))


def _diff(left: Tree, right: Tree) -> list[Change]:
    out = []
    for path in sorted(set(left) | set(right)):
        a, b = left.get(path), right.get(path)
        if a is None and b is not None:
            out.append(Change(path, "added", b["size"]))
        elif b is None and a is not None:
            out.append(Change(path, "removed", a["size"]))
        elif a is not None and b is not None and not _same(a, b):
            out.append(Change(path, "changed", b["size"]))
    return out


def _entry(sha: str, size: int, path: str) -> Entry:
    suffix = Path(path).suffix.lower()
    ext = suffix if 1 < len(suffix) <= 10 and suffix[1:].isalnum() else ""
    return {"sha256": sha, "size": size, "object": f"{sha[:2]}/{sha[2:]}{ext}"}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _crash_point(name: str) -> None:
    """Test hook: with MLOPS_DATA_TEST_PAUSE=<name>:<marker file>, announce the point by
    creating the marker and wait to be killed there."""
    spec = os.environ.get("MLOPS_DATA_TEST_PAUSE")
    if not spec:
        return
    point, _, marker = spec.partition("=")
    if point == name:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(60)
