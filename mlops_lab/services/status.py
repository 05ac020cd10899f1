"""`lab.status()`: which backend each concern uses, where it points, and whether it answers.

Each backend package's ``probe(config)`` gives the check; probes use only the standard
library (no SDK imports) and run in parallel threads under one deadline, so the whole call
stays bounded even when an endpoint hangs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_lab.backends import data, features, tracking, training
from mlops_lab.backends.k8s.client import kubeconfig_path
from mlops_lab.backends.k8s.client import probe as k8s_probe
from mlops_lab.backends.probes import Probe
from mlops_lab.config import Config
from mlops_lab.display import BAD, GOOD, Table, colour
from mlops_lab.redact import redact_text


@dataclass(frozen=True)
class BackendStatus:
    concern: str
    kind: str
    target: str
    reachable: bool
    reason: str


@dataclass(frozen=True)
class StatusReport:
    root: Path
    config_file: Path | None
    notice: str | None
    backends: tuple[BackendStatus, ...]

    def __getitem__(self, concern: str) -> BackendStatus:
        for backend in self.backends:
            if backend.concern == concern:
                return backend
        raise KeyError(concern)

    def table(self, max_rows: int = 50) -> Table:
        rows = [
            [b.concern, b.kind, b.target, "yes" if b.reachable else "no", b.reason]
            for b in self.backends
        ]
        source = self.config_file or "embedded defaults"
        return Table(
            ["concern", "backend", "target", "reachable", "detail"],
            rows,
            title=f"mlops-lab project {self.root} ({source})",
            notes=[self.notice] if self.notice else [],
            max_rows=max_rows,
            style=lambda col, val: (
                colour(GOOD if val == "yes" else BAD) if col == "reachable" else ""
            ),
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def probe_all(config: Config, timeout: float = 2.5) -> StatusReport:
    plans = _plans(config)
    results: dict[int, tuple[bool, str]] = {}
    threads = []
    for index, (_, _, _, probe) in enumerate(plans):
        thread = threading.Thread(target=_run, args=(probe, timeout, results, index), daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    backends = []
    for index, (concern, kind, target, _) in enumerate(plans):
        reachable, reason = results.get(index, (False, f"no answer within {timeout:g} s"))
        shown = BackendStatus(concern, kind, redact_text(target), reachable, redact_text(reason))
        backends.append(shown)
    return StatusReport(config.root, config.file, config.notice(), tuple(backends))


def _run(probe: Probe, timeout: float, results: dict[int, tuple[bool, str]], index: int) -> None:
    try:
        results[index] = probe(timeout)
    except Exception as exc:  # a probe must never break status
        results[index] = (False, f"probe failed: {redact_text(str(exc))}")


def _plans(config: Config) -> list[tuple[str, str, str, Probe]]:
    plans = [
        ("data", *data.probe(config)),
        ("features", *features.probe(config)),
        ("tracking", *tracking.probe(config)),
        ("training", *training.probe(config)),
    ]
    kubeconfig = kubeconfig_path(config)
    if plans[-1][1] != "kubernetes" and kubeconfig.is_file():
        plans.append(("kubernetes", "kubernetes", str(kubeconfig), k8s_probe(config)))
    return plans
