"""Upkeep of the embedded store (local.py): ``check`` lists every problem as one line,
``gc`` frees what nothing refers to, ``remove_leftovers`` drops the temporary files of
writers that died.

Temporary files: metadata files (refs, staging, commits) are only ever written under the
store's lock, so a temporary one found while holding the lock belongs to a dead writer.
Objects and spool files are written without the lock and carry their writer's pid: they
are removed once that process is gone (or, by ``gc``, once older than the grace period
when no pid can be read).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.data.store_format import sha256_file
from mlops_lab.backends.probes import process_alive
from mlops_lab.errors import LabError

if TYPE_CHECKING:
    from mlops_lab.backends.data.local import LocalBackend
    from mlops_lab.backends.data.store_format import Entry

_LOCKED_DIRS = ("refs/heads", "refs/tags", "refs", "staging", "commits")


def check(store: LocalBackend, deep: bool) -> list[str]:
    """Refs to missing or damaged commits, unreadable staging or protection files, and
    entries whose object is missing or of the wrong size (``deep``: or whose bytes do not
    hash to their name). Never raises on damage: each problem is one line."""
    root = store.root
    store._commits.clear()  # read every record from disk, not from this process's cache
    problems: list[str] = []
    entries: list[tuple[str, Entry]] = []

    def attempt(call: Any) -> Any:
        try:
            return call()
        except LabError as exc:
            problems.append(_line(exc))
            return None

    loaded: dict[str, Any] = {}

    def load(commit_id: str) -> Any:
        """The commit, or None with its problem noted (missing or damaged); once each."""
        if commit_id not in loaded:
            loaded[commit_id] = attempt(lambda: store._load(commit_id))
            if loaded[commit_id] is not None:
                tree = loaded[commit_id][1]
                entries.extend((f"{commit_id[:12]}:{p}", e) for p, e in tree.items())
        return loaded[commit_id]

    for record in sorted((root / "commits").glob("*.json")):
        load(record.stem)
    for kind in ("heads", "tags"):
        for ref in sorted((root / "refs" / kind).iterdir()):
            if ref.name.startswith("."):
                continue
            commit_id = attempt(lambda kind=kind, ref=ref: store._read_ref(kind, ref.name))
            if commit_id is None:
                continue
            if not (root / "commits" / f"{commit_id}.json").is_file():
                problems.append(f"{kind[:-1]} {ref.name} points to missing commit {commit_id}")
                continue
            frontier = [commit_id]  # every ancestor must be there (a missing one is noted)
            while frontier:
                found = load(frontier.pop())
                if found is not None:
                    frontier += [p for p in found[0].parents if p not in loaded]
    for staged in sorted((root / "staging").glob("*.json")):
        if staged.name.startswith("."):
            continue
        changes = attempt(lambda staged=staged: store._staging(staged.stem))
        for path, entry in (changes or {}).items():
            if entry is not None:
                entries.append((f"staged {staged.stem}:{path}", entry))
    attempt(store.protection)

    seen: set[str] = set()
    for where, entry in entries:
        if entry["object"] in seen:
            continue
        seen.add(entry["object"])
        target = store._object(entry)
        if not target.is_file():
            problems.append(f"{where}: object {entry['object']} is missing")
        elif target.stat().st_size != entry["size"]:
            problems.append(f"{where}: object {entry['object']} has the wrong size")
        elif deep and sha256_file(target) != entry["sha256"]:
            problems.append(f"{where}: object {entry['object']} does not match its hash")
    return list(dict.fromkeys(problems))


def _line(exc: LabError) -> str:
    path, reason = exc.fields.get("where"), exc.fields.get("reason")
    return f"{path} {reason}" if path and reason else str(exc)


def gc(store: LocalBackend, grace_seconds: float) -> tuple[int, int]:
    """Delete objects no commit and no staged change refers to when older than
    ``grace_seconds`` (a writer stores objects before it stages them), and the temporary
    files of dead writers. Commits are kept: run lineage may name any of them. The caller
    holds the store's lock. A damaged commit or staging file stops it before it deletes
    anything (what is live is unknown then)."""
    root = store.root
    cutoff = time.time() - grace_seconds
    live: set[str] = set()
    for record in (root / "commits").glob("*.json"):
        live.update(e["object"] for e in store._load(record.stem)[1].values())
    for staged in (root / "staging").glob("*.json"):
        if not staged.name.startswith("."):
            live.update(e["object"] for e in store._staging(staged.stem).values() if e)
    doomed = [
        p
        for p in (root / "objects").glob("*/*")
        if not p.name.startswith(".") and f"{p.parent.name}/{p.name}" not in live
    ]
    doomed = [p for p in doomed if _older(p, cutoff)]
    doomed += _leftovers(root, "*", cutoff)
    removed = freed = 0
    for path in doomed:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
        freed += size
    return removed, freed


def remove_leftovers(root: Path, branch: str) -> None:
    """On a write to ``branch`` (lock held): drop its staging temporaries and the spool
    files of writers that died."""
    for path in _leftovers(root, branch, None):
        path.unlink(missing_ok=True)


def _leftovers(root: Path, branch: str, cutoff: float | None) -> list[Path]:
    """Temporary files of dead writers: every hidden ``.*.tmp`` under the locked folders
    (only ``branch``'s staging ones unless it is ``*``), and spool files (and, for ``*``,
    cache and small-object temporaries) whose writer's pid is gone (by ``gc``, with a ``cutoff``: also those older than it)."""
    unlocked = list((root / "tmp").iterdir())
    if branch == "*":
        found = [p for sub in _LOCKED_DIRS for p in (root / sub).glob(".*.tmp")]
        # a small object's temporary (at most one chunk) sits beside its name: gc sweeps
        # those, a write does not list every object folder for them
        unlocked += [*(root / "cache").glob(".*.tmp"), *(root / "objects").glob("*/.*.tmp")]
    else:
        found = list((root / "staging").glob(f".{branch}.json.*.tmp"))
    for path in unlocked:
        pid = _writer_pid(path)
        dead = (
            not process_alive(pid)
            if pid is not None
            else cutoff is not None and _older(path, cutoff)
        )
        if dead:
            found.append(path)
    return [p for p in found if p.is_file()]


def _writer_pid(path: Path) -> int | None:
    """``tmp/<pid>-<hex>`` or ``.<name>.<pid>.<hex>.tmp``."""
    name = path.name
    parts = name.rsplit(".", 3) if name.startswith(".") else name.split("-", 1)[:1]
    text = parts[-3] if name.startswith(".") and len(parts) == 4 else parts[0]
    return int(text) if text.isdigit() else None


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False
