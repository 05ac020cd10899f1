"""`mlops-lab run`, `lab.notebooks.run` and `%mlops run`: papermill on the MLOps kernel as a
tracked job with lineage; every bad input is one line and creates nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner

from mlops_lab import lineage
from mlops_lab.cli import main
from mlops_lab.errors import NotFoundError, UsageError
from mlops_lab.services.notebooks import NotebookRunError

pytestmark = pytest.mark.slow

PARAMS = "rows: int = 10  # how many rows\nrate = 0.5\nlabel = 'a'\nflags = [1, 2]\nverbose = False"


def runs_of(lab: Any) -> list[Any]:
    client = lab.tracking.client
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids)) if ids else []


def test_run_records_lineage_and_keeps_the_output(project: Any, notebook: Any) -> None:
    source = notebook(
        "job.ipynb",
        PARAMS,
        "import os\nprint('path', os.environ['MLOPS_NOTEBOOK_PATH'], rows, rate, label)",
        "import mlops_lab\nlab = mlops_lab.connect()\n"
        "with lab.tracking.start_run('inner') as run:\n"
        "    run.log_metrics({'score': rows * rate})\n"
        "    lab.data.write_table(__import__('pandas').DataFrame({'x': [1, 2]}), 't.csv')\n"
        "    commit = lab.data.commit(message='two rows')\n"
        "print('commit', commit)",
    )
    result = project.notebooks.execute(source, {"rows": 4, "label": "b"})
    assert result.ok and result.output.is_file()
    out = nbformat.read(result.output, as_version=4)
    text = json.dumps([c.get("outputs") for c in out.cells])
    assert f"path {source}" in text and "4 0.5 b" in text
    commit = text.split("commit ")[1].split("\\n")[0]

    client = project.tracking.client
    job = client.get_run(result.run_id)
    assert job.info.status == "FINISHED"
    assert job.data.params == {"rows": "4", "label": "b"}
    tags = job.data.tags
    assert tags[lineage.NOTEBOOK_PATH] == str(source)
    assert tags["mlops.job.status"] == "succeeded"
    (inner,) = [r for r in runs_of(project) if r.info.run_name == "inner"]
    assert tags[lineage.RUN_ID] == inner.info.run_id
    assert tags[lineage.DATA_COMMIT] == commit
    assert result.metrics["score"] == 2.0
    artifacts = [a.path for a in client.list_artifacts(result.run_id, "notebook")]
    assert artifacts == [f"notebook/{result.output.name}"]


def test_run_returns_the_output_path(project: Any, notebook: Any, tmp_path: Path) -> None:
    source = notebook("plain.ipynb", "n = 1", "print(n * 2)")
    out = project.notebooks.run(source, {"n": 21}, output=tmp_path / "o.ipynb")
    assert out == tmp_path / "o.ipynb"
    assert "42" in out.read_text()


def test_cli_run_with_parameters_file_and_overrides(project: Any, notebook: Any) -> None:
    source = notebook("cli.ipynb", PARAMS, "print(repr((rows, rate, label, flags, verbose)))")
    (project.root / "p.yaml").write_text("rows: 7\nflags: [3]\nlabel: from-file\n")
    out = project.root / "cli.out.ipynb"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(source),
            "-f",
            "p.yaml",
            "-p",
            "label",
            "cli",
            "-p",
            "verbose",
            "true",
            "-p",
            "rate",
            "2",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"executed notebook {out}" in result.output
    assert "(7, 2.0, 'cli', [3], True)" in out.read_text()


def test_params_lists_types(project: Any, notebook: Any) -> None:
    source = notebook("p.ipynb", PARAMS, "pass")
    result = CliRunner().invoke(main, ["params", str(source)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "parameters of p.ipynb"
    rows = {line.split()[0]: line for line in lines[3:]}
    assert rows["rows"].split()[1] == "int" and "how many rows" in rows["rows"]
    assert "float (from default)" in rows["rate"]
    assert "list (from default)" in rows["flags"]
    assert "bool (from default)" in rows["verbose"]


@pytest.mark.parametrize(
    ("argv", "message", "kind"),
    [
        (["missing.ipynb"], "notebook missing.ipynb not found; check the path", NotFoundError),
        (
            ["job.ipynb", "-p", "rowz", "1"],
            "job.ipynb has no parameter 'rowz'; did you mean 'rows'?",
            UsageError,
        ),
        (
            ["job.ipynb", "-p", "rows", "ten"],
            "parameter 'rows' of job.ipynb is int (default 10) "
            "but got 'ten'; pass a value of type int",
            UsageError,
        ),
        (
            ["job.ipynb", "-p", "verbose", "maybe"],
            "parameter 'verbose' of job.ipynb is bool",
            UsageError,
        ),
        (
            ["job.ipynb", "-p", "api_key", "s3cr3t"],
            "parameter 'api_key' looks like a secret",
            UsageError,
        ),
        (["bare.ipynb"], "has no cell tagged 'parameters'", UsageError),
        (["job.ipynb", "--timeout", "0"], "--timeout must be a positive number", UsageError),
        (["job.ipynb", "-f", "nope.yaml"], "parameters file nope.yaml not found", NotFoundError),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(
    project: Any, notebook: Any, argv: list[str], message: str, kind: type
) -> None:
    notebook("job.ipynb", PARAMS, "print(rows)")
    notebook("bare.ipynb", None, "print(1)")
    result = CliRunner().invoke(main, ["run", *argv])
    assert result.exit_code == (2 if kind is UsageError else 1), result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "s3cr3t" not in result.output
    runs_dir = project.config.resolve(project.config.notebooks.output_dir)
    assert not runs_dir.exists() or not list(runs_dir.iterdir())
    assert not (project.root / ".mlops" / "mlflow.db").exists() or runs_of(project) == []


def test_python_api_checks_types(project: Any, notebook: Any) -> None:
    source = notebook("typed.ipynb", PARAMS, "pass")
    notebooks = project.notebooks
    assert notebooks.check_parameters(source, {"rate": 1, "rows": 3}) == {"rate": 1.0, "rows": 3}
    with pytest.raises(UsageError, match=r"parameter 'rows' of typed\.ipynb is int"):
        notebooks.check_parameters(source, {"rows": 1.5})
    with pytest.raises(UsageError, match="is bool"):
        notebooks.check_parameters(source, {"verbose": 1})
    with pytest.raises(UsageError, match="did you mean 'label'"):
        notebooks.run(source, {"lable": "x"})


def test_magic_run_and_params(ipython: Any, project: Any, notebook: Any) -> None:
    source = notebook("m.ipynb", "n = 1", "print('n is', n)")
    table = ipython.run_line_magic("mlops", f"params {source}")
    assert [r[0] for r in table.rows] == ["n"]
    result = ipython.run_line_magic("mlops", f"run {source} -p n 5")
    assert result.ok and "n is 5" in result.output.read_text()
    assert "<table" in result._repr_html_()


def test_failed_cell_cli_exit_and_output(project: Any, notebook: Any) -> None:
    source = notebook(
        "boom.ipynb", "n = 1", "print('before')", "raise ValueError(f'bad {n}')", "print('never')"
    )
    out = project.root / "boom.out.ipynb"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlops-lab"), "run", str(source), "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=120,
    )
    assert done.returncode == 1
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [
        f"error: boom.ipynb: cell 2 failed: ValueError: bad 1 (executed notebook kept at {out}; "
        f"MLflow run {error_lines[0].rsplit(' ', 1)[-1]}"
    ]
    nb = nbformat.read(out, as_version=4)
    assert any("before" in json.dumps(c.get("outputs", [])) for c in nb.cells)
    assert any("bad 1" in json.dumps(c.get("outputs", [])) for c in nb.cells)
    assert not any("never" in json.dumps(c.get("outputs", [])) for c in nb.cells)
    # the CLI records in a process of its own: the failed job is still a failed run
    run_id = error_lines[0].rsplit(" ", 1)[-1].rstrip(")")
    client = project.tracking.client
    assert client.get_run(run_id).info.status == "FAILED"
    assert client.get_run(run_id).data.tags["mlops.job.failed_cell"] == "2"
    assert [a.path for a in client.list_artifacts(run_id, "notebook")] == [
        "notebook/boom.out.ipynb"
    ]


def test_failure_raises_with_fields(project: Any, notebook: Any) -> None:
    source = notebook("f.ipynb", "n = 1", "1/0")
    with pytest.raises(NotebookRunError) as info:
        project.notebooks.run(source)
    error = info.value
    assert error.fields["cell"] == 1
    assert Path(error.fields["output"]).is_file()
    run = project.tracking.client.get_run(error.fields["run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["mlops.job.failed_cell"] == "1"
    assert "ZeroDivisionError" in run.data.tags["mlops.job.error"]


def test_kernel_that_dies_at_start_is_one_line(
    project: Any, notebook: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "jupyter" / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python", "-c", "import sys; sys.exit(3)", "{connection_file}"],
                "display_name": "broken",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MLOPS_NOTEBOOKS_KERNEL", "broken")
    source = notebook("k.ipynb", "n = 1", "print(n)")
    result = CliRunner().invoke(main, ["run", str(source), "--output", str(tmp_path / "k.ipynb")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "error: k.ipynb: the notebook job could not run: RuntimeError: Kernel died before "
        "replying to kernel_info"
    )
    assert not (tmp_path / "k.ipynb").exists()  # no cell ran: no output notebook
    (job,) = runs_of(project)
    assert job.info.status == "KILLED"


def test_missing_kernel_is_a_config_error(
    project: Any, notebook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_NOTEBOOKS_KERNEL", "no-such-kernel")
    source = notebook("k.ipynb", "n = 1", "print(n)")
    result = CliRunner().invoke(main, ["run", str(source)])
    assert result.exit_code == 1
    assert result.output.startswith("error: Jupyter kernel 'no-such-kernel' is not installed")
