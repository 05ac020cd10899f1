"""`mlops-lab pipeline`: stages in order, gates on what each run recorded, values passed
forward, one MLflow parent run; a bad file is one line and creates nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlops_lab import resources
from mlops_lab.cli import main
from mlops_lab.errors import NotFoundError, UsageError
from mlops_lab.services.notebooks import pipelines

LOG = (
    "import mlops_lab\nlab = mlops_lab.connect()\n"
    "with lab.tracking.start_run('{name}') as run:\n"
    "    run.log_metrics({metrics})\n"
)


def write_pipeline(root: Path, text: str) -> Path:
    path = root / "pipe.toml"
    path.write_text(text)
    return path


@pytest.fixture
def stages(notebook: Any) -> None:
    notebook(
        "a.ipynb", "rows = 10", LOG.format(name="a", metrics="{'score': 0.9, 'data.rows': rows}")
    )
    notebook(
        "b.ipynb",
        "score = 0.0\nlabel = ''",
        "print('got', score, label)\n" + LOG.format(name="b", metrics="{'auc': score / 2}"),
    )
    notebook("c.ipynb", "x = 1", "print('c ran')")


BAD = [
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\nneeds=['b']\n[[stage]]\nname='b'\n"
        "notebook='b.ipynb'\nparameters={score='${a.metrics.score}'}\n",
        "stages form a cycle: a -> b -> a",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\nparameters={rows='${x.metrics.n}'}\n",
        "stage 'a' refers to unknown stage 'x' in ${x.metrics.n}",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\nneeds=['validat']\n[[stage]]\nname='validate'\n"
        "notebook='c.ipynb'\n",
        "stage 'a' needs unknown stage 'validat'; did you mean 'validate'?",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\ngates=['metrics.auc >> 1']\n",
        "malformed gate 'metrics.auc >> 1'",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\ngates=['metrics.auc >= high']\n",
        ">= needs a number",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\ngates=['auc > 1']\n",
        "gate 'auc > 1' refers to",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='nope.ipynb'\n",
        "notebook nope.ipynb not found",
        NotFoundError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\nparameters={rowz=1}\n",
        "a.ipynb has no parameter 'rowz'; did you mean 'rows'?",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\nparameters={rows='many'}\n",
        "parameter 'rows' of a.ipynb is int",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\nparameters={api_token='t'}\n",
        "parameter 'api_token' looks like a secret",
        UsageError,
    ),
    (
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\n[[stage]]\nname='a'\nnotebook='c.ipynb'\n",
        "two stages are named 'a'",
        UsageError,
    ),
    ("[[stage]]\nname='a'\nnotebook='a.ipynb'\nafter=['b']\n", "unknown key(s) after", UsageError),
    ("[pipeline]\nname='p'\n", "no stages", UsageError),
    ("[[stage]\nname='a'", "invalid TOML", UsageError),
]


@pytest.mark.parametrize(("text", "message", "kind"), BAD)
def test_bad_pipeline_file_is_one_line_and_creates_nothing(
    project: Any, stages: None, text: str, message: str, kind: type
) -> None:
    path = write_pipeline(project.root, text)
    result = CliRunner().invoke(main, ["pipeline", str(path)])
    assert result.exit_code == (2 if kind is UsageError else 1), result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not project.config.resolve(project.config.notebooks.output_dir).exists()
    assert not (project.root / ".mlops" / "mlflow.db").exists()
    with pytest.raises(kind):
        pipelines.load(project, path)


def test_missing_pipeline_file(project: Any) -> None:
    result = CliRunner().invoke(main, ["pipeline", "nope.toml"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: pipeline file nope.toml not found; check the path"


def test_shipped_pipeline_is_valid(project: Any) -> None:
    path = resources.notebooks_dir() / "pipeline.toml"
    loaded = pipelines.load(project, path)
    assert [s.name for s in loaded.stages] == ["validate", "train", "evaluate", "promote"]
    assert loaded.stages[1].needs == ["validate"]
    # Shown in a cell: one row a stage, not a list of tuples.
    shown = loaded._repr_html_()
    assert shown.count("<tr>") == 1 + 4 and "width:100%" in shown
    assert '<a href="' in shown and ">train.ipynb</a>" in shown
    assert "validate" in repr(loaded).splitlines()[3]
    result = CliRunner().invoke(main, ["pipeline", str(path), "--check"])
    assert result.exit_code == 0
    assert "validate -> train -> evaluate -> promote" in result.output


def test_order_follows_needs_and_references(project: Any, stages: None) -> None:
    path = write_pipeline(
        project.root,
        "[[stage]]\nname='last'\nnotebook='c.ipynb'\nneeds=['second']\n"
        "[[stage]]\nname='second'\nnotebook='b.ipynb'\nparameters={score='${first.metrics.score}'}\n"
        "[[stage]]\nname='first'\nnotebook='a.ipynb'\n",
    )
    assert [s.name for s in pipelines.load(project, path).stages] == ["first", "second", "last"]


@pytest.mark.slow
def test_gate_stops_the_pipeline_and_values_pass_forward(project: Any, stages: None) -> None:
    path = write_pipeline(
        project.root,
        "[pipeline]\nname='demo'\n"
        "[[stage]]\nname='a'\nnotebook='a.ipynb'\nparameters={rows=5}\n"
        "gates=['data.rows > 0', 'metrics.score >= 0.5']\n"
        "[[stage]]\nname='b'\nnotebook='b.ipynb'\n"
        "parameters={score='${a.metrics.score}', label='run ${a.run.id}'}\n"
        "gates=['metrics.auc >= 0.85']\n"
        "[[stage]]\nname='c'\nnotebook='c.ipynb'\nneeds=['b']\n",
    )
    out_dir = project.root / "out"
    result = CliRunner().invoke(main, ["pipeline", str(path), "--output-dir", str(out_dir)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(
        "error: pipeline demo stopped: stage b: gate metrics.auc >= 0.85 failed (metrics.auc: 0.45)"
    )
    table = "\n".join(lines[:-1])
    assert "data.rows > 0 [5] ok" in table and "metrics.auc >= 0.85 [0.45] FAILED" in table
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.ipynb", "b.ipynb", "pipeline.json"]
    summary = json.loads((out_dir / "pipeline.json").read_text())
    assert [(s["stage"], s["status"]) for s in summary["stages"]] == [
        ("a", "passed"),
        ("b", "gate failed"),
        ("c", "skipped"),
    ]
    a_run = summary["stages"][0]["run_id"]
    assert f"got 0.9 run {a_run}" in (out_dir / "b.ipynb").read_text()

    client = project.tracking.client
    parent = client.get_run(summary["run_id"])
    assert parent.info.status == "FAILED"
    assert parent.data.tags["mlops.job.kind"] == "pipeline"
    children = [client.get_run(s["run_id"]) for s in summary["stages"][:2]]
    for child, name in zip(children, ["a", "b"], strict=True):
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["mlops.pipeline.stage"] == name
    assert children[1].data.params == {"score": "0.9", "label": f"run {a_run}"}
    artifacts = [a.path for a in client.list_artifacts(parent.info.run_id, "pipeline")]
    assert artifacts == ["pipeline/pipeline.json"]


@pytest.mark.slow
def test_failing_stage_notebook_stops_the_pipeline(project: Any, notebook: Any) -> None:
    notebook("ok.ipynb", "n = 1", "print(n)")
    notebook("bad.ipynb", "n = 1", "raise KeyError('missing column')")
    path = write_pipeline(
        project.root,
        "[[stage]]\nname='bad'\nnotebook='bad.ipynb'\n[[stage]]\nname='ok'\nnotebook='ok.ipynb'\n"
        "needs=['bad']\n",
    )
    with pytest.raises(pipelines.PipelineFailed) as info:
        pipelines.run(project, path)
    message = str(info.value)
    assert "stage bad failed: bad.ipynb: cell 1 failed: KeyError: 'missing column'" in message
    result = info.value.fields["result"]
    assert [s.status for s in result.stages] == ["failed", "skipped"]
    assert Path(result.stages[0].output).is_file()
