"""Notebooks as jobs: papermill runs with the MLOps kernel, recorded as MLflow runs with lineage.

A run checks everything it can before it starts anything (the notebook exists, has a
``parameters`` cell, every parameter is known, typed right and not secret-looking), then
opens an MLflow run for the job, executes the notebook with papermill in a kernel that
knows its own source path (``MLOPS_NOTEBOOK_PATH``), and stamps on the job run what the
notebook produced: the runs it tracked, the data commits they read or wrote, the model
versions they registered. The executed notebook is kept and logged as an artifact of the
job run, also when a cell failed, the kernel died or a cell ran past the timeout.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import datetime as dt
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.config import is_secret_name
from mlops_lab.display import Table
from mlops_lab.errors import (
    BackendError,
    ConfigError,
    LabError,
    NotFoundError,
    UsageError,
    require,
)

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

ENV_NOTEBOOK_PATH = "MLOPS_NOTEBOOK_PATH"
"""Absolute path of the source notebook, set for the kernel of a notebook job."""
ENV_PROJECT = "MLOPS_PROJECT"
"""Project root of the job, set for its kernel."""
ENV_JOB_ID = "MLOPS_JOB_ID"
"""Id of the notebook job, set for its kernel (and tagged on the job run as mlops.job.id)."""

JOB_KIND_TAG = "mlops.job.kind"
JOB_ID_TAG = "mlops.job.id"
JOB_STATUS_TAG = "mlops.job.status"
JOB_FAILED_CELL_TAG = "mlops.job.failed_cell"
JOB_ERROR_TAG = "mlops.job.error"
PARENT_TAG = "mlflow.parentRunId"
OUTPUT_ARTIFACT_DIR = "notebook"

# Literal types a parameter can be checked against; anything else is taken as given.
_CHECKED_TYPES = ("int", "float", "bool", "str", "list", "dict")


class NotebookRunError(LabError):
    """The notebook ran and a cell failed; the output notebook was still written."""


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One variable of a notebook's ``parameters`` cell."""

    name: str
    type: str
    """"int", "float", "bool", "str", "list", "dict", or "any" when it cannot be told."""
    default: str
    help: str = ""
    annotated: bool = False
    """True when the type comes from an annotation, False when inferred from the default."""


