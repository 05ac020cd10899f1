"""The embedded store's format (see local.py): entries and trees, their diff and
three-way merge, and the file helpers its writers share (one-pass copy and hash, atomic
JSON, crash points for tests)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from mlops_lab.backends.data.base import Change, Strategy
from mlops_lab.errors import BackendError

Entry = dict[str, Any]  # {"sha256": str, "size": int, "object": "ab/cdef...ext"}
Tree = dict[str, Entry]

CHUNK = 256 << 10  # copy and hash each chunk while it is in the CPU's L2 cache
SHA256 = re.compile(r"^[0-9a-f]{64}$")  # object names and commit ids
OBJECT = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{62})(\.[a-z0-9]{1,9})?$")


def tmp_name(near: Path) -> Path:
    """A temporary name beside ``near`` that carries the writer's pid."""
    return near.with_name(f".{near.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


class StoreDamaged(BackendError):
    """A file of the store is not what the store wrote (torn, edited, or pointing outside)."""


def three_way(base: Tree, source: Tree, dest: Tree, strategy: Strategy) -> tuple[Tree, list[str]]:
    """(merged tree, conflicting paths) of merging ``source`` into ``dest``."""
    merged: Tree = {}
    conflicts = []
    for path in sorted(set(base) | set(source) | set(dest)):
        b, s, d = base.get(path), source.get(path), dest.get(path)
        if same(s, d) or same(s, b):
            chosen = d
        elif same(d, b) or strategy == "source-wins":
            chosen = s
        elif strategy == "dest-wins":
            chosen = d
        else:
            conflicts.append(path)
            continue
        if chosen is not None:
            merged[path] = chosen
    return merged, conflicts


def copy_hashing(source: str | Path, target: str | Path) -> tuple[str, int]:
    """Copy ``source`` to a new read-only file ``target`` and hash the bytes written, in one
    pass: each chunk is hashed while still in the CPU cache (sha256 releases the GIL, so files
    hash in parallel). Each thread reuses one buffer: small files cost no allocation."""
    digest = hashlib.sha256()
    buffer = _thread_buffer()
    view = memoryview(buffer)
    size = 0
    with open(source, "rb", buffering=0) as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        with open(fd, "wb", buffering=0) as dst:
            while n := src.readinto(buffer):
                chunk = view[:n]
                digest.update(chunk)
                while chunk:
                    chunk = chunk[dst.write(chunk) :]
                size += n
    return digest.hexdigest(), size


def read_small(source: str | Path) -> memoryview | None:
    """All of ``source`` when it is shorter than one chunk, read with one call into this
    thread's buffer (valid until the thread's next read); None for a larger file."""
    buffer = _thread_buffer()
    with open(source, "rb", buffering=0) as src:
        n = src.readinto(buffer)
        if n == len(buffer) or src.read(1):
            return None
    return memoryview(buffer)[:n]


_buffers = threading.local()


def _thread_buffer() -> bytearray:
    buffer: bytearray | None = getattr(_buffers, "chunk", None)
    if buffer is None:
        buffer = _buffers.chunk = bytearray(CHUNK)
    return buffer


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def same(a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(a["sha256"] == b["sha256"])


def same_tree(a: Tree, b: Tree) -> bool:
    return a.keys() == b.keys() and all(same(a[p], b[p]) for p in a)


def touches(tree: Tree, parent: Tree, path: str) -> bool:
    if path.endswith("/"):
        keys = {p for p in tree if p.startswith(path)} | {p for p in parent if p.startswith(path)}
        return any(not same(tree.get(p), parent.get(p)) for p in keys)
    return not same(tree.get(path), parent.get(path))


def diff(left: Tree, right: Tree) -> list[Change]:
    out = []
    for path in sorted(set(left) | set(right)):
        a, b = left.get(path), right.get(path)
        if a is None and b is not None:
            out.append(Change(path, "added", b["size"]))
        elif b is None and a is not None:
            out.append(Change(path, "removed", a["size"]))
        elif a is not None and b is not None and not same(a, b):
            out.append(Change(path, "changed", b["size"]))
    return out


def entry(sha: str, size: int, path: str) -> Entry:
    suffix = Path(path).suffix.lower()
    ext = suffix if 1 < len(suffix) <= 10 and suffix[1:].isalnum() else ""
    return {"sha256": sha, "size": size, "object": f"{sha[:2]}/{sha[2:]}{ext}"}


def dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def crash_point(name: str) -> None:
    """Test hook: with MLOPS_DATA_TEST_PAUSE=<name>:<marker file>, announce the point by
    creating the marker and wait to be killed there."""
    spec = os.environ.get("MLOPS_DATA_TEST_PAUSE")
    if not spec:
        return
    point, _, marker = spec.partition("=")
    if point == name:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(60)
