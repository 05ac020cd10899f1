"""Training on Ray: one submission path (Ray's Job Submission API, or a KubeRay RayJob that
runs it) for the local head the lab manages, a remote head, and Kubernetes.

``lab.training.submit(script_or_path, name=..., workers=2, gpus=0)`` returns a ``Job``
(``job.status``, ``job.logs()``, ``job.wait()``, ``job.stop()``). The script ships as the
job's working directory together with the local modules it imports (never data: the job
reads data through ``lab.data`` / ``lab.features``) and runs under
``mlops_lab.backends.training.entry``, which opens the MLflow run carrying the lineage.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.backends import training as training_backends
from mlops_lab.backends.training import base
from mlops_lab.backends.training.local_head import HeadInfo, LocalHead
from mlops_lab.backends.training.ray_jobs import probe
from mlops_lab.errors import ConfigError, LabError, NotFoundError, UsageError
from mlops_lab.jobenv import JobEnv
from mlops_lab.redact import has_secret

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$")
MAX_SHIPPED_BYTES = 5 * 1024 * 1024
ENTRY_MODULE = "mlops_lab.backends.training.entry"
SCRIPT_NAME = "main.py"


class TrainingFailedError(LabError):
    """A job ended without succeeding; ``fields['failure']`` says which way."""


def training_failed(status: base.JobStatus) -> TrainingFailedError:
    """The error a job that did not succeed raises: which way it failed, and what to do."""
    what = status.failure or status.state
    hint = {
        base.APPLICATION_FAILED: f"see %mlops logs {status.job_id}",
        base.SUBMISSION_FAILED: "check the runtime environment and the cluster's resources",
        base.DEADLINE_EXCEEDED: "raise --deadline or make the job smaller",
        base.STOPPED_BY_USER: "rerun the cell to train again",
    }.get(what, f"see %mlops logs {status.job_id}")
    reason = " ".join(status.reason.split())[:300]
    return TrainingFailedError(
        f"training job {status.job_id} {what}: {reason or 'no reason given'}; {hint}",
        job_id=status.job_id,
        failure=what,
        state=status.state,
    )


class Job:
    """A handle on one submitted job; survives kernel restarts (rebuild with lab.training.job)."""

    def __init__(
        self,
        backend: base.TrainingBackend,
        job_id: str,
        name: str = "",
        submitted_at: float | None = None,
    ) -> None:
        self.backend = backend
        self.id = job_id
        self.name = name or job_id
        self.submitted_at = submitted_at or time.time()
        self._last: base.JobStatus | None = None
        self._log_cache = ""

    def refresh(self) -> base.JobStatus:
        self._last = self.backend.status(self.id)
        if self._last.start_time:
            self.submitted_at = min(self.submitted_at, self._last.start_time)
        return self._last

    @property
    def info(self) -> base.JobStatus:
        if self._last is None or not self._last.done:
            return self.refresh()
        return self._last

    @property
    def status(self) -> str:
        """pending, running, succeeded, failed or stopped."""
        return self.info.state

    @property
    def failure(self) -> str | None:
        return self.info.failure

    def logs(self) -> str:
        text = self.backend.logs(self.id)
        self._log_cache = text
        return text

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every metrics report the job printed so far."""
        return base.parse_metrics(self._log_cache or self.logs())

    def elapsed(self) -> float:
        info = self._last
        end = info.end_time if info and info.end_time else time.time()
        start = info.start_time if info and info.start_time else self.submitted_at
        return max(0.0, end - start)

    def stop(self) -> bool:
        return self.backend.stop(self.id)

    def follow(
        self,
        on_update: Callable[[base.JobStatus, str], None] | None = None,
        poll: float = 1.0,
        timeout: float | None = None,
    ) -> base.JobStatus:
        """Poll the job until it ends (or ``timeout`` s pass) and return its last status;
        ``on_update(status, new_log_text)`` sees each poll. The one polling loop of a job:
        ``wait``, the cell's monitor and its background thread all follow through it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        while True:
            status = self.refresh()
            if on_update is not None:
                text = self.logs()
                new, seen = text[seen:], len(text)
                on_update(status, new)
            if status.done or (deadline is not None and time.monotonic() >= deadline):
                return status
            time.sleep(poll)

    def wait(
        self,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Job, base.JobStatus, str], None] | None = None,
        raise_on_failure: bool = True,
    ) -> base.JobStatus:
        """Block until the job ends (or ``timeout`` s pass); ``on_update(job, status, new_log)``
        sees each poll. A job that did not succeed raises TrainingFailedError."""
        report = None if on_update is None else (lambda st, new: on_update(self, st, new))
        status = self.follow(report, poll, timeout)
        if status.done and raise_on_failure and status.state != base.SUCCEEDED:
            raise training_failed(status)
        return status

    def __repr__(self) -> str:
        info = self._last
        state = info.state if info else "?"
        extra = f" ({info.failure}: {info.reason[:120]})" if info and info.failure else ""
        return f"<Job {self.id} {state}{extra} on {self.backend.kind} {self.backend.target}>"


class TrainingService:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._backends: dict[str, base.TrainingBackend] = {}

    # -- the local head ---------------------------------------------------------------
    @property
    def cluster(self) -> LocalHead:
        config = self.lab.config
        return LocalHead(
            config.state_dir / "ray", config.training.dashboard_port, config.serving.ingress
        )

    def up(self, num_cpus: int | None = None, num_gpus: int | None = None) -> HeadInfo:
        return self.cluster.up(num_cpus=num_cpus, num_gpus=num_gpus)

    def down(self) -> bool:
        self._backends.pop("ray-local", None)
        return self.cluster.down()

    # -- backends ---------------------------------------------------------------------
    def _kind(self, on: str | None) -> str:
        raw = on or self.lab.config.training.backend
        try:
            return training_backends.BACKENDS.canonical(raw)
        except ConfigError:
            raise UsageError(
                f"unknown training backend '{raw}'; use local, remote or kubernetes"
            ) from None

    def backend(self, on: str | None = None, start: bool = True) -> base.TrainingBackend:
        """The backend jobs go to; ``start=False`` looks without starting a local head."""
        kind = self._kind(on)
        if kind not in self._backends:
            self._backends[kind] = training_backends.make(self.lab, self.cluster, kind, start)
        return self._backends[kind]

    # -- jobs -------------------------------------------------------------------------
    def submit(
        self,
        script_or_path: str | os.PathLike[str],
        name: str | None = None,
        workers: int = 2,
        cpus: float = 1.0,
        gpus: float = 0.0,
        max_failures: int = 0,
        register: str | None = None,
        on: str | None = None,
        params: dict[str, Any] | None = None,
        deadline: int | None = None,
        source_dir: str | os.PathLike[str] | None = None,
        notebook: str | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Submit a training script; returns a Job (or the RayJob YAML when ``dry_run``)."""
        source, folder, default_name = _read_script(script_or_path, source_dir)
        name = name or default_name
        _check_args(name, workers, cpus, gpus, max_failures, deadline, register)
        _check_syntax(source, name)
        kind = self._kind(on)
        if kind == "ray-local":  # the job runs on this Python: what it imports must be here
            _check_imports(source, folder)
        job_id = f"{name}-{time.strftime('%m%d%H%M%S')}-{secrets.token_hex(2)}"
        with tempfile.TemporaryDirectory(prefix="mlops-job-") as tmp:
            working = Path(tmp)
            code_hash = _package(source, folder, working, params or {})
            spec = base.JobSpec(
                name=name,
                working_dir=working,
                entrypoint="",
                env={},
                metadata={},
                workers=workers,
                cpus=cpus,
                gpus=gpus,
                deadline_s=deadline,
                submission_id=job_id,
            )
            spec.env = self._job_env(spec, code_hash, max_failures, register, notebook, kind)
            spec.metadata = {
                base.META_NAME: name,
                base.META_PROJECT: str(self.lab.root),
                base.META_CODE_HASH: code_hash,
            }
            if deadline:
                spec.metadata[base.META_DEADLINE] = str(deadline)
            python = shlex.quote(sys.executable) if kind == "ray-local" else "python"
            spec.entrypoint = f"{python} -m {ENTRY_MODULE} {SCRIPT_NAME}"
            if dry_run:
                if kind != "kubernetes":
                    raise UsageError(
                        "--dry-run prints the RayJob manifest: use it with --on kubernetes"
                    )
                from mlops_lab.backends.training.kuberay import RayJobBackend

                return RayJobBackend(self.lab).render(spec)
            backend = self.backend(on)
            self._check_resources(backend, spec)
            if kind != "kubernetes":  # a head that is down says so before the store is made
                probe(backend.target)
            self._prepare_tracking(kind)
            submitted = backend.submit(spec)
        return Job(backend, submitted, name)

    def _job_env(
        self,
        spec: base.JobSpec,
        code_hash: str,
        max_failures: int,
        register: str | None,
        notebook: str | None,
        kind: str,
    ) -> dict[str, str]:
        # Where the code came from is known here, in the kernel, not inside the job.
        origin = lineage.origin_tags(self.lab.root)
        if notebook:
            origin[lineage.NOTEBOOK_PATH] = notebook
            origin.update(lineage.git_state(notebook, self.lab.root))
        job = JobEnv(
            project=str(self.lab.root) if kind != "kubernetes" else "",
            notebook_path=origin.get(lineage.NOTEBOOK_PATH, ""),
            job_name=spec.name,
            ray_job_id=spec.submission_id,
            code_hash=code_hash,
            origin_tags=json.dumps(origin, sort_keys=True),
            workers=str(spec.workers),
            cpus=f"{spec.cpus:g}",
            gpus=f"{spec.gpus:g}",
            max_failures=str(max_failures),
            deadline_s=str(spec.deadline_s) if spec.deadline_s else "",
            register=register or "",
        )
        env = {**job.to_env(), "PYTHONUNBUFFERED": "1"}
        # Endpoint overrides the kernel got from its environment. Ray's dashboard shows a
        # job's environment, so a URL with credentials is not sent: the job then uses the
        # head's own (a head the lab starts has the kernel's). Kubernetes puts it in a Secret.
        for variable in self.lab.config.overrides.values():
            value = os.environ.get(variable)
            if value is None or variable == "RAY_ADDRESS":
                continue
            if kind != "kubernetes" and has_secret(value):
                continue
            env[variable] = value
        return env

    def _prepare_tracking(self, kind: str) -> None:
        """Create a project's embedded MLflow store here, once: jobs starting side by side
        would otherwise race to create its tables."""
        uri = self.lab.config.tracking.uri
        if kind == "kubernetes" or not uri.startswith("sqlite:///"):
            return
        if not self.lab.config.resolve(uri.removeprefix("sqlite:///")).exists():
            self.lab.tracking.experiment_id()

    def _check_resources(self, backend: base.TrainingBackend, spec: base.JobSpec) -> None:
        resources_of = getattr(backend, "resources", None)
        if resources_of is None:
            return
        if spec.gpus <= 0 and spec.workers * spec.cpus <= 2:
            return  # nothing a head could lack; skip the round trip
        total = resources_of()
        have_gpu = float(total.get("GPU", 0.0))
        if spec.gpus > have_gpu:
            raise UsageError(
                f"--gpus {spec.gpus:g} asked but the Ray head at {backend.target} has "
                f"{have_gpu:g} GPU; drop --gpus, or point RAY_ADDRESS at a GPU cluster, "
                "or use --on kubernetes (nothing was submitted)"
            )
        have_cpu = float(total.get("CPU", 0.0))
        need = spec.workers * spec.cpus
        if have_cpu and need > have_cpu:
            raise UsageError(
                f"{spec.workers} workers x {spec.cpus:g} CPU need {need:g} CPUs but the Ray "
                f"head at {backend.target} has {have_cpu:g}; lower --workers or --cpus "
                "(nothing was submitted)"
            )

    def job(self, job_id: str, on: str | None = None) -> Job:
        """A handle on an existing job (e.g. after a kernel restart)."""
        try:
            backend = self.backend(on, start=False)
        except NotFoundError as exc:
            raise NotFoundError(f"no job '{job_id}': {exc}") from None
        status = backend.status(job_id)
        job = Job(backend, job_id, status.name, status.start_time)
        job._last = status
        return job

    def jobs(self, on: str | None = None) -> list[base.JobStatus]:
        """This project's jobs on the backend, newest first (none when no local head runs)."""
        try:
            backend = self.backend(on, start=False)
        except NotFoundError:
            return []
        return backend.list(str(self.lab.root))


