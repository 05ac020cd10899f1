"""KMock's Kubernetes API emulator on a random port, reached through a real kubeconfig file:
the Kubernetes API the RayJob and RayService backends are tested against.

Where KMock is more lenient than an API server, :class:`ApiServer` does what the server
does: it stamps ``metadata.uid``, ``resourceVersion`` and ``generation`` on create, answers
409 to a patch naming a stale ``resourceVersion``, and answers 422 to a custom resource
(created, or as a patch would leave it) that its CRD's schema in ../shared/specs refuses."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import yaml

SPECS = Path(
    os.environ.get("MLOPS_SPECS_DIR") or Path(__file__).resolve().parents[2] / "shared/specs"
)
# group/version/plural -> the CRD file under SPECS
CRDS = {
    "ray.io/v1/rayjobs": "kuberay/ray.io_rayjobs.yaml",
    "ray.io/v1/rayservices": "kuberay/ray.io_rayservices.yaml",
}
_versions = itertools.count(1000)


def _crd_validator(resource: str) -> Any:
    import jsonschema

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((SPECS / CRDS[resource]).read_text(encoding="utf-8"), Loader=loader)
    version = resource.split("/")[1]
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(served["schema"]["openAPIV3Schema"])


def _api_server() -> Any:
    import kmock
    from kmock._internal.dicts import patch_dict  # KMock's own merge, as it stores a patch

    validators = {resource: _crd_validator(resource) for resource in CRDS}  # before serving

    def error(status: int, reason: str, message: str) -> Exception:
        return kmock.KubernetesError(status=status, reason=reason, message=message)

    def check(resource: str, obj: Any) -> None:
        if resource not in validators:
            return
        for problem in validators[resource].iter_errors(obj):
            where = ".".join(str(p) for p in problem.absolute_path)
            name = (obj.get("metadata") or {}).get("name")
            raise error(
                422, "Invalid", f'{resource} "{name}" is invalid: {where}: {problem.message}'
            )

    class ApiServer(kmock.KubernetesEmulator):  # type: ignore[misc]
        # namespace -> (status, reason, message): what an admission policy there answers to
        # any change, before anything is stored (KMock's own reactions store it anyway)
        refusals: dict[str, tuple[int, str, str]] = {}

        async def _handle(self, request: Any) -> Any:
            action = getattr(request.action, "name", "")
            refusal = self.refusals.get(request.namespace or "")
            if refusal and action in ("CREATE", "UPDATE", "DELETE"):
                raise error(*refusal)
            if request.resource is not None and isinstance(request.data, dict):
                res = request.resource
                resource = f"{res.group}/{res.version}/{res.plural}"
                meta = request.data.setdefault("metadata", {})
                if action == "CREATE":
                    check(resource, request.data)
                    meta.update(uid=str(uuid.uuid4()), generation=1)
                    meta["resourceVersion"] = str(next(_versions))
                elif action == "UPDATE" and request.name is not None:
                    key = (res, request.namespace, request.name)
                    stored = self._objects[key] if key in self._objects else None  # noqa: SIM401
                    if stored is not None and not stored.deleted:
                        current = stored.raw
                        known = (current.get("metadata") or {}).get("resourceVersion")
                        if meta.get("resourceVersion") not in (None, known):
                            raise error(
                                409,
                                "Conflict",
                                f'Operation cannot be fulfilled on {res.plural} "{request.name}": '
                                "the object has been modified; please apply your changes to the "
                                "latest version and try again",
                            )
                        check(resource, patch_dict(current, request.data))
                        meta["resourceVersion"] = str(next(_versions))
                        if "spec" in request.data:
                            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
            return await super()._handle(request)

    return ApiServer


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
            async with _api_server()() as handler, kmock.Server(handler) as server:
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
        if not self._ready.wait(60):
            raise RuntimeError("the Kubernetes mock server did not start")
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def refuse(self, namespace: str, status: int, reason: str, message: str) -> None:
        """Answer every change in ``namespace`` with ``status``, as an admission policy does."""
        self.handler.refusals[namespace] = (status, reason, message)

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
