"""KubeRay RayService: an endpoint's Ray Serve application on Kubernetes.

One RayService per endpoint, named after it. Its ``serveConfigV2`` holds the application
(import path, route prefix, and one deployment entry carrying replicas, actor options and
the ``user_config`` with the stable/canary versions and the split); its ``rayClusterConfig``
is the same head and worker groups a RayJob gets (image, resources, credentials only as
``secretKeyRef``). Setting a weight, promoting and rolling back change ``user_config`` only,
so ``apply`` on a live endpoint is a merge patch of ``serveConfigV2``: KubeRay hands it to
the running cluster's Serve, which reconfigures the replicas in place; no cluster is
created. The manifest is checked against the RayService CRD schema and the Serve config
against Ray's own schema before anything is sent.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import warnings
from typing import Any
from urllib.parse import urlsplit

from mlops_lab.backends.k8s import rayjob, validation
from mlops_lab.backends.k8s.client import api_client, api_error, call
from mlops_lab.backends.serving.app_spec import ServeApp
from mlops_lab.backends.training.kuberay import ReachWarning
from mlops_lab.config import Config
from mlops_lab.errors import (
    ConfigError,
    ConflictError,
    LabError,
    NotFoundError,
    UsageError,
    require,
)

GROUP, VERSION, PLURAL, KIND = "ray.io", "v1", "rayservices", "RayService"
SERVE_PORT = 8000
REVISION_ANNOTATION = "mlops.deploy.revision"
# A DNS-1035 label short enough for the names KubeRay derives from it (cluster, services).
ENDPOINT_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,45}[a-z0-9])?$")


def check_endpoint(endpoint: str) -> None:
    if not isinstance(endpoint, str) or not ENDPOINT_NAME.match(endpoint):
        raise UsageError(
            f"invalid endpoint name '{endpoint}' for a RayService: use at most 47 lowercase "
            "letters, digits and '-', starting with a letter"
        )


def deployment_name(import_path: str) -> str:
    """The name of the Serve deployment ``import_path`` binds: Serve config entries that set
    ``user_config`` must name it."""
    module_name, _, attribute = import_path.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"import path '{import_path}' must look like 'package.module:app'")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import the Serve application {import_path}: {exc}") from None
    # A bound application keeps its ingress deployment in `_bound_deployment` (Ray has no
    # public accessor for it); a bare deployment has the name itself.
    deployment = getattr(target, "_bound_deployment", target)
    name = getattr(deployment, "name", None)
    if not isinstance(name, str) or not name:
        raise UsageError(
            f"{import_path} is not a Ray Serve application (bind a deployment: Model.bind())"
        )
    return name


def serve_config(endpoint: str, app: ServeApp, deployment: str) -> dict[str, Any]:
    """The Serve config (``serveConfigV2``) of one application, checked by Ray's schema."""
    uri = str(app.user_config.get("tracking_uri") or "")
    if urlsplit(uri).password is not None:
        raise UsageError(
            f"the tracking_uri of endpoint '{endpoint}' carries a password; manifests never "
            "hold secrets: drop it from the URI and put it in the [kubernetes] credentials "
            "Secret (MLFLOW_TRACKING_PASSWORD)"
        )
    try:
        json.dumps(app.user_config)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"user_config of endpoint '{endpoint}' is not JSON: {exc}") from None
    entry: dict[str, Any] = {
        "name": deployment,
        "num_replicas": app.num_replicas,
        "user_config": app.user_config,
    }
    if app.ray_actor_options:
        entry["ray_actor_options"] = dict(app.ray_actor_options)
    config = {
        "applications": [
            {
                "name": endpoint,
                "import_path": app.import_path,
                "route_prefix": app.route_prefix,
                "deployments": [entry],
            }
        ]
    }
    with warnings.catch_warnings():  # Ray's pydantic deprecations are not the user's business
        warnings.simplefilter("ignore")
        schema = require("ray.serve.schema")
    try:
        schema.ServeDeploySchema.model_validate(config)
    except Exception as exc:  # pydantic.ValidationError
        first = str(exc).splitlines()
        reason = " ".join(line.strip() for line in first[1:3]) or type(exc).__name__
        raise UsageError(f"invalid Serve config for endpoint '{endpoint}': {reason}") from None
    return config


