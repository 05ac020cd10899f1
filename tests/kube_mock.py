"""KMock's Kubernetes API emulator on a random port, reached through a real kubeconfig file:
the Kubernetes API the RayJob and RayService backends are tested against."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any


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
                handler.resources["ray.io/v1/rayservices"] = {}
                # RBAC: this user may not touch RayJobs in namespace "locked".
                (
                    handler[kmock.namespace("locked")]
                    << 403
                    << {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "code": 403,
                        "reason": "Forbidden",
                        "message": 'rayjobs.ray.io is forbidden: User "dev" cannot create resource '
                        '"rayjobs" in API group "ray.io" in the namespace "locked"',
                    }
                )
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
