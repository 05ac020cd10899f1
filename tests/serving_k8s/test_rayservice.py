"""Endpoints as KubeRay RayServices: manifests checked against the official CRD and Ray's
Serve schema, credentials only as secretKeyRef, and create -> patch user_config in place
-> delete through the kubernetes client against KMock's API emulator, reached through a
real kubeconfig file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

import mlops_lab
from mlops_lab.backends.k8s.credentials import CREDENTIAL_VARIABLES
from mlops_lab.backends.k8s.validation import validate
from mlops_lab.backends.serving.app_spec import ServeApp
from mlops_lab.backends.serving.rayservice import RayServiceBackend
from mlops_lab.backends.training.kuberay import ReachWarning
from mlops_lab.errors import AccessDeniedError, ConfigError, UsageError
from mlops_lab.lab import Lab

IMAGE = "ghcr.io/acme/mlops-lab:1.0"
SENTINEL = "planted-secret-7f3a9c"
TRACKING = "https://mlflow.example.com"


def _user_config(weight: int = 0, revision: int = 1) -> dict[str, Any]:
    canary = {"model": "fraud", "version": "4", "uri": "models:/fraud/4"} if weight else None
    return {
        "endpoint": "fraud",
        "revision": revision,
        "stable": {"model": "fraud", "version": "3", "uri": "models:/fraud/3"},
        "canary": canary,
        "canary_weight": weight,
        "sticky_key": None,
        "max_batch_size": 16,
        "batch_wait_timeout_s": 0.002,
        "tracking_uri": TRACKING,
    }


def _app(weight: int = 0, revision: int = 1, **options: Any) -> ServeApp:
    return ServeApp(
        import_path="toy_app:app",
        route_prefix="/fraud",
        user_config=_user_config(weight, revision),
        **options,
    )


def _lab(project: Lab, kubeconfig: Path | None, namespace: str = "ml", image: str = IMAGE) -> Lab:
    lines = [
        "[kubernetes]",
        f'namespace = "{namespace}"',
        f'image = "{image}"',
        'credentials = "mlops-credentials"',
    ]
    if kubeconfig is not None:
        lines.append(f'kubeconfig = "{kubeconfig}"')
    (project.root / "mlops.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return mlops_lab.connect(project.root)


@pytest.fixture
def schema(specs_dir: Path) -> Path:
    return specs_dir / "kuberay" / "ray.io_rayservices.yaml"


@pytest.fixture
def backend(project: Lab, kube: Any, tmp_path: Path, schema: Path) -> RayServiceBackend:
    lab = _lab(project, kube.kubeconfig(tmp_path / "kubeconfig"))
    return RayServiceBackend(lab.config, schema_path=schema)


def _stored(kube: Any, name: str) -> list[Any]:
    return [
        v for (res, ns, n), v in kube.objects().items() if n == name and "rayservices" in str(res)
    ]


def _history(kube: Any, name: str) -> list[Any]:
    """Every version the API server kept of the RayService; None marks a deletion."""
    [stored] = _stored(kube, name)
    return list(stored.history)


def test_manifest_is_valid_and_carries_the_user_config(
    backend: RayServiceBackend, schema: Path
) -> None:
    app = _app(weight=10, num_replicas=2, ray_actor_options={"num_cpus": 2})
    manifest = yaml.safe_load(backend.render("fraud", app))
    validate(manifest, schema)
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    assert manifest["metadata"]["namespace"] == "ml"
    assert manifest["metadata"]["annotations"]["mlops.deploy.revision"] == "1"
    serve = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    application = serve["applications"][0]
    assert application["name"] == "fraud" and application["route_prefix"] == "/fraud"
    assert application["import_path"] == "toy_app:app"
    deployment = application["deployments"][0]
    assert deployment["name"] == "Endpoint"  # read from the bound application
    assert deployment["user_config"] == app.user_config
    assert deployment["num_replicas"] == 2
    assert deployment["ray_actor_options"] == {"num_cpus": 2}
    cluster = manifest["spec"]["rayClusterConfig"]
    workers = cluster["workerGroupSpecs"][0]
    assert workers["replicas"] == 2
    assert workers["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert workers["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "2"
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"containerPort": 8000, "name": "serve"} in head["ports"]
    assert backend.url("fraud") == "http://fraud-serve-svc.ml.svc.cluster.local:8000/fraud"


def test_gpu_replicas_get_gpu_workers(backend: RayServiceBackend, schema: Path) -> None:
    manifest = yaml.safe_load(backend.render("fraud", _app(ray_actor_options={"num_gpus": 0.5})))
    validate(manifest, schema)
    pod = manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_credentials_only_as_secret_refs(
    backend: RayServiceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in CREDENTIAL_VARIABLES:
        monkeypatch.setenv(variable, SENTINEL)
    text = backend.render("fraud", _app())
    assert SENTINEL not in text
    manifest = yaml.safe_load(text)
    cluster = manifest["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"], cluster["workerGroupSpecs"][0]]
    for group in pods:
        env = group["template"]["spec"]["containers"][0]["env"]
        assert {e["name"] for e in env} == set(CREDENTIAL_VARIABLES)
        assert all("value" not in e for e in env)
        assert all(e["valueFrom"]["secretKeyRef"]["name"] == "mlops-credentials" for e in env)
    leaky = dataclasses.replace(
        _app(),
        user_config={**_user_config(), "tracking_uri": f"https://u:{SENTINEL}@mlflow.example.com"},
    )
    with pytest.raises(UsageError, match="carries a password") as caught:
        backend.render("fraud", leaky)
    assert SENTINEL not in str(caught.value)


def test_schemas_refuse_bad_manifests(backend: RayServiceBackend, schema: Path) -> None:
    manifest = yaml.safe_load(backend.render("fraud", _app()))
    manifest["spec"]["serveConfigV2"] = {"applications": []}
    with pytest.raises(UsageError, match=r"invalid RayService manifest at spec\.serveConfigV2"):
        validate(manifest, schema)
    del manifest["spec"]["rayClusterConfig"]
    with pytest.raises(UsageError, match="rayClusterConfig"):
        validate(manifest, schema)
    # Ray's own Serve schema checks what the CRD keeps as an opaque string
    with pytest.raises(UsageError, match="invalid Serve config for endpoint 'fraud'") as caught:
        backend.render("fraud", _app(ray_actor_options={"num_cpus": "lots"}))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("endpoint", "app", "words"),
    [
        ("Fraud_Model", _app(), "invalid endpoint name 'Fraud_Model'"),
        (
            "fraud",
            dataclasses.replace(_app(), import_path="no_such_module:app"),
            "cannot import the Serve application no_such_module:app",
        ),
        (
            "fraud",
            dataclasses.replace(_app(), import_path="yaml:safe_load"),
            "is not a Ray Serve application",
        ),
        ("fraud", _app(num_replicas=0), "num_replicas must be at least 1"),
    ],
)
def test_bad_values_are_one_line(
    backend: RayServiceBackend, endpoint: str, app: ServeApp, words: str
) -> None:
    with pytest.raises(UsageError) as caught:
        backend.render(endpoint, app)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_missing_image(project: Lab, kube: Any, tmp_path: Path) -> None:
    lab = _lab(project, kube.kubeconfig(tmp_path / "kc"), image="")
    with pytest.raises(ConfigError, match=r"set \[kubernetes\] image"):
        RayServiceBackend(lab.config).render("fraud", _app())


def test_dry_run_prints_yaml_and_sends_nothing(
    project: Lab, kube: Any, tmp_path: Path, schema: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = _lab(project, kube.kubeconfig(tmp_path / "kc"))
    backend = RayServiceBackend(lab.config, dry_run=True, schema_path=schema)
    backend.apply("dry", _app())
    printed = yaml.safe_load(capsys.readouterr().out)
    validate(printed, schema)
    assert printed["metadata"]["name"] == "dry"
    assert _stored(kube, "dry") == []
    assert backend.describe("dry") is None
    assert backend.delete("dry") is False


def test_create_patch_in_place_delete(backend: RayServiceBackend, kube: Any) -> None:
    assert backend.describe("fraud") is None
    backend.apply("fraud", _app())
    [created] = _stored(kube, "fraud")
    described = backend.describe("fraud")
    assert described is not None
    assert described["user_config"]["canary"] is None and described["revision"] == "1"

    # a canary at 10%, then promote: each an in-place patch of serveConfigV2
    backend.apply("fraud", _app(weight=10, revision=2))
    [patched] = _stored(kube, "fraud")
    assert patched["spec"]["rayClusterConfig"] == created["spec"]["rayClusterConfig"]
    history = _history(kube, "fraud")  # one object, created then patched: never re-created
    assert len(history) == 2 and None not in history
    described = backend.describe("fraud")
    assert described is not None
    assert described["user_config"]["canary_weight"] == 10
    assert described["user_config"]["canary"]["version"] == "4"
    assert described["revision"] == "2"
    assert described["url"].endswith(":8000/fraud")

    assert backend.delete("fraud") is True
    assert backend.describe("fraud") is None
    assert backend.delete("fraud") is False
    assert backend.describe("fraud") is None


def test_forbidden_namespace_is_one_line(project: Lab, kube: Any, tmp_path: Path) -> None:
    lab = _lab(project, kube.kubeconfig(tmp_path / "kc"), namespace="locked")
    with pytest.raises(AccessDeniedError) as caught:
        RayServiceBackend(lab.config).apply("fraud", _app())
    assert "Kubernetes refused" in str(caught.value) and "\n" not in str(caught.value)


def test_local_tracking_store_is_warned(
    project: Lab, kube: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = _lab(project, kube.kubeconfig(tmp_path / "kc"))
    local = dataclasses.replace(
        _app(), user_config={**_user_config(), "tracking_uri": "sqlite:///tmp/mlflow.db"}
    )
    with pytest.warns(ReachWarning, match="cannot reach the local MLflow store"):
        RayServiceBackend(lab.config, dry_run=True).apply("fraud", local)
    assert "kind: RayService" in capsys.readouterr().out