class RayServiceBackend:
    """Endpoints as RayServices in ``[kubernetes] namespace``, through the kubernetes client.

    With ``dry_run`` nothing is sent: ``apply`` prints the manifest as YAML (also returned by
    ``render``), ``delete`` and ``describe`` report nothing there.
    """

    name = "rayservice"

    def __init__(
        self,
        config: Config,
        dry_run: bool = False,
        schema_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config
        self.dry_run = dry_run
        self.schema_path = schema_path
        self.namespace = config.kubernetes.namespace
        self._api: Any = None

    # -- manifests ---------------------------------------------------------------------
    def manifest(self, endpoint: str, app: ServeApp) -> dict[str, Any]:
        """The RayService custom resource as a plain dict, validated against the CRD."""
        check_endpoint(endpoint)
        if app.num_replicas < 1:
            raise UsageError(f"num_replicas must be at least 1, got {app.num_replicas}")
        kube = self.config.kubernetes
        if not kube.image:
            raise ConfigError(
                "no container image for the RayService: set [kubernetes] image in mlops.toml "
                "to an image with mlops-lab and ray[serve] installed"
            )
        config = serve_config(endpoint, app, deployment_name(app.import_path))
        options = app.ray_actor_options
        gpus_per_replica = math.ceil(float(options.get("num_gpus", 0) or 0))
        # The RayJob's cluster: a head that only coordinates, one worker pod per replica.
        cluster = rayjob.build_rayjob(
            name=endpoint,
            namespace=self.namespace,
            image=kube.image,
            entrypoint="",
            runtime_env={},
            workers=app.num_replicas,
            cpus=max(float(options.get("num_cpus", 1) or 1), 1.0),
            gpus=float(gpus_per_replica * app.num_replicas),
            credentials=kube.credentials,
        )["spec"]["rayClusterSpec"]
        head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
        head["ports"].append({"containerPort": SERVE_PORT, "name": "serve"})
        annotations = _annotations(app.user_config)
        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {
                "name": endpoint,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": rayjob.MANAGED_BY},
                "annotations": annotations,
            },
            "spec": {
                "serveConfigV2": _yaml(config),
                "rayClusterConfig": cluster,
            },
        }
        validation.validate(manifest, self.schema_path)
        return manifest

    def render(self, endpoint: str, app: ServeApp) -> str:
        return _yaml(self.manifest(endpoint, app))

    # -- the serving backend protocol ----------------------------------------------------
    def apply(self, endpoint: str, app: ServeApp) -> None:
        """Create the RayService, or patch its ``serveConfigV2`` in place when it exists."""
        live = not self.dry_run and self._get(endpoint) is not None
        self.apply_change(endpoint, app, live=live)

    def apply_change(self, endpoint: str, app: ServeApp, live: bool) -> None:
        """Create the RayService of a new endpoint (``live`` False), or patch the
        ``serveConfigV2`` of a live one in place. The cluster is not the lab's own record: a
        RayService of that name made elsewhere is refused, not taken over, and a live
        endpoint whose RayService is gone is not silently re-created."""
        manifest = self.manifest(endpoint, app)
        self._check_reach(app)
        if self.dry_run:
            print(_yaml(manifest), end="")
            return
        where = f"RayService {endpoint} in namespace {self.namespace}"
        if not live:
            try:
                call(
                    f"create {where}",
                    self._custom().create_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    manifest,
                )
            except ConflictError as exc:
                raise ConflictError(
                    f"{exc}; it is not an endpoint of this project: choose another --endpoint, "
                    f"or delete it (kubectl delete rayservice {endpoint} -n {self.namespace})"
                ) from None
            return
        stored = self._get(endpoint)
        if stored is None:
            raise NotFoundError(
                f"{where} is gone from the cluster (deleted outside mlops-lab?); forget it with "
                f"%mlops undeploy {endpoint}, then deploy again"
            )
        # The resourceVersion read makes the API refuse (409) a patch over someone else's.
        version = (stored.get("metadata") or {}).get("resourceVersion")
        patch = {
            "metadata": {
                "annotations": manifest["metadata"]["annotations"],
                **({"resourceVersion": version} if version else {}),
            },
            "spec": {"serveConfigV2": manifest["spec"]["serveConfigV2"]},
        }
        try:
            call(
                f"update {where}",
                self._custom().patch_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                endpoint,
                patch,
            )
        except ConflictError:
            raise ConflictError(
                f"cannot update {where}: it was changed by someone else meanwhile; "
                "see %mlops endpoints and try again"
            ) from None

    def delete(self, endpoint: str) -> bool:
        check_endpoint(endpoint)
        if self.dry_run:
            print(f"would delete RayService {endpoint} in namespace {self.namespace}")
            return False
        if self._get(endpoint) is None:
            return False
        call(
            f"delete RayService {endpoint} in namespace {self.namespace}",
            self._custom().delete_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            endpoint,
        )
        return True

    def describe(self, endpoint: str) -> dict[str, Any] | None:
        """Name, namespace, revision, the Serve application's user_config, KubeRay's status."""
        check_endpoint(endpoint)
        if self.dry_run:
            return None
        obj = self._get(endpoint)
        if obj is None:
            return None
        yaml = require("yaml")
        spec = obj.get("spec") or {}
        config = yaml.safe_load(spec.get("serveConfigV2") or "") or {}
        application: dict[str, Any] = next(iter(config.get("applications") or []), {})
        deployment: dict[str, Any] = next(iter(application.get("deployments") or []), {})
        status = obj.get("status") or {}
        meta = obj.get("metadata") or {}
        state, message = _state(status)
        return {
            "endpoint": endpoint,
            "backend": self.name,
            "namespace": self.namespace,
            "revision": (meta.get("annotations") or {}).get(REVISION_ANNOTATION),
            "user_config": deployment.get("user_config") or {},
            "num_replicas": deployment.get("num_replicas"),
            "route_prefix": application.get("route_prefix"),
            "status": state,
            "message": message,
            "uid": meta.get("uid"),
            "serve_endpoints": status.get("numServeEndpoints"),
            "url": self.url(endpoint),
        }

    def url(self, endpoint: str) -> str:
        """The in-cluster address of KubeRay's Serve service for this endpoint."""
        check_endpoint(endpoint)
        host = f"{endpoint}-serve-svc.{self.namespace}.svc.cluster.local"
        return f"http://{host}:{SERVE_PORT}/{endpoint}"

    # -- helpers -------------------------------------------------------------------------
    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = api_client(self.config)
        return self._api

    def _custom(self) -> Any:
        return require("kubernetes.client").CustomObjectsApi(self.api)

    def _get(self, endpoint: str) -> dict[str, Any] | None:
        client = require("kubernetes.client")
        try:
            return dict(
                self._custom().get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, endpoint, _request_timeout=10
                )
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise api_error(
                exc, f"read RayService {endpoint} in namespace {self.namespace}"
            ) from None
        except LabError:
            raise
        except Exception as exc:  # urllib3 connection errors
            raise api_error(exc, f"read RayService {endpoint}") from None

    def _check_reach(self, app: ServeApp) -> None:
        uri = str(app.user_config.get("tracking_uri") or "")
        if uri and not uri.startswith(("http://", "https://", "databricks")):
            warnings.warn(
                f"the RayService's replicas cannot reach the local MLflow store {uri} to load "
                "models; set [tracking] uri (or MLFLOW_TRACKING_URI) to a tracking server",
                ReachWarning,
                stacklevel=3,
            )


def _annotations(user_config: dict[str, Any]) -> dict[str, str]:
    out = {}
    if user_config.get("revision") is not None:
        out[REVISION_ANNOTATION] = str(user_config["revision"])
    for variant in ("stable", "canary"):
        chosen = user_config.get(variant)
        if isinstance(chosen, dict) and chosen.get("model"):
            out[f"mlops.deploy.{variant}"] = f"{chosen['model']}/{chosen.get('version', '')}"
    return out


def _state(status: dict[str, Any]) -> tuple[str, str]:
    """KubeRay's status as the lab's words: "running" once its Ready condition holds (or the
    older ``serviceStatus`` says Running), else "pending" with KubeRay's reason."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return "running", ""
            return "pending", str(condition.get("message") or condition.get("reason") or "")
    if status.get("serviceStatus") == "Running":
        return "running", ""
    return "pending", "KubeRay has not reported the RayService ready yet"


def _yaml(value: Any) -> str:
    yaml = require("yaml")
    return str(yaml.safe_dump(value, sort_keys=False))
