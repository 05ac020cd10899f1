"""RayJobs on Kubernetes: manifests checked against the official KubeRay CRD, and
create / get / stop / delete through the kubernetes client against KMock's API emulator
reached through a real kubeconfig file."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import mlops_lab
from mlops_lab.backends.k8s.validation import validate
from mlops_lab.backends.training import base, kuberay
from mlops_lab.errors import AccessDeniedError, ConfigError, NotFoundError, UsageError
from mlops_lab.lab import Lab

# These tests run on the embedded stores, which pods cannot reach: the lab says so.
pytestmark = pytest.mark.filterwarnings("ignore::mlops_lab.backends.training.kuberay.ReachWarning")

SCRIPT = "import json\nprint('hello from the job')\n"
IMAGE = "ghcr.io/acme/mlops-lab:1.0"


def _configure(
    lab: Lab, kubeconfig: Path | None, namespace: str = "ml", image: str = IMAGE, extra: str = ""
) -> Lab:
    lines = [
        "[training]",
        'backend = "kubernetes"',
        "",
        "[kubernetes]",
        f'namespace = "{namespace}"',
        f'image = "{image}"',
        'credentials = "mlops-credentials"',
    ]
    if kubeconfig is not None:
        lines.append(f'kubeconfig = "{kubeconfig}"')
    (lab.root / "mlops.toml").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return mlops_lab.connect(lab.root)


@pytest.fixture
def kube_lab(project: Lab, kube: Any, tmp_path: Path) -> Lab:
    return _configure(project, kube.kubeconfig(tmp_path / "kubeconfig"))


def _manifest(lab: Lab, **kwargs: Any) -> dict[str, Any]:
    text = lab.training.submit(SCRIPT, name=kwargs.pop("name", "fraud"), dry_run=True, **kwargs)
    return dict(yaml.safe_load(text))


def test_cpu_manifest_is_valid_against_the_crd(kube_lab: Lab, specs_dir: Path) -> None:
    manifest = _manifest(kube_lab, workers=2, cpus=1.5, deadline=900)
    validate(manifest, specs_dir / "kuberay" / "ray.io_rayjobs.yaml")
    spec = manifest["spec"]
    assert manifest["metadata"]["namespace"] == "ml"
    assert spec["activeDeadlineSeconds"] == 900
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    group = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 2
    container = group["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["resources"]["limits"]["cpu"] == "1500m"
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"].endswith(".zip")
    assert runtime_env["env_vars"]["MLOPS_WORKERS"] == "2"
    assert spec["entrypoint"].endswith("-m mlops_lab.backends.training.entry main.py")


def test_gpu_manifest_requests_nvidia_gpus(kube_lab: Lab, specs_dir: Path) -> None:
    manifest = _manifest(kube_lab, workers=2, gpus=2)
    validate(manifest, specs_dir / "kuberay" / "ray.io_rayjobs.yaml")
    pod = manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    head = manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in head["containers"][0]["resources"]["limits"]
    env = yaml.safe_load(manifest["spec"]["runtimeEnvYAML"])["env_vars"]
    assert env["MLOPS_GPUS"] == "2"  # fit_torch turns this into ScalingConfig(use_gpu=True)


def test_credentials_only_as_secret_refs(
    kube_lab: Lab, monkeypatch: pytest.MonkeyPatch, specs_dir: Path
) -> None:
    monkeypatch.setenv("LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY", "very-secret-value-1")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "very-secret-value-2")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    lab = mlops_lab.connect(kube_lab.root)
    text = lab.training.submit(SCRIPT, name="fraud", dry_run=True)
    assert "very-secret-value" not in text
    manifest = yaml.safe_load(text)
    validate(manifest, specs_dir / "kuberay" / "ray.io_rayjobs.yaml")
    env = manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env}
    assert refs["MLFLOW_TRACKING_TOKEN"] == {
        "name": "mlops-credentials",
        "key": "MLFLOW_TRACKING_TOKEN",
        "optional": True,
    }
    assert all("value" not in e for e in env)
    job_env = yaml.safe_load(manifest["spec"]["runtimeEnvYAML"])["env_vars"]
    assert job_env["MLFLOW_TRACKING_URI"] == "https://mlflow.example.com"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"workers": 2, "gpus": 1}, UsageError, "whole number of GPUs per worker"),
        ({"workers": 2, "cpus": 0.0001}, UsageError, "millicores"),
        ({"deadline": -5}, UsageError, "--deadline"),
        ({"name": "Fraud_Model"}, UsageError, "invalid job name"),
    ],
)
def test_invalid_values_are_one_line(
    kube_lab: Lab, kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        _manifest(kube_lab, **kwargs)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_missing_image_and_bad_namespace(project: Lab, kube: Any, tmp_path: Path) -> None:
    lab = _configure(project, kube.kubeconfig(tmp_path / "kc"), image="")
    with pytest.raises(ConfigError, match=r"set \[kubernetes\] image"):
        _manifest(lab)
    lab = _configure(project, kube.kubeconfig(tmp_path / "kc"), namespace="Bad_NS")
    with pytest.raises(UsageError, match="invalid namespace 'Bad_NS'"):
        _manifest(lab)


def test_crd_schema_refuses_wrong_types(kube_lab: Lab, specs_dir: Path) -> None:
    manifest = _manifest(kube_lab)
    manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "two"
    with pytest.raises(UsageError, match=r"workerGroupSpecs\.0\.replicas: 'two' is not of type"):
        validate(manifest, specs_dir / "kuberay" / "ray.io_rayjobs.yaml")
    del manifest["spec"]["rayClusterSpec"]["headGroupSpec"]
    with pytest.raises(UsageError, match="headGroupSpec"):
        validate(manifest, specs_dir / "kuberay" / "ray.io_rayjobs.yaml")


def _set_status(kube: Any, lab: Lab, name: str, status: dict[str, Any]) -> None:
    """Play the KubeRay operator: write the RayJob's status."""
    from kubernetes import client

    from mlops_lab.backends.k8s.client import api_client

    client.CustomObjectsApi(api_client(lab.config)).patch_namespaced_custom_object(
        "ray.io", "v1", "ml", "rayjobs", name, {"status": status}
    )


