"""Scheduled notebooks: a Kubernetes CronJob running ``mlops-lab run`` in an image.

The manifests are plain dicts, validated with ``kubernetes-validate`` before anything is
sent. The notebook travels with the schedule: in a ConfigMap (outputs cleared) when it is
small, else as a file committed through ``lab.data`` and read back by URI when the job
runs. Credentials reach the pod only as ``secretKeyRef`` environment variables; the
project's ``mlops.toml`` (which never holds secrets) travels in the ConfigMap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import cron, lineage
from mlops_lab.config import is_secret_name
from mlops_lab.display import Table
from mlops_lab.errors import ConfigError, ConflictError, NotFoundError, UsageError, require

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

KUBERNETES_VERSION = "1.30.0"
"""Schema version the manifests are validated against (kubernetes-validate)."""
MANAGED_BY = "mlops-lab"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_SCHEDULE = "mlops-lab/schedule"
COMPONENT = "notebook-schedule"
ANNOTATION_PARAMETERS = "mlops-lab/parameters"
ANNOTATION_NOTEBOOK_URI = "mlops-lab/notebook-uri"
ANNOTATION_SOURCE = "mlops-lab/source"

CONFIGMAP_LIMIT = 900 * 1024
"""Largest notebook shipped in a ConfigMap (Kubernetes caps one at 1 MiB)."""
WORKDIR = "/mlops/project"
NOTEBOOK_DIR = "/mlops/notebook"
OUTPUT_DIR = "/mlops/runs"

CREDENTIAL_VARIABLES = (
    "LAKECTL_CREDENTIALS_ACCESS_KEY_ID",
    "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
"""Credential variables the lab and its SDKs read; a schedule maps each from the credentials
Secret (optional keys, so a Secret holds only what the project uses)."""

DEFAULT_CREDENTIALS_SECRET = "mlops-lab-credentials"
"""Secret a schedule maps credentials from, unless --credentials-secret or [kubernetes]
credentials names another."""

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 52  # a CronJob's Jobs append 11 characters to its name, within 63


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable of the job read from a Kubernetes Secret."""

    variable: str
    secret: str
    key: str

    @classmethod
    def parse(cls, text: str) -> SecretEnv:
        variable, sep, ref = text.partition("=")
        secret, sep2, key = ref.partition(":")
        if not (sep and sep2 and variable and secret and key) or not _ENV_NAME.match(variable):
            raise UsageError(
                f"--secret-env '{text}' must look like NAME=SECRET:KEY (the variable NAME "
                "is read from key KEY of the Kubernetes Secret SECRET)"
            )
        _check_name(secret, "secret")
        return cls(variable, secret, key)


@dataclass
class ScheduleSpec:
    """Everything a schedule is made of; ``manifests()`` turns it into Kubernetes objects."""

    name: str
    notebook: Path
    cron: str
    image: str
    namespace: str
    parameters: dict[str, Any] = field(default_factory=dict)
    gpus: int = 0
    cpu: str = "1"
    memory: str = "2Gi"
    timeout: float | None = None
    """Per-cell timeout passed to `mlops-lab run --timeout`."""
    deadline_s: int = 6 * 3600
    """activeDeadlineSeconds of each Job."""
    starting_deadline_s: int = 300
    retries: int = 1
    """backoffLimit of each Job."""
    history: int = 3
    timezone: str = ""
    credentials_secret: str = "mlops-lab-credentials"
    secret_env: tuple[SecretEnv, ...] = ()
    suspend: bool = False


@dataclass(frozen=True)
class Schedule:
    """One row of `mlops-lab schedules`."""

    name: str
    namespace: str
    cron: str
    timezone: str
    notebook: str
    image: str
    suspended: bool
    last_run: dt.datetime | None
    last_success: dt.datetime | None
    next_run: dt.datetime | None
    active: int


