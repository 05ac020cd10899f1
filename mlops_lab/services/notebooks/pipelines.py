"""Pipelines of notebooks: ordered stages with gates, values passed forward, one MLflow
parent run.

A pipeline file (TOML)::

    [pipeline]
    name = "fraud-model"

    [[stage]]
    name = "validate"
    notebook = "pipeline/validate_data.ipynb"     # relative to this file
    parameters = { rows = 2000 }
    gates = ["data.rows > 0"]

    [[stage]]
    name = "train"
    notebook = "pipeline/train.ipynb"
    needs = ["validate"]                          # optional; references imply it too
    parameters = { data_commit = "${validate.data.commit}" }
    gates = ["metrics.auc >= 0.85"]

A gate is ``REFERENCE OPERATOR VALUE`` over what the stage's run recorded; a reference is
``metrics.NAME``, ``params.NAME``, ``tags.NAME``, ``data.commit``, ``model.name``,
``model.version``, ``model.uri``, ``run.id``, ``run.output``, or any other dotted name the
notebook logged as a metric (``data.rows``). ``${stage.REFERENCE}`` in a parameter passes a
value recorded by an earlier stage. The whole file is checked (stages, notebooks,
parameters, references, cycles, gates) before anything runs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
import re
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.backends.tracking.mlflow import JobRecorder
from mlops_lab.display import BAD, GOOD, WARNING, Id, Table, colour, file_link
from mlops_lab.errors import LabError, NotFoundError, UsageError
from mlops_lab.services.notebooks.parameters import coerce_parameters
from mlops_lab.services.notebooks.service import JOB_KIND_TAG, NotebookRun, NotebookRunError

if TYPE_CHECKING:
    from mlops_lab.lab import Lab

STAGE_TAG = "mlops.pipeline.stage"
PIPELINE_NAME_TAG = "mlops.pipeline.name"
PIPELINE_FILE_TAG = "mlops.pipeline.file"

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_GATE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$")
_REF = re.compile(r"\$\{\s*([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z_][\w.\-]*)\s*\}")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_STAGE_KEYS = {"name", "notebook", "parameters", "gates", "needs", "timeout"}
_PIPELINE_KEYS = {"name", "experiment"}


class PipelineFailed(LabError):
    """A stage failed or a gate did not hold; the summary says which."""


@dataclass(frozen=True)
class Gate:
    text: str
    reference: str
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: Any, where: str) -> Gate:
        if not isinstance(text, str):
            raise UsageError(f'{where}: gate {text!r} must be a string like "metrics.auc >= 0.85"')
        match = _GATE.match(text)
        if not match:
            raise UsageError(
                f"{where}: malformed gate '{text}'; write REFERENCE OPERATOR VALUE, "
                'e.g. "metrics.auc >= 0.85" (operators: >= <= > < == !=)'
            )
        reference, op, raw = match.groups()
        value: float | str
        try:
            value = float(raw)
        except ValueError:
            if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
                value = raw[1:-1]
            elif re.fullmatch(r"[\w.\-/]+", raw):
                value = raw
            else:
                raise UsageError(
                    f"{where}: malformed gate '{text}': value '{raw}' is neither a "
                    "number nor a quoted string"
                ) from None
            if op not in ("==", "!="):
                raise UsageError(f"{where}: malformed gate '{text}': {op} needs a number") from None
        if "." not in reference:
            raise UsageError(
                f"{where}: gate '{text}' refers to '{reference}'; write "
                "metrics.NAME, params.NAME, data.commit, model.version, ..."
            )
        return cls(text.strip(), reference, op, value)

    def check(self, record: Mapping[str, Any]) -> tuple[bool, str]:
        """(holds, the value seen, as text)."""
        if self.reference not in record:
            return False, "not recorded"
        seen = record[self.reference]
        if isinstance(self.value, float):
            try:
                number = float(seen)
            except (TypeError, ValueError):
                return False, f"{seen!r} is not a number"
            if math.isnan(number):
                return False, "NaN"
            return _OPS[self.op](number, self.value), f"{number:.4g}"
        return _OPS[self.op](str(seen), self.value), str(seen)


@dataclass
class Stage:
    name: str
    notebook: Path
    parameters: dict[str, Any]
    gates: list[Gate]
    needs: list[str]
    timeout: float | None = None

    def references(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for value in self.parameters.values():
            if isinstance(value, str):
                found += _REF.findall(value)
        return found


@dataclass
class Pipeline:
    name: str
    file: Path
    stages: list[Stage]
    """In the order they run."""
    experiment: str | None = None

    def table(self, max_rows: int = 50) -> Table:
        """One row a stage, in run order: its notebook, parameters, gates and needs."""
        rows = [
            [
                stage.name,
                file_link(stage.notebook),
                ", ".join(f"{k}={v}" for k, v in stage.parameters.items()),
                ", ".join(gate.text for gate in stage.gates),
                ", ".join(stage.needs),
            ]
            for stage in self.stages
        ]
        return Table(
            ["stage", "notebook", "parameters", "gates", "after"],
            rows,
            title=f"pipeline {self.name}: {len(self.stages)} stages ({self.file.name})",
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


@dataclass
class StageResult:
    stage: str
    notebook: str
    status: str
    """"passed", "failed" (the notebook), "gate failed", or "skipped"."""
    gates: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    output: str = ""
    run_id: str = ""
    error: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    name: str
    run_id: str
    status: str
    stages: list[StageResult]
    duration_s: float
    output_dir: Path

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def table(self, max_rows: int = 50) -> Table:
        rows = [
            [
                s.stage,
                s.status,
                ", ".join(s.gates),
                f"{s.duration_s:.1f} s" if s.duration_s else "",
                Id(s.run_id) if s.run_id else "",
                file_link(s.output) if s.output else "",
                s.error,
            ]
            for s in self.stages
        ]
        colours = {
            "passed": colour(GOOD),
            "failed": colour(BAD),
            "gate failed": colour(BAD),
            "skipped": colour(WARNING),
        }
        return Table(
            ["stage", "status", "gates", "duration", "MLflow run", "output", "error"],
            rows,
            title=f"pipeline {self.name}: {self.status} in {self.duration_s:.1f} s "
            f"(MLflow run {self.run_id})",
            max_rows=max_rows,
            style=lambda col, val: colours.get(val, "") if col == "status" else "",
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


# -- loading ------------------------------------------------------------------------------


def load(lab: Lab, file: str | Path) -> Pipeline:
    """Read and check a pipeline file; raises one UsageError line for the first problem."""
    path = Path(file).expanduser().resolve()
    if not path.is_file():
        raise NotFoundError(f"pipeline file {file} not found; check the path")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}; fix the file and retry") from None
    unknown = set(raw) - {"pipeline", "stage"}
    if unknown:
        raise UsageError(
            f"{path}: unknown table(s) {', '.join(sorted(unknown))}; a pipeline "
            "file has [pipeline] and [[stage]] tables"
        )
    head = raw.get("pipeline", {})
    if not isinstance(head, dict) or set(head) - _PIPELINE_KEYS:
        raise UsageError(f"{path}: [pipeline] takes only {', '.join(sorted(_PIPELINE_KEYS))}")
    name = str(head.get("name") or path.stem)
    stage_tables = raw.get("stage", [])
    if not isinstance(stage_tables, list) or not stage_tables:
        raise UsageError(f"{path}: no stages; add [[stage]] tables with name and notebook")
    stages: dict[str, Stage] = {}
    for index, table in enumerate(stage_tables):
        stage = _stage(lab, path, index, table)
        if stage.name in stages:
            raise UsageError(f"{path}: two stages are named '{stage.name}'; names must be unique")
        stages[stage.name] = stage
    for stage in stages.values():
        where = f"{path}: stage '{stage.name}'"
        for need in stage.needs:
            if need not in stages:
                raise UsageError(f"{where} needs unknown stage '{need}'{_close(need, stages)}")
        for target, reference in stage.references():
            if target not in stages:
                raise UsageError(
                    f"{where} refers to unknown stage '{target}' in "
                    f"${{{target}.{reference}}}{_close(target, stages)}"
                )
            if target not in stage.needs:
                stage.needs.append(target)
    order = _order(path, stages)
    experiment = head.get("experiment")
    return Pipeline(name, path, order, str(experiment) if experiment else None)


def _close(name: str, known: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f"; stages: {', '.join(known)}"


def _stage(lab: Lab, path: Path, index: int, table: Any) -> Stage:
    where = f"{path}: stage {index + 1}"
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a [[stage]] table")
    extra = set(table) - _STAGE_KEYS
    if extra:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(sorted(extra))}; a stage takes "
            f"{', '.join(sorted(_STAGE_KEYS))}"
        )
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"{where}: 'name' must be a word (letters, digits, - and _), got {name!r}")
    where = f"{path}: stage '{name}'"
    notebook = table.get("notebook")
    if not isinstance(notebook, str) or not notebook:
        raise UsageError(f"{where}: 'notebook' must be the path of a .ipynb")
    source = (path.parent / notebook).resolve()
    if not source.is_file():
        raise NotFoundError(f"{where}: notebook {notebook} not found (relative to {path.parent})")
    parameters = table.get("parameters", {})
    if not isinstance(parameters, dict):
        raise UsageError(f"{where}: 'parameters' must be a table of name = value")
    declared = lab.notebooks.parameters(source)
    fixed = {k: v for k, v in parameters.items() if not (isinstance(v, str) and _REF.search(v))}
    try:
        coerce_parameters(declared, fixed)
        for key in set(parameters) - set(fixed):
            coerce_parameters(declared, {key: None})  # the name must exist and not be secret
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    for key, value in parameters.items():
        if isinstance(value, str) and "${" in value and not _REF.search(value):
            raise UsageError(
                f"{where}: parameter {key} = '{value}' has a malformed reference; "
                "write ${stage.metrics.NAME}, ${stage.model.version}, ..."
            )
    gates_raw = table.get("gates", [])
    if not isinstance(gates_raw, list):
        raise UsageError(f"{where}: 'gates' must be a list of strings")
    gates = [Gate.parse(g, where) for g in gates_raw]
    needs = table.get("needs", [])
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise UsageError(f"{where}: 'needs' must be a list of stage names")
    timeout = table.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise UsageError(f"{where}: 'timeout' must be a positive number of seconds")
    return Stage(
        name,
        source,
        dict(parameters),
        gates,
        list(needs),
        float(timeout) if timeout is not None else None,
    )


def _order(path: Path, stages: dict[str, Stage]) -> list[Stage]:
    """Stages in file order, each after what it needs; a cycle is named and refused."""
    done: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = [*trail[trail.index(name) :], name]
            raise UsageError(
                f"{path}: stages form a cycle: {' -> '.join(cycle)}; remove one of "
                "these needs or references"
            )
        state[name] = "visiting"
        for need in stages[name].needs:
            visit(need, [*trail, name])
        state[name] = "done"
        done.append(name)

    for name in stages:
        visit(name, [])
    return [stages[name] for name in done]


# -- running ------------------------------------------------------------------------------


def record_of(run: NotebookRun) -> dict[str, Any]:
    """What gates and later stages can refer to in a stage's run."""
    record: dict[str, Any] = {}
    for key, value in run.metrics.items():
        record[f"metrics.{key}"] = value
        record.setdefault(key, value)  # a metric logged as "data.rows" answers data.rows
    record.update({f"params.{k}": v for k, v in run.params.items()})
    record.update({f"tags.{k}": v for k, v in run.tags.items()})
    commits = run.produced.get(lineage.DATA_COMMIT, [])
    if commits:
        record["data.commit"] = commits[-1]
    versions = run.produced.get(lineage.MODEL_VERSION, [])
    if versions:
        name, _, version = versions[-1].rpartition("/")
        record.update(
            {"model.name": name, "model.version": version, "model.uri": f"models:/{name}/{version}"}
        )
    record["run.id"] = run.run_id or ""
    record["run.output"] = str(run.output)
    return record


