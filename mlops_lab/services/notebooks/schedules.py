"""Scheduled notebooks: a Kubernetes CronJob running ``mlops-lab run`` in an image.

The manifests (backends/k8s/cronjob.py) are validated before anything is sent. The notebook
travels with the schedule: in a ConfigMap (outputs cleared) when it is small, else as a
file committed through ``lab.data`` and read back by URI when the job runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.k8s import cron
from mlops_lab.backends.k8s.client import api_client, call
from mlops_lab.backends.k8s.credentials import DEFAULT_CREDENTIALS_SECRET, SecretEnv
from mlops_lab.backends.k8s.cronjob import (
    ANNOTATION_SOURCE,
    COMPONENT,
    CONFIGMAP_LIMIT,
    LABEL_COMPONENT,
    LABEL_MANAGED,
    MANAGED_BY,
    MAX_NAME,
    ScheduleSpec,
    build,
    shipped_notebook,
)
from mlops_lab.backends.k8s.names import QUANTITY, check_name
from mlops_lab.backends.k8s.validation import to_yaml as to_yaml  # the schedule's YAML
from mlops_lab.display import Table, file_link
from mlops_lab.errors import ConflictError, NotFoundError, UsageError, require
from mlops_lab.render import details

if TYPE_CHECKING:
    from mlops_lab.lab import Lab


def manifests(
    lab: Lab, spec: ScheduleSpec, notebook_uri: str | None = None
) -> list[dict[str, Any]]:
    """The ConfigMap and CronJob of a schedule, validated against the Kubernetes schemas."""
    return build(lab.config, spec, notebook_uri)


@dataclass(frozen=True)
class Preview:
    """A schedule's dry run: what it would run, when and with what, over its YAML folded
    (``<details>``); as text, the YAML itself."""

    spec: ScheduleSpec
    yaml: str

    def table(self) -> Table:
        spec = self.spec
        gpus = f", {spec.gpus} GPU" if spec.gpus else ""
        kinds = re.findall(r"^kind: (\w+)$", self.yaml, re.MULTILINE)
        rows: list[list[Any]] = [
            ["notebook", file_link(spec.notebook)],
            ["when", spec.cron + (f" ({spec.timezone})" if spec.timezone else " (UTC)")],
            ["image", spec.image],
            ["namespace", spec.namespace],
            ["parameters", ", ".join(f"{k}={v}" for k, v in spec.parameters.items())],
            ["resources", f"{spec.cpu} CPU, {spec.memory}{gpus}"],
            [
                "limits",
                f"{spec.deadline_s} s a run, {spec.retries} retries, keeps {spec.history} runs",
            ],
            ["creates", ", ".join(kinds)],
        ]
        return Table(["", "value"], rows, title=f"schedule {spec.name} (dry run: nothing created)")

    def __repr__(self) -> str:
        return self.yaml

    def _repr_html_(self) -> str:
        lines = self.yaml.count("\n") + 1
        folded = details(
            f"YAML ({lines} lines)", f'<pre style="font-size:85%">{html.escape(self.yaml)}</pre>'
        )
        return self.table()._repr_html_() + folded


def preview(lab: Lab, spec: ScheduleSpec) -> Preview:
    """The dry run of a schedule: its summary and validated manifests; creates nothing."""
    return Preview(spec, to_yaml(manifests(lab, spec, dry_run_uri(lab, spec))))


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
    source = notebooks.source(notebook)
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
    schedule_name = check_name(name or default_name(source), "schedule")
    if len(schedule_name) > MAX_NAME:
        raise UsageError(
            f"schedule name '{schedule_name}' is longer than {MAX_NAME} characters "
            "(Kubernetes appends a suffix to each Job); pass a shorter --name"
        )
    ns = check_name(namespace or lab.config.kubernetes.namespace, "namespace")
    if gpus < 0:
        raise UsageError(f"--gpus must be 0 or more, got {gpus}")
    for what, quantity in (("--cpu", cpu), ("--memory", memory)):
        if not QUANTITY.match(quantity):
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
    check_name(credentials_secret, "credentials secret")
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


# -- the cluster --------------------------------------------------------------------------


def create(lab: Lab, spec: ScheduleSpec) -> Created:
    """Ship the notebook and create the CronJob; on any failure nothing is left behind."""
    client = require("kubernetes.client")

    payload = shipped_notebook(spec.notebook)
    notebook_uri = None
    if len(payload) > CONFIGMAP_LIMIT:
        notebook_uri = upload(lab, spec, payload)
    docs = manifests(lab, spec, notebook_uri)
    api = api_client(lab.config)
    batch = client.BatchV1Api(api)
    core = client.CoreV1Api(api)
    try:
        call(f"read CronJob {spec.name}", batch.read_namespaced_cron_job, spec.name, spec.namespace)
    except NotFoundError:
        pass
    else:
        raise ConflictError(
            f"schedule {spec.name} already exists in namespace {spec.namespace}; "
            f"mlops-lab unschedule {spec.name} first, or pass another --name"
        )
    made_config_map = False
    try:
        for doc in docs:
            if doc["kind"] == "ConfigMap":
                _replace_config_map(core, doc)
                made_config_map = True
            else:
                call(
                    f"create schedule {spec.name}",
                    batch.create_namespaced_cron_job,
                    spec.namespace,
                    doc,
                )
    except Exception:
        if made_config_map:
            with contextlib.suppress(Exception):
                call(
                    "clean up",
                    core.delete_namespaced_config_map,
                    f"{spec.name}-notebook",
                    spec.namespace,
                )
        raise
    return Created(spec.name, spec.namespace, docs, notebook_uri)


def _replace_config_map(core: Any, doc: dict[str, Any]) -> None:
    name, namespace = doc["metadata"]["name"], doc["metadata"]["namespace"]
    try:
        call(f"create ConfigMap {name}", core.create_namespaced_config_map, namespace, doc)
    except ConflictError:
        # a leftover of an earlier schedule of the same name: ours (by label), so replace it
        existing = call(f"read ConfigMap {name}", core.read_namespaced_config_map, name, namespace)
        if (existing.metadata.labels or {}).get(LABEL_MANAGED) != MANAGED_BY:
            raise
        call(f"replace ConfigMap {name}", core.replace_namespaced_config_map, name, namespace, doc)


def upload(lab: Lab, spec: ScheduleSpec, payload: bytes) -> str:
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

    ns = check_name(namespace or lab.config.kubernetes.namespace, "namespace")
    api = api_client(lab.config)
    selector = f"{LABEL_MANAGED}={MANAGED_BY},{LABEL_COMPONENT}={COMPONENT}"
    response = call(
        f"list CronJobs in namespace {ns}",
        client.BatchV1Api(api).list_namespaced_cron_job,
        ns,
        label_selector=selector,
        _preload_content=False,
    )
    items = json.loads(response.data).get("items", [])
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

    check_name(name, "schedule")
    ns = check_name(namespace or lab.config.kubernetes.namespace, "namespace")
    api = api_client(lab.config)
    batch = client.BatchV1Api(api)
    try:
        response = call(
            f"read CronJob {name}", batch.read_namespaced_cron_job, name, ns, _preload_content=False
        )
    except NotFoundError:
        raise NotFoundError(
            f"no schedule {name} in namespace {ns}; see mlops-lab schedules"
        ) from None
    existing = json.loads(response.data)
    labels = existing.get("metadata", {}).get("labels") or {}
    if labels.get(LABEL_MANAGED) != MANAGED_BY:
        raise UsageError(
            f"CronJob {name} in namespace {ns} was not made by mlops-lab; "
            "delete it with kubectl if you mean to"
        )
    body = client.V1DeleteOptions(propagation_policy="Background")
    call(
        f"delete CronJob {name}",
        batch.delete_namespaced_cron_job,
        name,
        ns,
        body=body,
        _preload_content=False,
    )
    with contextlib.suppress(NotFoundError):
        call(
            f"delete ConfigMap {name}-notebook",
            client.CoreV1Api(api).delete_namespaced_config_map,
            f"{name}-notebook",
            ns,
            _preload_content=False,
        )


def dry_run_uri(lab: Lab, spec: ScheduleSpec) -> str | None:
    """Where a large notebook would be shipped, without uploading it."""
    payload = shipped_notebook(spec.notebook)
    if len(payload) <= CONFIGMAP_LIMIT:
        return None
    if lab.config.data.backend == "local":
        upload(lab, spec, payload)  # raises the one-line reason
    return f"lakefs://{lab.config.data.repository}/<commit on upload>/schedules/{spec.name}"
