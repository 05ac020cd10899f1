"""Fixtures of the training tests: a project on the session's Ray head, and a Kubernetes
API mock server (KMock's emulator) reached through a real kubeconfig file."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab.lab import Lab


@pytest.fixture
def lab_on_head(project: Lab, ray_head: dict[str, Any]) -> Lab:
    """A fresh project whose lab reuses the session's head, as a later kernel would."""
    state = project.root / ".mlops" / "ray"
    state.mkdir(parents=True, exist_ok=True)
    shutil.copy(ray_head["state_file"], state / "head.json")
    return mlops_lab.connect(project.root)


class KubeMock:
    """KMock's Kubernetes emulator on a random port, served from its own event loop."""

    def __init__(self) -> None:
        self.url = ""
        self.handler: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="kmock")

    def _serve(self) -> None:
        import kmock

        async def main() -> None:
            self._stop = asyncio.Event()
            async with kmock.KubernetesEmulator() as handler, kmock.Server(handler) as server:
                handler.resources["v1/pods"] = {}
                handler.resources["v1/nodes"] = {}
                handler.resources["ray.io/v1/rayjobs"] = {}
                # RBAC: this user may not touch RayJobs in namespace "locked".
                handler[kmock.namespace("locked")] << 403 << {
                    "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
                    "reason": "Forbidden",
                    "message": 'rayjobs.ray.io is forbidden: User "dev" cannot create resource '
                               '"rayjobs" in API group "ray.io" in the namespace "locked"',
                }
                self.handler = handler
                self.url = str(server.url).rstrip("/")
                self._ready.set()
                await self._stop.wait()

        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(main())

    def start(self) -> KubeMock:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the Kubernetes mock server did not start")
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def objects(self) -> dict[Any, Any]:
        return dict(self.handler.objects.items())

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: mock\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: dev\n  user:\n    token: not-a-real-token\n"
            f"contexts:\n- name: mock\n  context:\n    cluster: mock\n    user: dev\n"
            f"    namespace: {namespace}\ncurrent-context: mock\n",
            encoding="utf-8",
        )
        return path


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeMock]:
    server = KubeMock().start()
    yield server
    server.close()
