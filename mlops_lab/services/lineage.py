"""`lab.lineage(target)`: walk the lineage thread of a model version or run, back to its
data commits, features and notebook, and forward to what used it."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.tracking.mlflow import RUN_ID_PATTERN
from mlops_lab.display import SECONDARY, Id, Table, colour
from mlops_lab.errors import UsageError
from mlops_lab.lineage import (
    CODE_HASH,
    DATA_COMMIT,
    DATA_PATHS,
    DATA_REPOSITORY,
    DEPLOY_REVISION,
    FEATURES_DATA_REF,
    FEATURES_SERVICE,
    FEATURES_VIEWS,
    NOTEBOOK_GIT_DIRTY,
    NOTEBOOK_GIT_SHA,
    NOTEBOOK_PATH,
    PIPELINE_RUN,
    RAY_JOB_ID,
    RUN_ID,
    decode,
)
from mlops_lab.render import CARD_WIDTH, arrow, card, details, esc, line
from mlops_lab.services import validation
from mlops_lab.services.models import parse_ref

if TYPE_CHECKING:
    from mlops_lab.lab import Lab


@dataclass
class Lineage:
    """Where a model version or run came from, and what used it (`lab.lineage(target)`).

    Plain data: ``to_dict()`` gives JSON-ready values. Each ``*_`` dict holds the lineage
    tags of that step, keyed by the short name of the tag.
    """

    target: str
    model: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    data: list[dict[str, Any]] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    used_by: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def rows(self) -> list[list[str]]:
        """(step, kind, id, detail) from the code back-end to the forward uses."""
        rows: list[list[str]] = []
        if self.code:
            detail = []
            if self.code.get("git_sha"):
                dirty = " (dirty)" if self.code.get("git_dirty") == "true" else ""
                detail.append(f"git {self.code['git_sha'][:12]}{dirty}")
            if self.code.get("code_hash"):
                detail.append(f"code sha256 {self.code['code_hash'][:12]}")
            rows.append(
                ["notebook", "code", self.code.get("path") or "(unknown)", ", ".join(detail)]
            )
        for item in self.data:
            about = ", ".join(item.get("paths", []))
            if item.get("message"):
                about += f" ({item['message']})"
            written_by = item.get("metadata", {}).get(NOTEBOOK_PATH)
            if written_by:
                about += f"; written by {written_by}"
            rows.append(["data", "commit", item["commit"], about])
        if self.features:
            views = ", ".join(self.features.get("views", []))
            service = self.features.get("service")
            ref = self.features.get("data_ref")
            text = (f"service {service}; " if service else "") + (f"data_ref {ref}" if ref else "")
            rows.append(["features", "feature views", views, text.strip("; ")])
        if self.training:
            rows.append(["training", "ray job", self.training.get("ray_job_id", ""), ""])
        if self.run:
            metrics = ", ".join(
                f"{k}={v:.4g}" for k, v in sorted(self.run.get("metrics", {}).items())
            )
            rows.append(
                [
                    "run",
                    self.run.get("status", ""),
                    self.run["id"],
                    f"{self.run.get('name', '')} {metrics}".strip(),
                ]
            )
        if self.model:
            aliases = ", ".join(f"@{a}" for a in self.model.get("aliases", []))
            rows.append(
                [
                    "model",
                    "version",
                    f"{self.model['name']}/{self.model['version']}",
                    aliases,
                ]
            )
        for use in self.used_by:
            rows.append(["used by", use["kind"], use["id"], use.get("detail", "")])
        return rows

    def table(self, max_rows: int = 50) -> Table:
        return Table(
            ["step", "kind", "id", "detail"],
            self.rows(),
            title=f"lineage of {self.target}",
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return graph_html(self)


def graph_html(lin: Lineage) -> str:
    """The lineage as a graph read left to right: what the run read (notebook, data commits,
    features), the run, the model versions made from it, the deployments serving them.
    Arrows join only these steps; runs that merely share the data or hang under the run
    are folded into ``<details>`` below."""
    # Graph cards fill their column; the columns shrink alike (down to 140 px) so the
    # graph fits the output's width, and it scrolls beyond that.
    fitted = functools.partial(card, width=None)
    inputs: list[str] = []
    if lin.code:
        path = lin.code.get("path") or ""
        code_lines = [line(esc(path.rsplit("/", 1)[-1] or "(unknown)"), path)]
        if lin.code.get("git_sha"):
            dirty = " (dirty)" if lin.code.get("git_dirty") == "true" else ""
            code_lines.append(line(f"git {Id(lin.code['git_sha']).html()}{esc(dirty)}"))
        if lin.code.get("code_hash"):
            code_lines.append(line(f"code {Id(lin.code['code_hash']).html()}"))
        inputs.append(fitted("notebook", code_lines, kind="code"))
    for item in lin.data:
        paths = ", ".join(item.get("paths", []))
        data_lines = [line(Id(item["commit"]).html()), line(esc(paths), paths)]
        if item.get("message"):
            data_lines.append(line(esc(item["message"]), item["message"], colour(SECONDARY)))
        written_by = item.get("metadata", {}).get(NOTEBOOK_PATH)
        if written_by:
            name = written_by.rsplit("/", 1)[-1]
            data_lines.append(line(f"by {esc(name)}", written_by, colour(SECONDARY)))
        inputs.append(fitted("data", data_lines, kind="commit"))
    if lin.features:
        views = ", ".join(lin.features.get("views", []))
        feature_lines = [line(esc(views), views)]
        if lin.features.get("service"):
            feature_lines.append(line(f"service {esc(lin.features['service'])}"))
        if lin.features.get("data_ref"):
            feature_lines.append(line(f"data {Id(lin.features['data_ref']).html()}"))
        inputs.append(fitted("features", feature_lines, kind="views"))
    middle: list[str] = []
    job = lin.training.get("ray_job_id", "")
    if lin.run:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(lin.run.get("metrics", {}).items()))
        run_lines = [line(Id(lin.run["id"]).html())]
        if lin.run.get("name"):
            run_lines.append(line(esc(lin.run["name"]), lin.run["name"]))
        if metrics:
            run_lines.append(line(esc(metrics), metrics, colour(SECONDARY)))
        if job:
            run_lines.append(line(f"ray job {Id(job, keep=16).html()}"))
        middle.append(fitted("run", run_lines, kind=lin.run.get("status", "").lower()))
    elif job:
        middle.append(fitted("training", [line(Id(job, keep=16).html())], kind="ray job"))
    models: list[str] = []
    if lin.model:
        aliases = " ".join(f"@{a}" for a in lin.model.get("aliases", []))
        ref = f"{lin.model['name']}/{lin.model['version']}"
        models.append(fitted("model", [line(f"<code>{esc(ref)}</code>", ref), line(esc(aliases))]))
    checks: list[str] = []
    deployments: list[str] = []
    folded: dict[str, list[dict[str, Any]]] = {}
    for use in lin.used_by:
        if use["kind"] == "model version":
            models.append(
                fitted(
                    "model",
                    [
                        line(f"<code>{esc(use['id'])}</code>", use["id"]),
                        line(esc(use.get("detail", ""))),
                    ],
                )
            )
        elif use["kind"] == "validation":
            detail = use.get("detail", "")
            run_line = line(f"run {Id(use['id']).html()}") if use.get("id") else ""
            checks.append(fitted("validation", [line(esc(detail), detail), run_line], kind="gate"))
        elif use["kind"] == "deployment":
            detail = use.get("detail", "")
            deployments.append(
                fitted(
                    "deployment", [line(f"revision {esc(use['id'])}"), line(esc(detail), detail)]
                )
            )
        else:
            folded.setdefault(use["kind"], []).append(use)
    columns = [
        '<div class="mlops-column" style="display:flex;flex-direction:column;gap:4px;'
        f'flex:0 1 {CARD_WIDTH}px;min-width:140px">' + "".join(cards) + "</div>"
        for cards in (inputs, middle, models, checks, deployments)
        if cards
    ]
    graph = (
        '<div class="mlops-graph" style="display:flex;align-items:center;gap:6px;'
        f'overflow-x:auto;padding:2px">{arrow().join(columns)}</div>'
    )
    sections = []
    for kind, uses in folded.items():
        runs = [
            card(
                "run",
                [line(Id(u["id"]).html()), line(esc(u.get("detail", "")), u.get("detail", ""))],
            )
            for u in uses
        ]
        what = "run" if len(uses) == 1 else "runs"
        label = (
            f"used by {len(uses)} {what} on the same data"
            if kind == "run on same data"
            else f"{len(uses)} {kind}{'' if len(uses) == 1 else 's'}"
        )
        sections.append(
            details(
                label,
                '<div style="display:flex;flex-wrap:wrap;gap:4px;padding:4px 0">'
                + "".join(runs)
                + "</div>",
            )
        )
    return (
        f'<div class="mlops-lineage"><strong>lineage of {esc(lin.target)}</strong>'
        f"{graph}{''.join(sections)}</div>"
    )


def _short(tags: dict[str, str], key: str) -> str | None:
    value = tags.get(key)
    return value if value else None


class LineageService:
    """Walks the lineage thread through the tracking store and the data store."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def walk(self, target: str) -> Lineage:
        """Build the :class:`Lineage` of a model reference or run id (see ``Lab.lineage``)."""
        return walk(self.lab, target)