def test_create_get_stop_delete(kube_lab: Lab, kube: Any, specs_dir: Path) -> None:
    backend = kuberay.RayJobBackend(
        kube_lab, schema_path=specs_dir / "kuberay" / "ray.io_rayjobs.yaml"
    )
    kube_lab.training._backends["kubernetes"] = backend  # the same backend, CRD-checked
    job = kube_lab.training.submit(SCRIPT, name="fraud", workers=2)
    stored = [v for (res, ns, name), v in kube.objects().items() if name == job.id]
    assert stored and stored[0]["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] == 2
    assert job.status == base.PENDING

    # The code went through lab.data as the zip named in runtimeEnv.
    working_dir = yaml.safe_load(stored[0]["spec"]["runtimeEnvYAML"])["working_dir"]
    with zipfile.ZipFile(working_dir.removeprefix("file://")) as archive:
        assert archive.read("code/main.py").decode() == SCRIPT

    _set_status(
        kube,
        kube_lab,
        job.id,
        {
            "jobDeploymentStatus": "Running",
            "jobStatus": "RUNNING",
            "startTime": "2026-01-01T00:00:00Z",
        },
    )
    assert job.status == base.RUNNING
    listed = kube_lab.training.jobs()
    assert [s.job_id for s in listed] == [job.id] and listed[0].name == "fraud"

    assert job.stop()
    assert job.status == base.STOPPED and job.failure == base.STOPPED_BY_USER
    backend.delete(job.id)
    with pytest.raises(NotFoundError, match="not found"):
        job.refresh()


@pytest.mark.parametrize(
    ("status", "state", "failure"),
    [
        ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, base.SUCCEEDED, None),
        (
            {
                "jobDeploymentStatus": "Failed",
                "jobStatus": "FAILED",
                "reason": "AppFailed",
                "message": "exit code 1",
            },
            base.FAILED,
            base.APPLICATION_FAILED,
        ),
        (
            {
                "jobDeploymentStatus": "Failed",
                "reason": "DeadlineExceeded",
                "message": "activeDeadlineSeconds reached",
            },
            base.FAILED,
            base.DEADLINE_EXCEEDED,
        ),
        (
            {
                "jobDeploymentStatus": "Failed",
                "reason": "SubmissionFailed",
                "message": "submitter pod failed",
            },
            base.FAILED,
            base.SUBMISSION_FAILED,
        ),
    ],
)
def test_outcomes_are_told_apart(
    kube_lab: Lab, kube: Any, status: dict[str, Any], state: str, failure: str | None
) -> None:
    job = kube_lab.training.submit(SCRIPT, name="fraud")
    _set_status(kube, kube_lab, job.id, status)
    info = job.refresh()
    assert (info.state, info.failure) == (state, failure)
    if failure:
        from mlops_lab.services.training import TrainingFailedError

        with pytest.raises(TrainingFailedError, match=failure) as caught:
            job.wait(poll=0.01)
        assert caught.value.fields["failure"] == failure
    kube_lab.training.backend().delete(job.id)


