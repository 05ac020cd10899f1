"""KubeRay RayJobs: one custom resource per training job (built by backends/k8s/rayjob.py).

The code travels as a ``runtimeEnv`` working_dir URI uploaded through ``lab.data``. The
manifest is checked structurally before it leaves, and against the official CRD schema
when one is given (backends/k8s/validation.py; ``MLOPS_SPECS_DIR`` names the specs in
production). KubeRay's operator then submits the job through Ray's Job Submission API.
"""

from __future__ import annotations

import builtins
import io
import os
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.k8s.client import api_client, call
from mlops_lab.backends.k8s.credentials import url_env
from mlops_lab.backends.k8s.rayjob import GROUP, MANAGED_BY, PLURAL, VERSION, build_rayjob
from mlops_lab.backends.k8s.validation import validate
from mlops_lab.backends.training import base
from mlops_lab.errors import LabError, require
from mlops_lab.jobenv import JobEnv
from mlops_lab.redact import has_secret

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

CODE_PREFIX = "_mlops/code"


class FitWarning(UserWarning):
    """The cluster's nodes cannot hold what the job asks for."""


class ReachWarning(UserWarning):
    """The job's pods cannot reach a store the project uses."""


def code_archive(working_dir: Path) -> bytes:
    """The working dir zipped under one top-level folder, as Ray wants remote URIs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in working_dir.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(
                f"code/{path.relative_to(working_dir).as_posix()}", date_time=(2020, 1, 1, 0, 0, 0)
            )
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def status_of(obj: dict[str, Any]) -> base.JobStatus:
    """Map a RayJob's status onto the lab's states and failure kinds."""
    meta = obj.get("metadata", {})
    annotations = meta.get("annotations") or {}
    status = obj.get("status") or {}
    deployment = str(status.get("jobDeploymentStatus") or "")
    job_state = str(status.get("jobStatus") or "")
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    failure = None
    if deployment in ("Failed", "ValidationFailed") or job_state == "FAILED":
        state = base.FAILED
        if reason in ("DeadlineExceeded", "PreRunningDeadlineExceeded"):
            failure = base.DEADLINE_EXCEEDED
        elif reason in ("SubmissionFailed", "ValidationFailed") or deployment == "ValidationFailed":
            failure = base.SUBMISSION_FAILED
        else:
            failure = base.APPLICATION_FAILED
    elif (
        job_state == "STOPPED"
        or deployment in ("Suspending", "Suspended")
        or (obj.get("spec") or {}).get("suspend")
    ):
        state, failure = base.STOPPED, base.STOPPED_BY_USER
        message = message or "suspended on request"
    elif job_state == "SUCCEEDED" and deployment in ("Complete", ""):
        state = base.SUCCEEDED
    elif job_state == "RUNNING" or deployment == "Running":
        state = base.RUNNING
    else:
        state = base.PENDING
    text = f"{reason}: {message}".strip(": ") if failure else message
    return base.JobStatus(
        job_id=str(meta.get("name", "")),
        name=str(annotations.get(base.META_NAME) or meta.get("name", "")),
        state=state,
        failure=failure,
        reason=text,
        start_time=_epoch(status.get("startTime")),
        end_time=_epoch(status.get("endTime")),
        metadata={k: str(v) for k, v in annotations.items()},
    )


def _epoch(value: Any) -> float | None:
    if not value:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RayJobBackend:
    """RayJobs in the configured namespace, through the kubernetes client."""

    kind = "kubernetes"

    def __init__(self, lab: Lab, schema_path: str | os.PathLike[str] | None = None) -> None:
        self.lab = lab
        self.config = lab.config
        self.namespace = self.config.kubernetes.namespace
        self.schema_path = schema_path
        context = self.config.kubernetes.context or "current context"
        self.target = f"{context}/{self.namespace}"
        self._api: Any = None

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = api_client(self.config)
        return self._api

    def _custom(self) -> Any:
        return require("kubernetes.client").CustomObjectsApi(self.api)

    # -- manifests ---------------------------------------------------------------------
    def code_uri(self, spec: base.JobSpec, upload: bool) -> str:
        """Where the job's code is (uploaded through lab.data when ``upload``)."""
        code_hash = JobEnv.current(spec.env).code_hash or "code"
        path = f"{CODE_PREFIX}/{spec.name}-{code_hash}.zip"
        data = self.lab.data
        branch = data.default_branch
        if upload:
            data.write_file(code_archive(Path(spec.working_dir)), path, branch=branch)
        lakefs = self.config.data.backend == "lakefs"
        if not upload:  # a dry run uploads nothing: say where the code would go
            if lakefs:
                return f"s3://{self.config.data.repository}/{branch}/{path}"
            return f"file://(uploaded-at-submit)/{branch}/{path}"
        uri = str(data.uri(branch, path, s3=lakefs))
        return uri if "://" in uri else f"file://{uri}"

    def manifest(self, spec: base.JobSpec, code_uri: str) -> dict[str, Any]:
        kube = self.config.kubernetes
        secret = getattr(kube, "credentials", "")
        env: dict[str, str] = {}
        by_ref: dict[str, dict[str, Any]] = {}  # URL -> its secretKeyRef entry (one key each)
        for variable, value in {**_endpoint_env(self.lab), **spec.env}.items():
            if has_secret(value):  # a URL with a password or token: never in the manifest
                by_ref.setdefault(value, url_env(variable, value, secret))
            else:
                env[variable] = value
        manifest = build_rayjob(
            name=spec.submission_id,
            namespace=self.namespace,
            image=kube.image,
            entrypoint=spec.entrypoint,
            runtime_env={"working_dir": code_uri, "env_vars": env},
            workers=spec.workers,
            cpus=spec.cpus,
            gpus=spec.gpus,
            deadline_s=spec.deadline_s,
            credentials=secret,
            extra_env=list(by_ref.values()),
            annotations={**spec.metadata, "mlops.ray.job_id": spec.submission_id},
        )
        validate(manifest, self.schema_path)
        return manifest

    def render(self, spec: base.JobSpec) -> str:
        import yaml

        manifest = self.manifest(spec, self.code_uri(spec, upload=False))
        return str(yaml.safe_dump(manifest, sort_keys=False))

    # -- the backend protocol ------------------------------------------------------------
    def submit(self, spec: base.JobSpec) -> str:
        manifest = self.manifest(spec, "placeholder://")  # refuse bad values before uploading
        self.check_fit(spec)
        self.check_reach()
        uri = self.code_uri(spec, upload=True)
        manifest = self.manifest(spec, uri)
        call(
            f"create RayJob {spec.submission_id} in namespace {self.namespace}",
            self._custom().create_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            manifest,
        )
        return spec.submission_id

    def get(self, name: str) -> dict[str, Any]:
        return dict(
            call(
                f"read RayJob {name} in namespace {self.namespace}",
                self._custom().get_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
            )
        )

    def status(self, job_id: str) -> base.JobStatus:
        return status_of(self.get(job_id))

    def stop(self, job_id: str) -> bool:
        """Suspend the RayJob: KubeRay stops the job and deletes its cluster."""
        call(
            f"stop RayJob {job_id} in namespace {self.namespace}",
            self._custom().patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            job_id,
            {"spec": {"suspend": True}},
        )
        return True

    def delete(self, job_id: str) -> None:
        call(
            f"delete RayJob {job_id} in namespace {self.namespace}",
            self._custom().delete_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            job_id,
        )

    def list(self, project: str) -> list[base.JobStatus]:
        listed = call(
            f"list RayJobs in namespace {self.namespace}",
            self._custom().list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            label_selector=f"app.kubernetes.io/managed-by={MANAGED_BY}",
        )
        items = [
            status_of(o)
            for o in listed.get("items", [])
            if ((o.get("metadata") or {}).get("annotations") or {}).get(base.META_PROJECT)
            == project
        ]
        return sorted(items, key=lambda s: s.start_time or 0.0, reverse=True)

    def logs(self, job_id: str) -> str:
        """The submitter pod's log (KubeRay's K8s Job named after the RayJob)."""
        core = require("kubernetes.client").CoreV1Api(self.api)
        pods = call(
            f"list the pods of RayJob {job_id}",
            core.list_namespaced_pod,
            self.namespace,
            label_selector=f"job-name={job_id}",
        )
        texts = []
        for pod in pods.items:
            texts.append(
                str(
                    call(
                        f"read the log of pod {pod.metadata.name}",
                        core.read_namespaced_pod_log,
                        pod.metadata.name,
                        self.namespace,
                    )
                )
            )
        return "\n".join(texts)

    def check_reach(self) -> builtins.list[str]:
        """Warn when the pods cannot reach the project's tracking store or data store."""
        messages = []
        uri = self.config.tracking.uri
        if not uri.startswith(("http://", "https://", "databricks")):
            messages.append(
                f"the RayJob's pods cannot reach the local MLflow store {uri}; "
                "set [tracking] uri (or MLFLOW_TRACKING_URI) to a tracking server"
            )
        if self.config.data.backend != "lakefs":
            messages.append(
                "the RayJob's pods cannot read the local data store; set [data] "
                'backend = "lakefs" so code and data travel through lakeFS'
            )
        for message in messages:
            warnings.warn(message, ReachWarning, stacklevel=3)
        return messages

    def check_fit(self, spec: base.JobSpec) -> builtins.list[str]:
        """Warn (FitWarning) when no node has the GPUs one worker asks for."""
        if not spec.gpus:
            return []
        need = int(spec.gpus // spec.workers)
        core = require("kubernetes.client").CoreV1Api(self.api)
        try:
            nodes = call("list nodes", core.list_node)
        except LabError:
            return []  # many users may not list nodes; the scheduler will tell
        offers = []
        for node in nodes.items:
            count = int((node.status.allocatable or {}).get("nvidia.com/gpu", 0) or 0)
            product = (node.metadata.labels or {}).get("nvidia.com/gpu.product", "GPU")
            if count:
                offers.append((count, product, node.metadata.name))
        messages = []
        if not offers:
            messages.append(
                f"no node offers nvidia.com/gpu; the {spec.workers} GPU workers "
                "will stay pending until GPU nodes join"
            )
        elif max(c for c, _, _ in offers) < need:
            shown = ", ".join(f"{n}: {c}x {p}" for c, p, n in offers[:5])
            messages.append(
                f"each worker asks {need} GPUs but the largest node has "
                f"{max(c for c, _, _ in offers)} ({shown})"
            )
        for message in messages:
            warnings.warn(message, FitWarning, stacklevel=3)
        return messages


def _endpoint_env(lab: Lab) -> dict[str, str]:
    """Where the job finds the same tracking server and data store (no credentials)."""
    config = lab.config
    env = {
        "MLOPS_DATA_BACKEND": config.data.backend,
        "MLOPS_TRACKING_EXPERIMENT": config.tracking.experiment,
    }
    if config.data.endpoint:
        env["MLOPS_DATA_ENDPOINT"] = config.data.endpoint
    if config.data.repository:
        env["MLOPS_DATA_REPOSITORY"] = config.data.repository
    if "://" in config.tracking.uri and not config.tracking.uri.startswith("sqlite"):
        env["MLFLOW_TRACKING_URI"] = config.tracking.uri
    return env