def _read_script(
    script_or_path: str | os.PathLike[str], source_dir: str | os.PathLike[str] | None
) -> tuple[str, Path, str]:
    text = os.fspath(script_or_path)
    if "\n" not in text and text.endswith(".py"):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"training script {path} not found; check the path")
        slug = re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-") or "train"
        return path.read_text(encoding="utf-8"), path.resolve().parent, slug[:30]
    folder = Path(source_dir).resolve() if source_dir else Path.cwd()
    return text, folder, "train"


def _check_args(
    name: str,
    workers: int,
    cpus: float,
    gpus: float,
    max_failures: int,
    deadline: int | None,
    register: str | None,
) -> None:
    if not NAME_RE.match(name):
        raise UsageError(
            f"invalid job name '{name}': use 1-30 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if cpus <= 0:
        raise UsageError(f"--cpus must be positive, got {cpus:g}")
    if gpus < 0:
        raise UsageError(f"--gpus cannot be negative, got {gpus:g}")
    if max_failures < -1:
        raise UsageError(f"--max-failures must be -1 (unlimited) or more, got {max_failures}")
    if deadline is not None and deadline <= 0:
        raise UsageError(f"--deadline must be a positive number of seconds, got {deadline}")
    if register is not None and not re.match(r"^[A-Za-z0-9][\w.-]*$", register):
        raise UsageError(f"invalid model name '{register}' for --register")


def _check_syntax(source: str, name: str) -> None:
    if not source.strip():
        raise UsageError("the training script is empty; put the training code in the cell body")
    try:
        compile(source, f"<{name}>", "exec")
    except SyntaxError as exc:
        raise UsageError(
            f"syntax error in the training script at line {exc.lineno}: {exc.msg}; "
            "fix it and rerun (nothing was submitted)"
        ) from None


# Packages a script may import that come with an extra of mlops-lab rather than by default.
EXTRAS = {"torch": "mlops-lab[torch]"}


def _check_imports(source: str, folder: Path) -> None:
    """Refuse a script whose unconditional imports are missing here, before submitting it
    (a job would fail only after the head started, inside Ray). Imports under ``if`` or
    ``try`` are the script's own choice and are not checked."""
    import importlib.util

    local = {path.stem if path.is_file() else path.name for path in local_modules(source, folder)}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module.split(".")[0]]
        else:
            continue
        for top in names:
            if top in local or top in sys.builtin_module_names:
                continue
            if importlib.util.find_spec(top) is None:
                install = EXTRAS.get(top, top)
                raise UsageError(
                    f"the training script imports {top}, which is not installed; run: pip "
                    f"install '{install}' (nothing was submitted)"
                )