@dataclass(frozen=True)
class ScheduleList:
    namespace: str
    schedules: tuple[Schedule, ...]

    def table(self, max_rows: int = 50) -> Table:
        rows = [
            [
                s.name,
                s.cron + (f" ({s.timezone})" if s.timezone else ""),
                s.notebook,
                s.image,
                _when(s.last_run),
                _when(s.last_success),
                _when(s.next_run),
                s.active,
                s.suspended,
            ]
            for s in self.schedules
        ]
        return Table(
            [
                "name",
                "schedule",
                "notebook",
                "image",
                "last run",
                "last success",
                "next run",
                "active",
                "suspended",
            ],
            rows,
            title=f"notebook schedules in namespace {self.namespace}",
            max_rows=max_rows,
            notes=[] if rows else ["no schedules yet: mlops-lab schedule NOTEBOOK --cron ..."],
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __len__(self) -> int:
        return len(self.schedules)


@dataclass(frozen=True)
class Created:
    name: str
    namespace: str
    manifests: list[dict[str, Any]]
    notebook_uri: str | None

    def __repr__(self) -> str:
        where = "a lab.data file " + self.notebook_uri if self.notebook_uri else "a ConfigMap"
        return (
            f"schedule {self.name} created in namespace {self.namespace} (notebook shipped "
            f"in {where}); see mlops-lab schedules"
        )


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip() if value else ""


def _check_name(name: str, what: str) -> str:
    if not name or len(name) > 253 or not _NAME.match(name):
        raise UsageError(
            f"{what} name '{name}' is not a valid Kubernetes name (lower-case "
            "letters, digits and '-', starting and ending with a letter or digit)"
        )
    return name


def default_name(notebook: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", notebook.stem.lower()).strip("-") or "notebook"
    return slug[:MAX_NAME].rstrip("-")


def build_spec(
    lab: Lab,
    notebook: str | Path,
    cron_expression: str,
    image: str | None,
    parameters: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    namespace: str | None = None,
    gpus: int = 0,
    cpu: str = "1",
    memory: str = "2Gi",
    timeout: float | None = None,
    deadline_s: int = 6 * 3600,
    retries: int = 1,
    timezone: str = "",
    credentials_secret: str = "",
    secret_env: Sequence[str | SecretEnv] = (),
    suspend: bool = False,
    text_parameters: bool = False,
) -> ScheduleSpec:
    """Check every input (notebook, parameters, cron, image, names, resources) and return
    the spec; nothing is created."""
    notebooks = lab.notebooks
    source = notebooks._source(notebook)
    values = notebooks.check_parameters(source, parameters, text=text_parameters)
    cron.parse(cron_expression)
    image = (image or lab.config.kubernetes.image).strip()
    if not image:
        raise UsageError(
            "no image to run the notebook in; pass --image IMAGE (an image with "
            "mlops-lab installed) or set [kubernetes] image in mlops.toml"
        )
    if any(c.isspace() for c in image):
        raise UsageError(
            f"image '{image}' contains whitespace; give a reference like "
            "registry.example.com/team/mlops:1.0"
        )
    schedule_name = _check_name(name or default_name(source), "schedule")
    if len(schedule_name) > MAX_NAME:
        raise UsageError(
            f"schedule name '{schedule_name}' is longer than {MAX_NAME} characters "
            "(Kubernetes appends a suffix to each Job); pass a shorter --name"
        )
    ns = _check_name(namespace or lab.config.kubernetes.namespace, "namespace")
    if gpus < 0:
        raise UsageError(f"--gpus must be 0 or more, got {gpus}")
    for what, quantity in (("--cpu", cpu), ("--memory", memory)):
        if not _QUANTITY.match(quantity):
            raise UsageError(
                f"{what} '{quantity}' is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)"
            )
    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout:g}")
    if deadline_s <= 0:
        raise UsageError(f"--deadline must be a positive number of seconds, got {deadline_s}")
    if retries < 0:
        raise UsageError(f"--retries must be 0 or more, got {retries}")
    if timezone:
        _check_timezone(timezone)
    credentials_secret = (
        credentials_secret
        or getattr(lab.config.kubernetes, "credentials", "")
        or DEFAULT_CREDENTIALS_SECRET
    )
    _check_name(credentials_secret, "credentials secret")
    envs = tuple(e if isinstance(e, SecretEnv) else SecretEnv.parse(e) for e in secret_env)
    return ScheduleSpec(
        name=schedule_name,
        notebook=source,
        cron=" ".join(cron_expression.split()),
        image=image,
        namespace=ns,
        parameters=values,
        gpus=gpus,
        cpu=cpu,
        memory=memory,
        timeout=timeout,
        deadline_s=deadline_s,
        retries=retries,
        timezone=timezone,
        credentials_secret=credentials_secret,
        secret_env=envs,
        suspend=suspend,
    )


def _check_timezone(timezone: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone '{timezone}'; use an IANA name such as Europe/Berlin or UTC"
        ) from None


def shipped_notebook(source: Path) -> bytes:
    """The notebook as the schedule ships it: outputs and execution counts cleared."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return json.dumps(nb, indent=1, ensure_ascii=False).encode("utf-8")


def _plain_env(lab: Lab) -> list[dict[str, Any]]:
    """Endpoint overrides the user set in the environment (not secrets), so the job talks to
    the same services; KUBECONFIG stays behind (the pod uses its service account)."""
    from mlops_lab.config import ECOSYSTEM_ENV

    env: list[dict[str, Any]] = []
    config = lab.config
    for key, variable in sorted(config.overrides.items(), key=lambda kv: kv[1]):
        if variable == "KUBECONFIG" or is_secret_name(variable):
            continue
        section, _, name = key.partition(".")
        value = str(getattr(getattr(config, section), name))
        if variable not in ECOSYSTEM_ENV and not variable.startswith("MLOPS_"):
            continue
        parsed = urllib.parse.urlsplit(value)
        if parsed.password or parsed.username:
            raise ConfigError(
                f"{variable} holds credentials in its URL; remove them and put "
                "them in the credentials Secret (secretKeyRef) instead"
            )
        env.append({"name": variable, "value": value})
    return env


def _check_no_url_credentials(lab: Lab) -> None:
    """mlops.toml refuses secret-looking keys, but a URL can still carry a password."""
    import dataclasses

    for section in ("data", "tracking", "training", "kubernetes", "features", "notebooks"):
        values = getattr(lab.config, section)
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            if isinstance(value, str) and "://" in value:
                parsed = urllib.parse.urlsplit(value)
                if parsed.password:
                    raise ConfigError(
                        f"[{section}] {f.name} carries a password in its URL; remove it and "
                        "put the credential in the credentials Secret (secretKeyRef) instead"
                    )


def manifests(
    lab: Lab, spec: ScheduleSpec, notebook_uri: str | None = None
) -> list[dict[str, Any]]:
    """The ConfigMap and CronJob of a schedule, validated against the Kubernetes schemas."""
    labels = {LABEL_MANAGED: MANAGED_BY, LABEL_COMPONENT: COMPONENT, LABEL_SCHEDULE: spec.name}
    source_name = spec.notebook.name
    data: dict[str, str] = {}
    _check_no_url_credentials(lab)
    if lab.config.file is not None:
        data["mlops.toml"] = lab.config.file.read_text(encoding="utf-8")
    if notebook_uri is None:
        data["notebook.ipynb"] = shipped_notebook(spec.notebook).decode("utf-8")
        target = f"{NOTEBOOK_DIR}/{source_name}"
    else:
        target = notebook_uri
    annotations = {
        ANNOTATION_SOURCE: str(spec.notebook),
        ANNOTATION_PARAMETERS: json.dumps(spec.parameters, sort_keys=True, default=str),
        lineage.NOTEBOOK_PATH: str(spec.notebook),
    }
    from mlops_lab.services.notebooks import _git_info

    git = _git_info(spec.notebook)
    if "sha" in git:
        annotations[lineage.NOTEBOOK_GIT_SHA] = git["sha"]
        annotations[lineage.NOTEBOOK_GIT_DIRTY] = git["dirty"]
    if notebook_uri:
        annotations[ANNOTATION_NOTEBOOK_URI] = notebook_uri

    command = ["mlops-lab", "run", target, "--output", f"{OUTPUT_DIR}/{spec.name}.ipynb"]
    for key, value in spec.parameters.items():
        command += ["-p", key, value if isinstance(value, str) else json.dumps(value)]
    if spec.timeout is not None:
        command += ["--timeout", f"{spec.timeout:g}"]

    env: list[dict[str, Any]] = [
        {"name": "MLOPS_SCHEDULE", "value": spec.name},
        *_plain_env(lab),
    ]
    explicit = {e.variable for e in spec.secret_env}
    for variable in CREDENTIAL_VARIABLES:
        if variable in explicit:
            continue
        env.append(
            {
                "name": variable,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": spec.credentials_secret,
                        "key": variable,
                        "optional": True,
                    }
                },
            }
        )
    for extra in spec.secret_env:
        env.append(
            {
                "name": extra.variable,
                "valueFrom": {"secretKeyRef": {"name": extra.secret, "key": extra.key}},
            }
        )

    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": spec.cpu, "memory": spec.memory},
        "limits": {"memory": spec.memory},
    }
    if spec.gpus:
        resources["requests"]["nvidia.com/gpu"] = spec.gpus
        resources["limits"]["nvidia.com/gpu"] = spec.gpus

    mounts: list[dict[str, Any]] = [
        {"name": "work", "mountPath": WORKDIR},
        {"name": "runs", "mountPath": OUTPUT_DIR},
    ]
    items = []
    if "mlops.toml" in data:
        mounts.append(
            {
                "name": "shipped",
                "mountPath": f"{WORKDIR}/mlops.toml",
                "subPath": "mlops.toml",
                "readOnly": True,
            }
        )
        items.append({"key": "mlops.toml", "path": "mlops.toml"})
    if notebook_uri is None:
        mounts.append(
            {"name": "shipped", "mountPath": target, "subPath": source_name, "readOnly": True}
        )
        items.append({"key": "notebook.ipynb", "path": source_name})
    volumes: list[dict[str, Any]] = [
        {"name": "work", "emptyDir": {}},
        {"name": "runs", "emptyDir": {}},
    ]
    config_map_name = f"{spec.name}-notebook"
    if items:
        volumes.append({"name": "shipped", "configMap": {"name": config_map_name, "items": items}})
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "notebook",
                "image": spec.image,
                "command": command,
                "workingDir": WORKDIR,
                "env": env,
                "resources": resources,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if spec.gpus:
        pod_spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    cron_job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "schedule": spec.cron,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": spec.starting_deadline_s,
            "successfulJobsHistoryLimit": spec.history,
            "failedJobsHistoryLimit": spec.history,
            "suspend": spec.suspend,
            "jobTemplate": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "backoffLimit": spec.retries,
                    "activeDeadlineSeconds": spec.deadline_s,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }
    if spec.timezone:
        cron_job["spec"]["timeZone"] = spec.timezone
    out: list[dict[str, Any]] = []
    if data:
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": config_map_name,
                    "namespace": spec.namespace,
                    "labels": labels,
                    "annotations": {"mlops-lab/sha256": digest},
                },
                "data": data,
            }
        )
    out.append(cron_job)
    for manifest in out:
        validate(manifest)
    return out


def validate(manifest: Mapping[str, Any]) -> None:
    """Check a manifest against the Kubernetes schema (kubernetes-validate, strict)."""
    kv = require("kubernetes_validate")
    try:
        kv.validate(dict(manifest), KUBERNETES_VERSION, strict=True)
    except kv.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        kind = manifest.get("kind", "manifest")
        raise UsageError(f"the {kind} manifest is invalid at {path}: {exc.message}") from None


def to_yaml(docs: Sequence[Mapping[str, Any]]) -> str:
    """Manifests as YAML documents: no anchors, multi-line strings as literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def text(dumper: yaml.SafeDumper, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump_all(
        [dict(d) for d in docs],
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )


# -- the cluster --------------------------------------------------------------------------


def create(lab: Lab, spec: ScheduleSpec) -> Created:
    """Ship the notebook and create the CronJob; on any failure nothing is left behind."""
    client = require("kubernetes.client")
    from mlops_lab.k8s import api_client, api_error

    payload = shipped_notebook(spec.notebook)
    notebook_uri = None
    if len(payload) > CONFIGMAP_LIMIT:
        notebook_uri = _upload(lab, spec, payload)
    docs = manifests(lab, spec, notebook_uri)
    api = api_client(lab.config)
    batch = client.BatchV1Api(api)
    core = client.CoreV1Api(api)
    try:
        batch.read_namespaced_cron_job(spec.name, spec.namespace)
    except client.ApiException as exc:
        if exc.status != 404:
            raise api_error(exc, f"read CronJob {spec.name}") from None
    except Exception as exc:
        raise api_error(exc, f"read CronJob {spec.name}") from None
    else:
        raise ConflictError(
            f"schedule {spec.name} already exists in namespace {spec.namespace}; "
            f"mlops-lab unschedule {spec.name} first, or pass another --name"
        )
    made_config_map = False
    try:
        for doc in docs:
            if doc["kind"] == "ConfigMap":
                _replace_config_map(core, client, doc)
                made_config_map = True
            else:
                batch.create_namespaced_cron_job(spec.namespace, doc)
    except Exception as exc:
        if made_config_map:
            with contextlib.suppress(Exception):
                core.delete_namespaced_config_map(f"{spec.name}-notebook", spec.namespace)
        raise api_error(exc, f"create schedule {spec.name}") from None
    return Created(spec.name, spec.namespace, docs, notebook_uri)


def _replace_config_map(core: Any, client: Any, doc: dict[str, Any]) -> None:
    meta = doc["metadata"]
    try:
        core.create_namespaced_config_map(meta["namespace"], doc)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        # a leftover of an earlier schedule of the same name: ours (by label), so replace it
        existing = core.read_namespaced_config_map(meta["name"], meta["namespace"])
        if (existing.metadata.labels or {}).get(LABEL_MANAGED) != MANAGED_BY:
            raise
        core.replace_namespaced_config_map(meta["name"], meta["namespace"], doc)


def _upload(lab: Lab, spec: ScheduleSpec, payload: bytes) -> str:
    if lab.config.data.backend == "local":
        raise UsageError(
            f"{spec.notebook.name} is {len(payload) // 1024} KiB with outputs cleared, more than "
            f"a ConfigMap holds ({CONFIGMAP_LIMIT // 1024} KiB), and the local data store is not "
            'reachable from the cluster; set [data] backend = "lakefs" to ship it through '
            "lakeFS, or make the notebook smaller"
        )
    digest = hashlib.sha256(payload).hexdigest()[:12]
    path = f"schedules/{spec.name}/{digest}/{spec.notebook.name}"
    data = lab.data
    branch = data.default_branch
    data.write_file(payload, path, branch=branch)
    commit = data.commit(branch, message=f"notebook for schedule {spec.name}")
    return str(data.uri(commit, path))


def list_schedules(
    lab: Lab, namespace: str | None = None, now: dt.datetime | None = None
) -> ScheduleList:
    client = require("kubernetes.client")
    from mlops_lab.k8s import api_client, api_error

    ns = _check_name(namespace or lab.config.kubernetes.namespace, "namespace")
    api = api_client(lab.config)
    selector = f"{LABEL_MANAGED}={MANAGED_BY},{LABEL_COMPONENT}={COMPONENT}"
    try:
        response = client.BatchV1Api(api).list_namespaced_cron_job(
            ns, label_selector=selector, _preload_content=False
        )
        items = json.loads(response.data).get("items", [])
    except Exception as exc:
        raise api_error(exc, f"list CronJobs in namespace {ns}") from None
    now = now or dt.datetime.now(dt.UTC)
    found = []
    for item in items:
        meta = item.get("metadata", {})
        labels = meta.get("labels") or {}
        if labels.get(LABEL_MANAGED) != MANAGED_BY or labels.get(LABEL_COMPONENT) != COMPONENT:
            continue  # a server that ignores label selectors
        spec = item.get("spec", {})
        status = item.get("status") or {}
        annotations = meta.get("annotations") or {}
        containers = (
            spec.get("jobTemplate", {})
            .get("spec", {})
            .get("template", {})
            .get("spec", {})
            .get("containers", [{}])
        )
        found.append(
            Schedule(
                name=meta.get("name", ""),
                namespace=meta.get("namespace", ns),
                cron=spec.get("schedule", ""),
                timezone=spec.get("timeZone", ""),
                notebook=Path(annotations.get(ANNOTATION_SOURCE, "")).name,
                image=containers[0].get("image", "") if containers else "",
                suspended=bool(spec.get("suspend")),
                last_run=_time(status.get("lastScheduleTime")),
                last_success=_time(status.get("lastSuccessfulTime")),
                next_run=None
                if spec.get("suspend")
                else _next(spec.get("schedule", ""), spec.get("timeZone", ""), now),
                active=len(status.get("active") or []),
            )
        )
    found.sort(key=lambda s: s.name)
    return ScheduleList(ns, tuple(found))


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _next(expression: str, timezone: str, now: dt.datetime) -> dt.datetime | None:
    import zoneinfo

    try:
        parsed = cron.parse(expression)
        zone = zoneinfo.ZoneInfo(timezone) if timezone else dt.UTC
    except (UsageError, zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    local = now.astimezone(zone).replace(tzinfo=None)
    following = parsed.next_after(local)
    return following.replace(tzinfo=zone) if following else None


def delete(lab: Lab, name: str, namespace: str | None = None) -> None:
    """Delete the schedule's CronJob (and its Jobs) and its ConfigMap."""
    client = require("kubernetes.client")
    from mlops_lab.k8s import api_client, api_error

    _check_name(name, "schedule")
    ns = _check_name(namespace or lab.config.kubernetes.namespace, "namespace")
    api = api_client(lab.config)
    batch = client.BatchV1Api(api)
    try:
        response = batch.read_namespaced_cron_job(name, ns, _preload_content=False)
        existing = json.loads(response.data)
    except client.ApiException as exc:
        if exc.status == 404:
            raise NotFoundError(
                f"no schedule {name} in namespace {ns}; see mlops-lab schedules"
            ) from None
        raise api_error(exc, f"read CronJob {name}") from None
    except Exception as exc:
        raise api_error(exc, f"read CronJob {name}") from None
    labels = existing.get("metadata", {}).get("labels") or {}
    if labels.get(LABEL_MANAGED) != MANAGED_BY:
        raise UsageError(
            f"CronJob {name} in namespace {ns} was not made by mlops-lab; "
            "delete it with kubectl if you mean to"
        )
    body = client.V1DeleteOptions(propagation_policy="Background")
    try:
        batch.delete_namespaced_cron_job(name, ns, body=body, _preload_content=False)
    except Exception as exc:
        raise api_error(exc, f"delete CronJob {name}") from None
    try:
        client.CoreV1Api(api).delete_namespaced_config_map(
            f"{name}-notebook", ns, _preload_content=False
        )
    except client.ApiException as exc:
        if exc.status != 404:
            raise api_error(exc, f"delete ConfigMap {name}-notebook") from None
    except Exception as exc:
        raise api_error(exc, f"delete ConfigMap {name}-notebook") from None