def walk(lab: Lab, target: str) -> Lineage:
    """Build the :class:`Lineage` of a model reference or run id (see ``Lab.lineage``)."""
    target = (target or "").strip()
    if not target:
        raise UsageError("lineage needs a target: a model NAME@ALIAS or NAME/VERSION, or a run id")
    result = Lineage(target=target)
    tags: dict[str, str] = {}
    client = lab.tracking.client
    run_id: str | None
    if RUN_ID_PATTERN.match(target):
        run_id = target
    else:
        parse_ref(target)
        version = lab.models.get(target)
        result.model = {
            "name": version.name,
            "version": version.version,
            "aliases": list(version.aliases),
            "source": version.source,
            "created": version.created.isoformat() if version.created else None,
        }
        tags.update(version.lineage)
        run_id = version.run_id or tags.get(RUN_ID)
    if run_id:
        run = lab.tracking.mlflow_run(run_id)
        run_tags = dict(run.data.tags)
        tags = {**{k: v for k, v in run_tags.items() if k.startswith("mlops.")}, **tags}
        result.run = {
            "id": run_id,
            "name": run.info.run_name or "",
            "status": run.info.status,
            "experiment_id": run.info.experiment_id,
            "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
            "parent": run_tags.get("mlflow.parentRunId"),
        }
    commits = decode(tags.get(DATA_COMMIT))
    paths = decode(tags.get(DATA_PATHS))
    result.data = [
        {
            "commit": c,
            "paths": paths,
            "repository": tags.get(DATA_REPOSITORY, ""),
            **_commit_details(lab, c),
        }
        for c in commits
    ]
    views = decode(tags.get(FEATURES_VIEWS))
    if views or tags.get(FEATURES_SERVICE):
        result.features = {
            "views": views,
            "service": tags.get(FEATURES_SERVICE),
            "data_ref": tags.get(FEATURES_DATA_REF),
        }
    result.code = {
        k: v
        for k, v in {
            "path": _short(tags, NOTEBOOK_PATH),
            "git_sha": _short(tags, NOTEBOOK_GIT_SHA),
            "git_dirty": _short(tags, NOTEBOOK_GIT_DIRTY),
            "code_hash": _short(tags, CODE_HASH),
            "pipeline_run": _short(tags, PIPELINE_RUN),
        }.items()
        if v
    }
    if tags.get(RAY_JOB_ID):
        result.training = {"ray_job_id": tags[RAY_JOB_ID]}
    if run_id:
        used = _forward(lab, client, run_id, commits)
        if result.model is not None:
            itself = f"{result.model['name']}/{result.model['version']}"
            used = [u for u in used if not (u["kind"] == "model version" and u["id"] == itself)]
        result.used_by = used
    elif tags.get(DEPLOY_REVISION) and result.model is not None:
        itself = f"{result.model['name']}/{result.model['version']}"
        result.used_by = [
            {"kind": "deployment", "id": tags[DEPLOY_REVISION], "detail": f"serves {itself}"}
        ]
    if result.model is not None and tags.get(validation.VERDICT):
        result.used_by.insert(0, _validation_step(tags))
    return result