def _resolve(value: Any, records: Mapping[str, Mapping[str, Any]], stage: str) -> Any:
    if not isinstance(value, str) or not _REF.search(value):
        return value

    def lookup(match: re.Match[str]) -> Any:
        target, reference = match.group(1), match.group(2)
        record = records.get(target, {})
        if reference not in record:
            known = ", ".join(sorted(k for k in record if "." in k)[:12])
            raise UsageError(
                f"stage '{stage}' needs ${{{target}.{reference}}} but stage "
                f"'{target}' recorded no {reference} (it recorded: {known})"
            )
        return record[reference]

    whole = _REF.fullmatch(value.strip())
    if whole:
        return lookup(whole)  # keeps the type: a number stays a number
    return _REF.sub(lambda m: str(lookup(m)), value)


def run(lab: Lab, file: str | Path, output_dir: str | Path | None = None) -> PipelineResult:
    """Run the pipeline's stages in order; stops at the first failed stage or gate.

    Returns the result when every stage passed, else raises PipelineFailed carrying it
    (``error.fields["result"]``).
    """
    pipeline = load(lab, file)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    config = lab.config
    out_dir = (
        Path(output_dir).resolve()
        if output_dir
        else config.resolve(config.notebooks.output_dir) / f"{pipeline.name}-{stamp}"
    )
    tracker = JobRecorder(lab.tracking)
    tags = {
        JOB_KIND_TAG: "pipeline",
        PIPELINE_NAME_TAG: pipeline.name,
        PIPELINE_FILE_TAG: str(pipeline.file),
        **lineage.git_state(pipeline.file, only_path=True),
    }
    started = time.time()
    parent = tracker.start(pipeline.name, tags, {}, None, experiment=pipeline.experiment)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[StageResult] = []
    records: dict[str, dict[str, Any]] = {}
    produced = lineage.Collector()
    failure = ""
    try:
        for stage in pipeline.stages:
            if failure:
                results.append(StageResult(stage.name, stage.notebook.name, "skipped"))
                continue
            result = StageResult(stage.name, stage.notebook.name, "failed")
            results.append(result)
            began = time.time()
            try:
                values = {k: _resolve(v, records, stage.name) for k, v in stage.parameters.items()}
                values = lab.notebooks.check_parameters(stage.notebook, values)
                result.parameters = values
                done = lab.notebooks.execute(
                    stage.notebook,
                    values,
                    output=out_dir / f"{stage.name}.ipynb",
                    timeout=stage.timeout,
                    parent_run_id=parent,
                    run_name=f"{pipeline.name}/{stage.name}",
                    extra_tags={lineage.PIPELINE_RUN: parent, STAGE_TAG: stage.name},
                    raise_on_failure=False,
                    experiment=pipeline.experiment,
                )
            except (NotebookRunError, UsageError) as exc:
                result.error = str(exc)
                result.duration_s = time.time() - began
                failure = f"stage {stage.name} failed: {exc}"
                continue
            result.duration_s = time.time() - began
            result.output = str(done.output)
            result.run_id = done.run_id or ""
            for key, values_ in done.produced.items():
                for value in values_:
                    produced.add(key, value)
            if not done.ok:
                result.error = done.error
                failure = f"stage {stage.name} failed: {done.error}"
                continue
            record = record_of(done)
            records[stage.name] = record
            held = True
            for gate in stage.gates:
                ok, seen = gate.check(record)
                result.gates.append(f"{gate.text} [{seen}] {'ok' if ok else 'FAILED'}")
                if not ok and held:
                    held = False
                    failure = (
                        f"stage {stage.name}: gate {gate.text} failed ({gate.reference}: {seen})"
                    )
            result.status = "passed" if held else "gate failed"
    except BaseException as exc:
        tracker.finish(
            parent,
            None,
            "FAILED",
            {"mlops.job.status": "failed", "mlops.job.error": str(exc)[:250]},
        )
        raise
    status = "failed" if failure else "succeeded"
    summary = PipelineResult(pipeline.name, parent, status, results, time.time() - started, out_dir)
    summary_file = out_dir / "pipeline.json"
    summary_file.write_text(
        json.dumps(
            {
                "pipeline": pipeline.name,
                "file": str(pipeline.file),
                "status": status,
                "run_id": parent,
                "stages": [vars(r) for r in results],
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    finish = {"mlops.job.status": status, **produced.tags()}
    if failure:
        finish["mlops.job.error"] = failure[:250]
    tracker.finish(parent, summary_file, "FAILED" if failure else "FINISHED", finish, "pipeline")
    if failure:
        raise PipelineFailed(
            f"pipeline {pipeline.name} stopped: {failure} (outputs in "
            f"{out_dir}; MLflow run {parent})",
            result=summary,
        )
    return summary