@dataclasses.dataclass(frozen=True)
class NotebookParameters:
    notebook: Path
    parameters: tuple[Parameter, ...]

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def table(self, max_rows: int = 50) -> Table:
        rows = [
            [
                p.name,
                p.type if p.annotated or p.type == "any" else f"{p.type} (from default)",
                p.default,
                p.help,
            ]
            for p in self.parameters
        ]
        return Table(
            ["name", "type", "default", "help"],
            rows,
            title=f"parameters of {self.notebook.name}",
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


@dataclasses.dataclass
class NotebookRun:
    """What one notebook job did: where its output is and what it recorded."""

    notebook: Path
    output: Path
    parameters: dict[str, Any]
    run_id: str | None
    status: str
    """"succeeded" or "failed"."""
    duration_s: float
    produced: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """Lineage key -> values the notebook's runs recorded (runs, data commits, models)."""
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    """Latest value of each metric the job run or its child runs logged."""
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str = ""
    failed_cell: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def table(self, max_rows: int = 50) -> Table:
        rows: list[list[Any]] = [
            ["notebook", str(self.notebook)],
            ["status", self.status],
            ["output", str(self.output)],
            ["MLflow run", self.run_id or ""],
            ["duration", f"{self.duration_s:.1f} s"],
        ]
        rows += [[f"parameter {k}", v] for k, v in self.parameters.items()]
        rows += [[k, ", ".join(v)] for k, v in self.produced.items()]
        if self.error:
            rows.append(["error", self.error])
        return Table(
            ["", "value"], rows, title=f"notebook job {self.notebook.name}", max_rows=max_rows
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


class NotebookService:
    """`lab.notebooks`: parameters of a notebook, runs as tracked jobs, and schedules.

    ``run`` / ``execute`` (papermill on the MLOps kernel, an MLflow job run with lineage),
    ``parameters`` / ``check_parameters``, ``schedule`` / ``schedules`` / ``unschedule``
    (Kubernetes CronJobs, see mlops_lab.schedules); pipelines are in mlops_lab.pipelines.
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._fetched: dict[str, Path] = {}

    # -- inspection -----------------------------------------------------------------------

    def parameters(self, path: str | os.PathLike[str]) -> NotebookParameters:
        """The notebook's parameters with their types, from its ``parameters``-tagged cell."""
        source = self._source(path)
        nb = _load(source)
        _parameters_cell(nb, source)
        inspection = require("papermill.inspection")
        try:
            found = inspection._infer_parameters(
                nb, name=self.lab.config.notebooks.kernel, language="python"
            )
        except Exception as exc:  # papermill's parser failing on the cell's code
            raise UsageError(f"{source}: cannot read the parameters cell: {exc}") from None
        return NotebookParameters(source, tuple(_parameter(p) for p in found))

    def check_parameters(
        self,
        path: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        text: bool = False,
    ) -> dict[str, Any]:
        """Validate ``parameters`` against the notebook's parameters cell; returns them coerced
        to the declared types. ``text=True`` parses string values as the CLI's ``-p`` gives them.
        """
        declared = self.parameters(path)
        return coerce_parameters(declared, parameters or {}, text=text)

    def resolve_parameters(
        self,
        path: str | os.PathLike[str],
        pairs: Iterable[tuple[str, str]] = (),
        file: str | os.PathLike[str] | None = None,
    ) -> dict[str, Any]:
        """Parameters as the CLI and magics take them: a YAML file (typed values), then
        ``-p NAME VALUE`` pairs (text, parsed to each parameter's type) overriding it."""
        declared = self.parameters(path)
        values = coerce_parameters(declared, load_parameters_file(file)) if file else {}
        values.update(coerce_parameters(declared, dict(pairs), text=True))
        return values

    # -- running --------------------------------------------------------------------------

    def run(
        self,
        path: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Execute ``path`` with papermill; returns the executed notebook's path.

        Raises NotebookRunError (the output notebook is still written) when a cell fails.
        """
        return self.execute(path, parameters, output=output, timeout=timeout, cwd=cwd).output

    def execute(
        self,
        path: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
        text_parameters: bool = False,
        parent_run_id: str | None = None,
        run_name: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
        raise_on_failure: bool = True,
        experiment: str | None = None,
    ) -> NotebookRun:
        """Run the notebook as a tracked job and return what it did.

        ``parent_run_id`` nests the job run (pipelines); ``raise_on_failure=False`` returns a
        failed NotebookRun instead of raising NotebookRunError.
        """
        source = self._source(path)
        values = self.check_parameters(source, parameters, text=text_parameters)
        if timeout is not None and timeout <= 0:
            raise UsageError(f"--timeout must be a positive number of seconds, got {timeout:g}")
        config = self.lab.config
        workdir = Path(cwd).resolve() if cwd else config.root
        if not workdir.is_dir():
            raise NotFoundError(f"working directory {workdir} not found; check --cwd")
        out = Path(output).resolve() if output else self._default_output(source)
        if out.suffix != ".ipynb":
            raise UsageError(f"output {out} must end in .ipynb")
        _check_kernel(config.notebooks.kernel)

        tracker = _JobTracker(self.lab)
        git = _git_info(source)
        tags = {
            JOB_KIND_TAG: "notebook",
            lineage.NOTEBOOK_PATH: str(source),
            **({lineage.NOTEBOOK_GIT_SHA: git["sha"]} if "sha" in git else {}),
            **({lineage.NOTEBOOK_GIT_DIRTY: git["dirty"]} if "dirty" in git else {}),
            "mlflow.source.name": str(source),
            "mlflow.source.type": "NOTEBOOK",
            **(extra_tags or {}),
        }
        started = time.time()
        job_id = uuid.uuid4().hex
        tags[JOB_ID_TAG] = job_id
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {ENV_NOTEBOOK_PATH: str(source), ENV_PROJECT: str(config.root), ENV_JOB_ID: job_id}
        # The job's MLflow run is opened while the kernel starts (importing MLflow and opening
        # the store take about as long); no cell runs before it exists.
        opening = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mlops-job")
        pending = opening.submit(
            tracker.start, run_name or source.stem, tags, values, parent_run_id, experiment
        )
        opening.shutdown(wait=False)
        run_ids: list[str] = []

        def job_run_opened() -> None:
            run_ids.append(pending.result())

        error: LabError | None = None
        failed_cell: int | None = None
        try:
            _execute(
                source, out, values, config.notebooks.kernel, workdir, timeout, env, job_run_opened
            )
            run_id = run_ids[0]
        except _CellFailed as failure:
            run_id = run_ids[0]
            failed_cell = failure.cell
            error = NotebookRunError(
                f"{source.name}: cell {failure.cell} failed: {failure.ename}: "
                f"{_first_line(failure.evalue)} (executed notebook kept at {out}; "
                f"MLflow run {run_id})",
                output=str(out),
                cell=failure.cell,
                run_id=run_id,
            )
        except BaseException as exc:
            reason = {JOB_STATUS_TAG: "failed", JOB_ERROR_TAG: _first_line(str(exc))[:250]}
            if run_ids:
                tracker.finish(run_ids[0], out if out.exists() else None, "FAILED", reason)
            else:  # the kernel did not start, or the job run could not be opened: no cell ran
                out.unlink(missing_ok=True)
                try:
                    opened = pending.result(timeout=120)
                except BaseException:
                    opened = None
                if opened:
                    tracker.finish(opened, None, "KILLED", reason)
            if isinstance(exc, LabError | KeyboardInterrupt | SystemExit):
                raise
            raise BackendError(
                f"{source.name}: the notebook job could not run: {type(exc).__name__}: "
                f"{_first_line(str(exc))}"
                + (f" (executed notebook kept at {out})" if out.exists() else "")
            ) from exc
        finish_tags = {JOB_STATUS_TAG: "failed" if error else "succeeded"}
        if error is not None:
            finish_tags[JOB_FAILED_CELL_TAG] = str(failed_cell)
            finish_tags[JOB_ERROR_TAG] = str(error)[:250]
        produced, metrics, params, all_tags = tracker.collect(run_id, str(source), started, job_id)
        finish_tags.update({k: ",".join(v) for k, v in produced.items() if v})
        tracker.finish(run_id, out, "FAILED" if error else "FINISHED", finish_tags)
        for key, values_ in produced.items():
            for value in values_:
                lineage.note(key, value)
        result = NotebookRun(
            notebook=source,
            output=out,
            parameters=values,
            run_id=run_id,
            status="failed" if error else "succeeded",
            duration_s=time.time() - started,
            produced=produced,
            metrics=metrics,
            params=params,
            tags=all_tags,
            error=str(error) if error else "",
            failed_cell=failed_cell,
        )
        if error is not None and raise_on_failure:
            raise error
        return result

    # -- schedules ------------------------------------------------------------------------

    def schedule_spec(
        self,
        notebook: str | os.PathLike[str],
        cron: str,
        image: str | None,
        parameters: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Check a schedule's inputs; see mlops_lab.schedules.build_spec. Creates nothing."""
        from mlops_lab import schedules

        return schedules.build_spec(self.lab, Path(notebook), cron, image, parameters, **options)

    def schedule_yaml(self, spec: Any) -> str:
        """The manifests a schedule would create, as YAML (validated, nothing created)."""
        from mlops_lab import schedules

        return schedules.to_yaml(schedules.manifests(self.lab, spec, _dry_run_uri(self.lab, spec)))

    def create_schedule(self, spec: Any) -> Any:
        from mlops_lab import schedules

        return schedules.create(self.lab, spec)

    def schedule(
        self,
        notebook: str | os.PathLike[str],
        cron: str,
        image: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Run ``notebook`` on ``cron`` as a Kubernetes CronJob in ``image``."""
        return self.create_schedule(
            self.schedule_spec(notebook, cron, image, parameters, **options)
        )

    def schedules(self, namespace: str | None = None) -> Any:
        from mlops_lab import schedules

        return schedules.list_schedules(self.lab, namespace)

    def unschedule(self, name: str, namespace: str | None = None) -> None:
        from mlops_lab import schedules

        schedules.delete(self.lab, name, namespace)

    # -- helpers --------------------------------------------------------------------------

    def _source(self, path: str | os.PathLike[str]) -> Path:
        text = os.fspath(path)
        if text.startswith("lakefs://"):
            return self._fetch(text)
        source = Path(path).expanduser()
        if not source.is_absolute():
            source = Path.cwd() / source
        source = source.resolve()
        if source.suffix != ".ipynb":
            raise UsageError(f"{source} is not a .ipynb notebook; give the path of a notebook")
        if not source.is_file():
            raise NotFoundError(f"notebook {path} not found; check the path")
        return source

    def _fetch(self, uri: str) -> Path:
        """A notebook shipped through lab.data (``lakefs://REPO/REF/PATH``, as a schedule of a
        large notebook does), copied under .mlops/notebooks once per process."""
        cached = self._fetched.get(uri)
        if cached is not None and cached.is_file():
            return cached
        repository, _, rest = uri.removeprefix("lakefs://").partition("/")
        ref, _, path = rest.partition("/")
        data = self.lab.config.data
        if not (repository and ref and path.endswith(".ipynb")):
            raise UsageError(f"{uri} is not a notebook URI; expected lakefs://REPO/REF/PATH.ipynb")
        if data.backend != "lakefs" or data.repository != repository:
            raise ConfigError(
                f"{uri} is in lakeFS repository '{repository}' but this project's data store is "
                f'{data.backend} {data.repository}; set [data] backend = "lakefs" and '
                f'repository = "{repository}"'
            )
        target = self.lab.config.state_dir / "notebooks" / ref / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.lab.data.open(path, ref) as handle:
            payload = handle.read()
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, target)
        self._fetched[uri] = target.resolve()
        return self._fetched[uri]

    def _default_output(self, source: Path) -> Path:
        config = self.lab.config
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
        return config.resolve(config.notebooks.output_dir) / f"{source.stem}-{stamp}.ipynb"


def _dry_run_uri(lab: Lab, spec: Any) -> str | None:
    """Where a large notebook would be shipped, without uploading it."""
    from mlops_lab import schedules

    payload = schedules.shipped_notebook(spec.notebook)
    if len(payload) <= schedules.CONFIGMAP_LIMIT:
        return None
    if lab.config.data.backend == "local":
        schedules._upload(lab, spec, payload)  # raises the one-line reason
    return f"lakefs://{lab.config.data.repository}/<commit on upload>/schedules/{spec.name}"


# -- parameters ---------------------------------------------------------------------------


def _load(source: Path) -> Any:
    iorw = require("papermill.iorw")
    try:
        return iorw.load_notebook_node(str(source))
    except Exception as exc:  # nbformat's JSON and schema errors
        raise UsageError(f"{source} is not a readable notebook ({_first_line(str(exc))})") from None


def _parameters_cell(nb: Any, source: Path) -> int:
    for index, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            if cell.get("cell_type") != "code":
                raise UsageError(
                    f"{source}: the cell tagged 'parameters' (cell {index}) must be a code cell"
                )
            return index
    raise UsageError(
        f"{source} has no cell tagged 'parameters'; add the tag to the cell that sets the "
        "notebook's defaults (JupyterLab: Property Inspector > Cell Tags)"
    )


def _parameter(found: Any) -> Parameter:
    annotation = (found.inferred_type_name or "None").strip()
    default = found.default or ""
    kind = _annotation_type(annotation)
    annotated = kind is not None
    if kind is None:
        kind = _literal_type(default)
    return Parameter(found.name, kind, default, found.help or "", annotated)


def _annotation_type(annotation: str) -> str | None:
    if annotation in ("None", ""):
        return None
    parts = {p.strip() for p in annotation.replace("Optional[", "").rstrip("]").split("|")}
    parts.discard("None")
    if len(parts) == 1:
        name = parts.pop().split("[")[0].lower()
        return name if name in _CHECKED_TYPES else "any"
    return "any"


def _literal_type(default: str) -> str:
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "any"
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return "any"


def coerce_parameters(
    declared: NotebookParameters, values: Mapping[str, Any], text: bool = False
) -> dict[str, Any]:
    """Check names (unknown, secret-looking) and types; return values in the declared types."""
    import difflib

    names = declared.names()
    secrets = _secret_values()
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, str) and value in secrets:
            raise UsageError(
                f"parameter '{name}' holds the value of {secrets[value]}, a credential; "
                "secrets are never passed as parameters: read the variable in the notebook "
                "instead (os.environ), and in a schedule map it with --secret-env"
            )
        if is_secret_name(name):
            raise UsageError(
                f"parameter '{name}' looks like a secret and secrets are never passed as "
                "parameters (they would be written into the executed notebook and MLflow); "
                "read it from an environment variable in the notebook, and in a schedule from a "
                "Kubernetes Secret (mlops-lab schedule --secret-env NAME=SECRET:KEY, a secretKeyRef)"
            )
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else (f"known: {', '.join(names)}" if names else "the parameters cell sets none")
            )
            raise UsageError(f"{declared.notebook.name} has no parameter '{name}'; {hint}")
        out[name] = _coerce(declared[name], value, text, declared.notebook.name)
    return out


def load_parameters_file(file: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML (or JSON) mapping of parameter names to values."""
    import yaml

    path = Path(file).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"parameters file {file} not found; check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read parameters file {file}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{file} is not valid YAML: {_first_line(str(exc))}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise UsageError(f"{file} must be a mapping of parameter names to values")
    return data


def _secret_values() -> dict[str, str]:
    """Values of the credential variables set in this process -> the variable's name."""
    from mlops_lab.schedules import CREDENTIAL_VARIABLES

    found: dict[str, str] = {}
    for variable, value in os.environ.items():
        if len(value) >= 8 and (variable in CREDENTIAL_VARIABLES or is_secret_name(variable)):
            found.setdefault(value, variable)
    return found


def _coerce(parameter: Parameter, value: Any, text: bool, notebook: str) -> Any:
    kind = parameter.type

    def refuse() -> UsageError:
        shown = value if isinstance(value, str) else repr(value)
        return UsageError(
            f"parameter '{parameter.name}' of {notebook} is {kind} (default {parameter.default}) "
            f"but got {shown!r}; pass a value of type {kind}"
        )

    if text and isinstance(value, str):
        if kind == "any":
            return _resolve_text(value)
        if kind == "str":
            return value
        if kind == "bool":
            lowered = value.lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise refuse()
        if kind in ("int", "float"):
            try:
                return int(value) if kind == "int" else float(value)
            except ValueError:
                raise refuse() from None
        try:
            parsed = json.loads(value)
        except ValueError:
            try:
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise refuse() from None
        value = parsed
    if value is None:
        return None
    if kind == "any":
        return value
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise refuse()
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise refuse()
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise refuse()
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise refuse()
    if kind == "list" and isinstance(value, list | tuple):
        return list(value)
    if kind == "dict" and isinstance(value, dict):
        return dict(value)
    raise refuse()


def _resolve_text(value: str) -> Any:
    """What a CLI string means when the parameter's type is unknown (as papermill's -p)."""
    if value in ("True", "true"):
        return True
    if value in ("False", "false"):
        return False
    if value in ("None", "none"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


# -- execution ----------------------------------------------------------------------------


class _CellFailed(Exception):
    def __init__(self, cell: int, ename: str, evalue: str) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.cell = cell
        self.ename = ename
        self.evalue = evalue


def _check_kernel(kernel: str) -> None:
    kernelspec = require("jupyter_client.kernelspec")
    try:
        kernelspec.KernelSpecManager().get_kernel_spec(kernel)
    except kernelspec.NoSuchKernel:
        raise ConfigError(
            f"Jupyter kernel '{kernel}' is not installed; reinstall mlops-lab (it ships the "
            "'mlops' kernel) or set [notebooks] kernel in mlops.toml (see jupyter kernelspec list)"
        ) from None


def _execute(
    source: Path,
    out: Path,
    parameters: dict[str, Any],
    kernel: str,
    cwd: Path,
    timeout: float | None,
    env: dict[str, str],
    kernel_ready: Callable[[], None] | None = None,
) -> None:
    papermill = require("papermill")
    from mlops_lab.services import _papermill_engine

    _papermill_engine.register()
    try:
        papermill.execute_notebook(
            str(source),
            str(out),
            parameters=parameters,
            engine_name=_papermill_engine.ENGINE,
            kernel_name=kernel,
            language="python",
            cwd=str(cwd),
            execution_timeout=timeout,
            progress_bar=False,
            kernel_env=env,
            kernel_ready=kernel_ready,
        )
    except papermill.PapermillExecutionError as exc:
        raise _CellFailed(_source_index(out, exc.cell_index), exc.ename, str(exc.evalue)) from None


def _source_index(out: Path, index: int) -> int:
    """The failing cell's index in the source notebook: papermill's injected-parameters cell
    (and the error-marker cells it adds at the failure) are not in the source."""
    try:
        cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index
    source_index = 0
    executed = -1
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            if "injected-parameters" in tags:
                executed += 1
            continue
        executed += 1
        if executed == index:
            return source_index
        source_index += 1
    return index


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _git_info(source: Path) -> dict[str, str]:
    """Commit of the repository holding the notebook, and whether the notebook differs from
    it (changed, or not committed at all)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(source.parent), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode:
            raise OSError(done.stderr)
        return done.stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--", str(source))
    except (OSError, subprocess.SubprocessError):
        return {}
    try:
        git("ls-files", "--error-unmatch", "--", str(source))
        tracked = True
    except OSError:
        tracked = False
    return {"sha": sha, "dirty": "true" if status or not tracked else "false"}


# -- the job's MLflow run -----------------------------------------------------------------


class _JobTracker:
    """The job's MLflow run, through the client API so a job started from a notebook never
    disturbs that notebook's own active run."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.lab.tracking.client
        return self._client

    def start(
        self,
        name: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        parent_run_id: str | None,
        experiment: str | None = None,
    ) -> str:
        config = self.lab.config
        experiment_id = self.lab.tracking.experiment_id(experiment or config.tracking.experiment)
        all_tags = dict(tags)
        if parent_run_id:
            all_tags[PARENT_TAG] = parent_run_id
        run = self.client.create_run(experiment_id, run_name=name, tags=all_tags)
        run_id: str = run.info.run_id
        entities = require("mlflow.entities")
        batch = [entities.Param(k, _param_text(v)) for k, v in params.items()]
        if batch:
            self.client.log_batch(run_id, params=batch)
        return run_id

    def finish(
        self,
        run_id: str,
        output: Path | None,
        status: str,
        tags: Mapping[str, str],
        artifact_dir: str = OUTPUT_ARTIFACT_DIR,
    ) -> None:
        entities = require("mlflow.entities")
        client = self.client
        if tags:
            client.log_batch(run_id, tags=[entities.RunTag(k, v) for k, v in tags.items()])
        if output is not None and output.is_file():
            client.log_artifact(run_id, str(output), artifact_dir)
        client.set_terminated(run_id, status)

    def collect(
        self, run_id: str, source: str, started: float, job_id: str = ""
    ) -> tuple[dict[str, list[str]], dict[str, float], dict[str, str], dict[str, str]]:
        """What the notebook's own runs recorded. They are the runs started since the job
        began that carry its job id (``MLOPS_JOB_ID``), or else name this notebook as their
        source (``MLOPS_NOTEBOOK_PATH``), and the runs nested under those or the job run."""
        client = self.client
        experiments = [e.experiment_id for e in client.search_experiments()]
        since = int(started * 1000) - 1000
        recent = {
            run.info.run_id: run
            for run in _search(client, experiments, f"attributes.start_time >= {since}")
            if run.info.run_id != run_id
        }
        members = {run_id}
        for rid, run in recent.items():
            run_tags = run.data.tags
            tagged = run_tags.get(JOB_ID_TAG)
            if tagged == job_id if tagged else run_tags.get(lineage.NOTEBOOK_PATH) == source:
                members.add(rid)
        grew = True
        while grew:
            grew = False
            for rid, run in recent.items():
                if rid not in members and run.data.tags.get(PARENT_TAG) in members:
                    members.add(rid)
                    grew = True
        children = {rid: run for rid, run in recent.items() if rid in members}
        collector = lineage.Collector()
        metrics: dict[str, float] = {}
        params: dict[str, str] = {}
        tags: dict[str, str] = {}
        job = client.get_run(run_id)
        ordered = sorted(children.values(), key=lambda r: r.info.start_time or 0)
        for run in [job, *ordered]:
            metrics.update(run.data.metrics)
            params.update(run.data.params)
            tags.update({k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
        for run in ordered:
            collector.add(lineage.RUN_ID, run.info.run_id)
            for key in (
                lineage.DATA_COMMIT,
                lineage.DATA_REPOSITORY,
                lineage.FEATURES_SERVICE,
                lineage.RAY_JOB_ID,
            ):
                for value in _split(run.data.tags.get(key)):
                    collector.add(key, value)
            for name, version in _model_versions(client, run):
                collector.add(lineage.MODEL_NAME, name)
                collector.add(lineage.MODEL_VERSION, f"{name}/{version}")
        return collector.values, metrics, params, tags


def _model_versions(client: Any, run: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    names = _split(run.data.tags.get(lineage.MODEL_NAME))
    versions = _split(run.data.tags.get(lineage.MODEL_VERSION))
    for name, version in zip(names, versions, strict=False):
        found.append((name, version.rsplit("/", 1)[-1]))
    try:
        for mv in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            if (mv.name, str(mv.version)) not in found:
                found.append((mv.name, str(mv.version)))
    except Exception:  # a tracking store without a registry
        pass
    return found


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _search(client: Any, experiments: list[str], query: str) -> Iterable[Any]:
    token = None
    while True:
        page = client.search_runs(
            experiments, filter_string=query, max_results=1000, page_token=token
        )
        yield from page
        token = page.token
        if not token:
            return


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]