def _validation_step(tags: dict[str, str]) -> dict[str, Any]:
    """The gate's evaluation run of a model version, with its verdict and holdout commit."""
    detail = f"{tags[validation.VERDICT]}: {tags.get(validation.SUMMARY, '')}".rstrip(": ")
    if tags.get(validation.DATA_COMMIT):
        detail += f" (holdout {tags[validation.DATA_COMMIT][:12]})"
    return {"kind": "validation", "id": tags.get(validation.RUN, ""), "detail": detail}


def _commit_details(lab: Lab, commit: str) -> dict[str, Any]:
    """Message, committer and the lineage metadata (e.g. the notebook that wrote it) of a
    data commit, when the data store still knows it."""
    try:
        info = lab.data.get_commit(commit)
    except Exception:
        return {}
    return {
        "message": info.message,
        "committer": info.committer,
        "metadata": {k: v for k, v in dict(info.metadata).items() if k.startswith("mlops.")},
    }


def _forward(lab: Lab, client: Any, run_id: str, commits: list[str]) -> list[dict[str, Any]]:
    """What used this run: model versions registered from it (with aliases and
    deployments), child runs, and other runs that read the same data commits."""
    used: list[dict[str, Any]] = []
    try:
        versions = list(client.search_model_versions(f"run_id = '{run_id}'"))
    except Exception:
        versions = []
    aliases_of: dict[str, dict[str, list[str]]] = {}
    for version in sorted(versions, key=lambda v: (v.name, int(v.version))):
        if version.name not in aliases_of:
            try:
                model = client.get_registered_model(version.name)
                mapping: dict[str, list[str]] = {}
                for alias, number in (model.aliases or {}).items():
                    mapping.setdefault(str(number), []).append(alias)
                aliases_of[version.name] = mapping
            except Exception:
                aliases_of[version.name] = {}
        aliases = sorted(aliases_of[version.name].get(str(version.version), []))
        detail = " ".join(f"@{a}" for a in aliases)
        deploy = (version.tags or {}).get(DEPLOY_REVISION)
        used.append(
            {"kind": "model version", "id": f"{version.name}/{version.version}", "detail": detail}
        )
        if deploy:
            used.append(
                {
                    "kind": "deployment",
                    "id": deploy,
                    "detail": f"serves {version.name}/{version.version}",
                }
            )
    try:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
        children = client.search_runs(
            experiment_ids,
            filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'",
            max_results=20,
        )
        used += [
            {"kind": "child run", "id": r.info.run_id, "detail": r.info.run_name or ""}
            for r in children
        ]
        for commit in commits[:5]:
            others = client.search_runs(
                experiment_ids,
                filter_string=f"tags.`{DATA_COMMIT}` LIKE '%{commit}%'",
                max_results=20,
            )
            used += [
                {
                    "kind": "run on same data",
                    "id": r.info.run_id,
                    "detail": f"{r.info.run_name or ''} reads {commit[:12]}".strip(),
                }
                for r in others
                if r.info.run_id != run_id
            ]
    except Exception:
        pass
    return used
