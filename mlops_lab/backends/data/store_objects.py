"""Content-addressed objects of the embedded store (local.py): files stored under their
sha256, copied and hashed in one pass, with a stat cache so an unchanged file is not read
again."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mlops_lab.backends.data import store_format as sf
from mlops_lab.backends.data.store_format import Entry

_WORKERS = min(16, 2 * (os.cpu_count() or 2))
_RACY_SECONDS = 0.05  # a file modified this recently is hashed again next time


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache_lock = threading.Lock()
        self._stat_cache: dict[str, list[Any]] | None = None
        self._stat_cache_changed = False
        # spool files are tmp/<pid>-<random>-<n>: the pid tells gc whose they are
        self._spool_token = uuid.uuid4().hex[:8]
        self._spool_numbers = itertools.count()

    def path(self, entry: Entry) -> Path:
        return self.root / "objects" / str(entry["object"])

    def store_many(self, items: list[tuple[str, bytes | str]]) -> list[Entry]:
        """Store bytes or local files (by path) in parallel threads: hashing and copying
        release the GIL."""

        def store(item: tuple[str, bytes | str]) -> Entry:
            path, data = item
            if isinstance(data, bytes | bytearray | memoryview):
                return self.store_bytes(data, path)
            return self.store_file(data, path)

        if len(items) > 1:
            with ThreadPoolExecutor(max_workers=min(_WORKERS, len(items))) as pool:
                entries = list(pool.map(store, items))
        else:
            entries = [store(items[0])]
        self.save_stat_cache()
        return entries

    def store_bytes(self, data: bytes | memoryview, path: str) -> Entry:
        """Store bytes held in memory. The temporary file is written beside the object's
        final name: a rename within one folder does not take the file system's rename lock,
        which every cross-folder rename does (threads storing small files queued on it)."""
        sha = hashlib.sha256(data).hexdigest()
        entry = sf.entry(sha, len(data), path)
        target = self.path(entry)
        if not target.exists():
            tmp = sf.tmp_name(target)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            try:
                try:
                    fd = os.open(tmp, flags, 0o444)
                except FileNotFoundError:  # the first object under this prefix
                    target.parent.mkdir(exist_ok=True)
                    fd = os.open(tmp, flags, 0o444)
                with open(fd, "wb", buffering=0) as fh:
                    view = memoryview(data)
                    while view:
                        view = view[fh.write(view) :]
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return entry

    def store_file(self, source: str | Path, path: str) -> Entry:
        st = os.stat(source)
        key = os.path.abspath(source)  # the signature's device and inode pin the file
        signature = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        cache = self._load_stat_cache()
        hit = cache.get(key)
        if (
            isinstance(hit, list)
            and len(hit) == 6
            and hit[:5] == signature
            and sf.SHA256.match(str(hit[5]))
        ):
            entry = sf.entry(hit[5], st.st_size, path)
            if self.path(entry).exists():
                return entry
        # A small file is read once into memory, then hashed and written from there; a
        # larger one is copied and hashed in one pass over the same buffer. Either way the
        # name always matches the bytes stored, even if the source changes meanwhile.
        small = sf.read_small(source)
        if small is not None:
            entry, size = self.store_bytes(small, path), len(small)
        else:
            entry, size = self._store_large(source, path)
        if (
            size == st.st_size
            and time.time() - st.st_mtime_ns / 1e9 > _RACY_SECONDS
            and os.stat(source).st_mtime_ns == st.st_mtime_ns
        ):
            with self._cache_lock:
                if cache.get(key) != [*signature, entry["sha256"]]:
                    cache[key] = [*signature, entry["sha256"]]
                    self._stat_cache_changed = True
        return entry

    def _store_large(self, source: str | Path, path: str) -> tuple[Entry, int]:
        """Spool in tmp/ (a dedup hit just drops the copy), then move into place."""
        spool = self._spool()
        try:
            sha, size = sf.copy_hashing(source, spool)
            sf.crash_point("spooled")
            entry = sf.entry(sha, size, path)
            target = self.path(entry)
            if target.exists():
                os.unlink(spool)
            else:
                self._move(spool, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(spool)
            raise
        return entry, size

    def _spool(self) -> str:
        """A new name in tmp/ that starts with this process's pid (see store_check)."""
        return os.path.join(
            self.root, "tmp", f"{os.getpid()}-{self._spool_token}-{next(self._spool_numbers)}"
        )

    @staticmethod
    def _move(spool: str, target: Path) -> None:
        try:
            os.replace(spool, target)
        except FileNotFoundError:  # the first object under this prefix
            target.parent.mkdir(exist_ok=True)
            os.replace(spool, target)

    def _load_stat_cache(self) -> dict[str, list[Any]]:
        with self._cache_lock:
            if self._stat_cache is None:
                try:
                    self._stat_cache = dict(
                        json.loads((self.root / "cache" / "stat.json").read_bytes())
                    )
                except (FileNotFoundError, ValueError, TypeError):
                    self._stat_cache = {}  # only a cache: rebuilt when unreadable
            return self._stat_cache

    def save_stat_cache(self) -> None:
        """Write the stat cache back, when this process added to it (an unchanged dataset
        writes nothing)."""
        with self._cache_lock:
            if not self._stat_cache_changed:
                return
            self._stat_cache_changed = False
            data = sf.dumps(self._stat_cache or {})
        with contextlib.suppress(OSError):
            tmp = sf.tmp_name(self.root / "cache" / "stat.json")
            tmp.write_bytes(data)
            os.replace(tmp, self.root / "cache" / "stat.json")
