"""Fixtures of the notebook-job tests: small notebooks written per test, and a local
Kubernetes API (KMock's stateful emulator) reached through a real kubeconfig file."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml


def write_notebook(path: Path, parameters: str | None, *cells: str) -> Path:
    """A notebook on the MLOps kernel: an optional `parameters` cell, then ``cells``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "mlops", "language": "python", "display_name": "Python 3 (MLOps)"},
        "language_info": {"name": "python"},
    }
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="session")
def make_notebook() -> Any:
    """write_notebook(path, parameters, *cells), for fixtures wider than one test."""
    return write_notebook


@pytest.fixture
def notebook(project: Any) -> Any:
    """notebook(name, parameters, *cells) -> path of a notebook in the test project."""

    def make(name: str, parameters: str | None, *cells: str) -> Path:
        return write_notebook(project.root / name, parameters, *cells)

    return make


class KubeMock:
    """KMock's Kubernetes emulator served on a local port from a background event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop_event: asyncio.Event | None = None
        self.emulator: Any = None
        self.url = ""
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        import kmock

        self.stop_event = asyncio.Event()
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            emulator.resources["batch/v1/cronjobs"] = kmock.ResourceInfo(
                kind="CronJob", namespaced=True, verbs={"create", "get", "list", "delete"}
            )
            emulator.resources["v1/configmaps"] = kmock.ResourceInfo(
                kind="ConfigMap", namespaced=True, verbs={"create", "get", "list", "delete"}
            )
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self.ready.set()
            await self.stop_event.wait()

    def start(self) -> KubeMock:
        self.thread.start()
        if not self.ready.wait(15):
            raise RuntimeError("the Kubernetes mock server did not start")
        return self

    def stop(self) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)

    def objects(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The live objects the server holds (optionally of one kind)."""
        found = []
        for _, obj in list(self.emulator.objects.items()):
            if obj.deleted:
                continue
            raw = dict(obj.raw)
            if kind is None or raw.get("kind") == kind:
                found.append(raw)
        return found

    def set_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        for (resource, ns, obj_name), obj in list(self.emulator.objects.items()):
            if resource.plural == plural and ns == namespace and obj_name == name:
                obj.patch({"status": status})
                return
        raise KeyError(name)


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeMock]:
    """A local Kubernetes API and KUBECONFIG pointing at it."""
    server = KubeMock().start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "mock", "cluster": {"server": server.url}}],
                "users": [{"name": "tester", "user": {}}],
                "contexts": [{"name": "mock", "context": {"cluster": "mock", "user": "tester"}}],
                "current-context": "mock",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    try:
        yield server
    finally:
        server.stop()
