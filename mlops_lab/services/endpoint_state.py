"""What an endpoint has been and is: numbered revisions, kept per endpoint in
``<state_dir>/serving/endpoints/<endpoint>.json`` and changed under a file lock, and the
endpoint's status as it answers now."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import getpass
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_lab.errors import BackendError, UsageError

ENDPOINT_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


@dataclass(frozen=True)
class Revision:
    """One numbered change of an endpoint: what served, at which weights, and why."""

    endpoint: str
    number: int
    action: str
    """deploy, canary, set-weight, sticky-key, promote, rollback, undeploy."""
    who: str
    when: str
    stable: dict[str, str] | None
    canary: dict[str, str] | None
    canary_weight: int
    previous: list[dict[str, str]] = field(default_factory=list)
    """Earlier stables, most recent last: where rollback goes."""
    gate: dict[str, str] = field(default_factory=dict)
    """model/version -> validation verdict ("passed", "failed", "none")."""
    forced: bool = False
    note: str = ""

    @property
    def live(self) -> bool:
        return self.stable is not None

    def split(self) -> str:
        if self.stable is None:
            return "(not serving)"
        stable = f"{version_ref(self.stable)} {100 - self.canary_weight}%"
        if self.canary is None:
            return stable
        return f"{stable} / {version_ref(self.canary)} {self.canary_weight}% canary"

    def row(self) -> list[Any]:
        gate = ", ".join(f"{k} {v}" for k, v in self.gate.items() if v != "none")
        return [
            self.number,
            self.action,
            self.split(),
            gate + (" (forced)" if self.forced else ""),
            self.who,
            self.when[:19].replace("T", " "),
            self.note,
        ]

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.endpoint} revision {self.number}: {self.action} -> {self.split()}{note}"


REVISION_COLUMNS = ["rev", "action", "traffic", "gate", "who", "when (UTC)", "note"]


@dataclass(frozen=True)
class VariantStats:
    model: str
    version: str
    variant: str
    requests: int
    rate_per_s: float
    error_rate: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class EndpointStatus:
    """An endpoint as recorded and as it answers now (``state``: serving, stopped, down)."""

    endpoint: str
    state: str
    url: str
    revision: Revision | None
    stats: list[VariantStats] = field(default_factory=list)
    detail: str = ""

    def traffic(self) -> list[dict[str, Any]]:
        """Per version: model, version, variant, weight, gate verdict and live figures."""
        rev = self.revision
        if rev is None or rev.stable is None:
            return []
        rows = [("stable", rev.stable, 100 - rev.canary_weight)]
        if rev.canary is not None:
            rows.append(("canary", rev.canary, rev.canary_weight))
        out = []
        for variant, spec, weight in rows:
            live = next(
                (
                    s
                    for s in self.stats
                    if s.variant == variant
                    and s.version == spec["version"]
                    and s.model == spec["model"]
                ),
                None,
            )
            out.append(
                {
                    "variant": variant,
                    "model": spec["model"],
                    "version": spec["version"],
                    "weight": weight,
                    "gate": rev.gate.get(version_ref(spec), "none"),
                    "rate_per_s": live.rate_per_s if live else 0.0,
                    "error_rate": live.error_rate if live else 0.0,
                    "p50_ms": live.p50_ms if live else None,
                    "p99_ms": live.p99_ms if live else None,
                }
            )
        return out

    def __str__(self) -> str:
        rev = self.revision
        where = f" at {self.url}" if self.url else ""
        split = rev.split() if rev else "(no revision)"
        number = f" r{rev.number}" if rev else ""
        return f"{self.endpoint} {self.state}{number}: {split}{where}"


class EndpointStore:
    """The revisions of each endpoint, one JSON file per endpoint under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def file(self, endpoint: str) -> Path:
        check_endpoint(endpoint)
        return self.folder / f"{endpoint}.json"

    def read(self, endpoint: str) -> dict[str, Any]:
        path = self.file(endpoint)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"endpoint": endpoint, "revisions": []}
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot read {path} ({exc}); restore or remove it") from None
        return state if isinstance(state, dict) else {"endpoint": endpoint, "revisions": []}

    def record(self, state: dict[str, Any], revision: Revision) -> None:
        state.setdefault("revisions", []).append(dataclasses.asdict(revision))
        path = self.file(revision.endpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @contextlib.contextmanager
    def locked(self, endpoint: str) -> Iterator[None]:
        """Changes to one endpoint, one at a time (across processes)."""
        path = self.file(endpoint).with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def version_ref(spec: dict[str, str] | None) -> str:
    return f"{spec['model']}/{spec['version']}" if spec else "-"


def same_version(a: dict[str, str] | None, b: dict[str, str] | None) -> bool:
    return a is not None and b is not None and version_ref(a) == version_ref(b)


def current_revision(state: dict[str, Any]) -> Revision | None:
    revisions = state.get("revisions") or []
    return revision_from(revisions[-1]) if revisions else None


def revision_from(raw: dict[str, Any]) -> Revision:
    names = {f.name for f in dataclasses.fields(Revision)}
    return Revision(**{k: v for k, v in raw.items() if k in names})


def new_revision(
    endpoint: str,
    current: Revision | None,
    action: str,
    stable: dict[str, str] | None,
    canary: dict[str, str] | None,
    weight: int,
    gate: dict[str, str],
    forced: bool,
    previous: list[dict[str, str]] | None = None,
    note: str = "",
) -> Revision:
    keep = {version_ref(s) for s in (stable, canary) if s}
    return Revision(
        endpoint=endpoint,
        number=0,
        action=action,
        who=_user(),
        when=datetime.now(UTC).isoformat(timespec="milliseconds"),
        stable=stable,
        canary=canary,
        canary_weight=weight if canary is not None else 0,
        previous=list(previous or []),
        gate={k: v for k, v in gate.items() if k in keep},
        forced=forced or bool(current and current.forced and canary is not None),
        note=note,
    )


def age_s(revision: Revision) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(revision.when)).total_seconds()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def endpoint_name_for(model: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:40] or "model"


def check_endpoint(name: str) -> None:
    if not isinstance(name, str) or not ENDPOINT_PATTERN.match(name):
        raise UsageError(
            f"'{name}' is not a valid endpoint name; use lowercase letters, digits and '-' "
            "(at most 40 characters), e.g. fraud"
        )