def test_forbidden_namespace_is_a_permission_message(
    project: Lab, kube: Any, tmp_path: Path
) -> None:
    lab = _configure(project, kube.kubeconfig(tmp_path / "kc"), namespace="locked")
    with pytest.raises(AccessDeniedError) as caught:
        lab.training.submit(SCRIPT, name="fraud")
    message = str(caught.value)
    assert "Kubernetes refused to create RayJob" in message and "HTTP 403" in message
    assert "RBAC" in message and "\n" not in message


def test_missing_kubeconfig_or_context(project: Lab, tmp_path: Path, kube: Any) -> None:
    lab = _configure(project, tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no kubeconfig at"):
        lab.training.submit(SCRIPT, name="fraud")
    lab = _configure(project, kube.kubeconfig(tmp_path / "kc"), extra='context = "prod"\n')
    with pytest.raises(ConfigError, match="cannot use prod"):
        lab.training.submit(SCRIPT, name="fraud")


def test_gpu_request_that_no_node_fits_warns(kube_lab: Lab, kube: Any) -> None:
    from kubernetes import client

    from mlops_lab.backends.k8s.client import api_client

    client.CoreV1Api(api_client(kube_lab.config)).create_node(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "gpu-node-1", "labels": {"nvidia.com/gpu.product": "NVIDIA-L4"}},
            "status": {"allocatable": {"cpu": "8", "nvidia.com/gpu": "1"}},
        }
    )
    with pytest.warns(
        kuberay.FitWarning,
        match=r"each worker asks 2 GPUs but the largest node has 1 \(gpu-node-1: 1x NVIDIA-L4\)",
    ):
        job = kube_lab.training.submit(SCRIPT, name="fraud", workers=2, gpus=4)
    kube_lab.training.backend().delete(job.id)


def test_dry_run_magic_prints_yaml(
    ipython: Any, kube_lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    ipython.run_cell_magic("mlops", "train --name fraud --on kubernetes --gpus 2 --dry-run", SCRIPT)
    manifest = yaml.safe_load(capsys.readouterr().out)
    assert manifest["kind"] == "RayJob" and manifest["metadata"]["namespace"] == "ml"


def test_local_stores_unreachable_from_pods_warn(kube_lab: Lab) -> None:
    with pytest.warns(kuberay.ReachWarning) as caught:
        job = kube_lab.training.submit(SCRIPT, name="fraud")
    messages = [str(w.message) for w in caught]
    assert any("cannot reach the local MLflow store" in m for m in messages)
    assert any('[data] backend = "lakefs"' in m for m in messages)
    kube_lab.training.backend().delete(job.id)


@pytest.mark.parametrize(
    ("variable", "url", "shown_key"),
    [
        (
            "MLFLOW_TRACKING_URI",
            "http://user:S3CRET-pw@mlflow.example.com:5000",
            "MLFLOW_TRACKING_URI",
        ),
        (
            "MLFLOW_TRACKING_URI",
            "https://mlflow.example.com/?access_token=S3CRET-pw",
            "MLFLOW_TRACKING_URI",
        ),
        (
            "LAKECTL_SERVER_ENDPOINT_URL",
            "http://ak:S3CRET-pw@lakefs.example.com",
            "MLOPS_DATA_ENDPOINT",
        ),
    ],
)
def test_urls_with_credentials_travel_as_secret_refs(
    kube_lab: Lab,
    monkeypatch: pytest.MonkeyPatch,
    specs_dir: Path,
    variable: str,
    url: str,
    shown_key: str,
) -> None:
    monkeypatch.setenv(variable, url)
    lab = mlops_lab.connect(kube_lab.root)
    text = lab.training.submit(SCRIPT, name="fraud", dry_run=True)
    assert "S3CRET" not in text
    manifest = yaml.safe_load(text)
    validate(manifest, specs_dir / "kuberay" / "ray.io_rayjobs.yaml")
    assert shown_key not in yaml.safe_load(manifest["spec"]["runtimeEnvYAML"])["env_vars"]
    head = manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    env = {e["name"]: e for e in head["containers"][0]["env"]}
    assert env[shown_key]["valueFrom"]["secretKeyRef"] == {
        "name": "mlops-credentials",
        "key": shown_key,
    }
