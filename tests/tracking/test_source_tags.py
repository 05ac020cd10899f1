"""MLflow's own source tags (the "Source" MLflow's UI shows) name the notebook a run came
from: under `mlops-lab run`, under plain `papermill`, in a Jupyter session; and name
nothing, rather than the kernel's launcher, when no one can tell which notebook it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from mlops_lab.lab import Lab

pytestmark = pytest.mark.slow

SOURCE = "mlflow.source.name"
KIND = "mlflow.source.type"

CELLS = (
    "import mlflow, mlops_lab\nlab = mlops_lab.connect()",
    "with lab.tracking.start_run('lab-run') as run:\n    pass",
    # a run opened with MLflow's own API, in the project's store
    "mlflow.set_tracking_uri(lab.tracking.uri)\n"
    "with mlflow.start_run(run_name='bare-run', experiment_id=lab.tracking.experiment_id()):\n"
    "    pass",
)


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "mlops", "language": "python", "display_name": "MLOps"},
        "language_info": {"name": "python"},
    }
    nb.cells = [nbformat.v4.new_code_cell("n = 1", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in CELLS]
    nbformat.write(nb, path)
    return path


def _runs(lab: Lab, *names: str) -> dict[str, dict[str, Any]]:
    """The tags of the latest run of each name, as MLflow's client returns them."""
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        (run,) = lab.tracking.client.search_runs(
            [lab.tracking.experiment_id()],
            filter_string=f"attributes.run_name = '{name}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        found[name] = dict(run.data.tags)
    return found


def _fresh_env(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "JPY_"))}
    env.pop("IPYNB_FILE", None)
    env["PWD"] = str(cwd)
    return env


def test_mlops_lab_run_names_the_notebook(project: Lab) -> None:
    source = _notebook(project.root / "job.ipynb")
    project.notebooks.run(source, output=project.root / "out" / "job.ipynb")
    tags = _runs(project, "lab-run", "bare-run")
    assert tags["lab-run"][SOURCE] == str(source)
    assert tags["lab-run"][KIND] == "NOTEBOOK"
    # MLflow's own Jupyter context finds the notebook the lab handed the kernel
    assert tags["bare-run"][SOURCE] == source.name
    assert tags["bare-run"][KIND] == "NOTEBOOK"


def test_plain_papermill_names_the_notebook(project: Lab) -> None:
    source = _notebook(project.root / "cron.ipynb")
    papermill = Path(sys.executable).with_name("papermill")
    subprocess.run(
        [str(papermill), "cron.ipynb", "cron.out.ipynb", "-k", "mlops", "--cwd", "."],
        cwd=project.root,
        env=_fresh_env(project.root),
        check=True,
        capture_output=True,
        timeout=300,
    )
    tags = _runs(project, "lab-run")["lab-run"]
    assert tags[SOURCE] == str(source)
    assert tags[KIND] == "NOTEBOOK"
    assert tags["mlops.notebook.path"] == str(source)


def test_kernel_of_unknown_notebook_records_no_launcher(project: Lab) -> None:
    from jupyter_client.manager import start_new_kernel

    def run_in_kernel(env: dict[str, str], name: str) -> None:
        manager, client = start_new_kernel(kernel_name="mlops", cwd=str(project.root), env=env)
        try:
            code = f"import mlops_lab\nwith mlops_lab.connect().tracking.start_run({name!r}):\n    pass"
            reply = client.execute_interactive(code, timeout=180)
            assert reply["content"]["status"] == "ok", reply["content"]
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)

    env = _fresh_env(project.root)
    run_in_kernel(env, "unknown")
    notebook = project.root / "session.ipynb"
    notebook.write_text("{}", encoding="utf-8")
    run_in_kernel({**env, "JPY_SESSION_NAME": "session.ipynb"}, "session")
    tags = _runs(project, "unknown", "session")
    assert SOURCE not in tags["unknown"], tags["unknown"]
    assert tags["session"][SOURCE] == str(notebook)
    assert tags["session"][KIND] == "NOTEBOOK"