def local_modules(source: str, folder: Path) -> list[Path]:
    """Files of the modules and packages the script imports from ``folder`` (recursively)."""
    found: dict[str, Path] = {}
    queue = [source]
    while queue:
        tree = ast.parse(queue.pop())
        for node in ast.walk(tree):
            names: Iterable[str] = ()
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            for top in names:
                if top in found:
                    continue
                module, package = folder / f"{top}.py", folder / top / "__init__.py"
                if module.is_file():
                    found[top] = module
                    queue.append(module.read_text(encoding="utf-8"))
                elif package.is_file():
                    found[top] = package.parent
    return [found[k] for k in sorted(found)]


def _package(source: str, folder: Path, working: Path, params: dict[str, Any]) -> str:
    """Write the job's working dir; returns the hash of the code shipped."""
    (working / SCRIPT_NAME).write_text(source, encoding="utf-8")
    for item in local_modules(source, folder):
        if item.is_dir():
            shutil.copytree(
                item,
                working / item.name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"),
            )
        else:
            shutil.copy2(item, working / item.name)
    if params:
        try:
            text = json.dumps(params, sort_keys=True)
        except TypeError as exc:
            raise UsageError(
                f"passed variables must be JSON values (str, numbers, lists, dicts): {exc}"
            ) from None
        (working / base.PARAMS_FILE).write_text(text, encoding="utf-8")
    digest = hashlib.sha256()
    total = 0
    for path in sorted(p for p in working.rglob("*") if p.is_file()):
        data = path.read_bytes()
        total += len(data)
        digest.update(str(path.relative_to(working)).encode() + b"\0" + data)
    if total > MAX_SHIPPED_BYTES:
        raise UsageError(
            f"the job's code is {total / 1e6:.1f} MB (limit {MAX_SHIPPED_BYTES / 1e6:.0f} MB): "
            "ship code only and read data through lab.data"
        )
    return digest.hexdigest()[:16]
