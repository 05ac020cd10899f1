"""The panel's view of what runs in the project beyond this server's own jobs: notebook jobs
recorded only in MLflow (a schedule's pod ran them), executed notebooks written elsewhere
with --output, and the progress of long operations (data commits, feature materialization)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest

import mlops_lab
from mlops_lab.services import progress


def body(response: Any) -> Any:
    return json.loads(response.body)


def _configure(root: Path, section: str, line: str) -> None:
    config = root / "mlops.toml"
    text = config.read_text(encoding="utf-8")
    assert f"[{section}]" in text
    config.write_text(text.replace(f"[{section}]", f"[{section}]\n{line}", 1), "utf-8")


async def test_operations_show_running_ended_and_stopped_ones(api: Any, jp_root_dir: Path) -> None:
    assert body(await api("operations")) == {"operations": []}
    # a process that died mid-commit leaves its record "running": it reads as stopped
    died = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from mlops_lab.services.progress import Tracker
        Tracker(Path({str(jp_root_dir)!r}), "data commit", "commit big.parquet", 10, "MiB", None).advance(3)
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", died], check=True, timeout=60)
    with progress.track(jp_root_dir, "materialize", "materialize fraud_features", 4, "views") as t:
        t.advance(2, "materialize fraud_features (3/4)")
        running, stopped = body(await api("operations"))["operations"]
        assert running["state"] == "running"
        assert running["label"] == "materialize fraud_features (3/4)"
        assert (running["done"], running["total"], running["fraction"]) == (2, 4, 0.5)
        assert running["elapsed"] >= 0
        assert stopped["state"] == "stopped" and stopped["label"] == "commit big.parquet"
        assert (stopped["done"], stopped["unit"]) == (3, "MiB")
        assert "ended mid-way" in stopped["error"]
    finished = body(await api("operations"))["operations"][0]
    assert finished["state"] == "succeeded"
    assert (finished["done"], finished["fraction"]) == (4, 1.0)


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell("rows = 3")
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first, nbformat.v4.new_code_cell("print(rows)")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
async def test_jobs_written_elsewhere_or_run_by_a_schedule_are_listed(
    api: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(jp_root_dir, "notebooks", 'kernel = "python3"')
    _configure(jp_root_dir, "tracking", 'ui = "http://mlflow.example:5000"')
    source = _notebook(jp_root_dir / "nightly.ipynb")
    elsewhere = jp_root_dir / "reports" / "nightly-out.ipynb"
    # what a schedule's pod runs (`mlops-lab run ... --output`), here on this machine
    monkeypatch.setenv("MLOPS_SCHEDULE", "nightly-report")
    ran = mlops_lab.connect(jp_root_dir).notebooks.execute(
        source, {"rows": 5}, output=elsewhere, raise_on_failure=False
    )
    assert ran.status == "succeeded", ran.error

    # its executed notebook is outside mlops-runs/ and still listed, once (not again from MLflow)
    (job,) = body(await api("notebooks/jobs"))["jobs"]
    assert job["id"] == "nightly-out" and job["state"] == "succeeded"
    assert job["output"] == "reports/nightly-out.ipynb"
    assert (job["cells_done"], job["cells"]) == (3, 3)

    # in a pod the executed notebook stays there: the job comes from its MLflow run
    elsewhere.unlink()
    (job,) = body(await api("notebooks/jobs"))["jobs"]
    assert job["id"] == job["mlflow_run_id"] == ran.run_id
    assert job["schedule"] == "nightly-report"
    assert job["notebook"] == "nightly.ipynb"
    assert job["state"] == "succeeded"
    assert job["parameters"] == {"rows": "5"}
    assert job["started"] <= job["finished"]
    assert job["mlflow_url"] == f"http://mlflow.example:5000/#/runs/{ran.run_id}"
    assert job["output"] is None and "not on this machine" in job["output_note"]
    assert not job["cancellable"]
    cancel = await api(f"notebooks/jobs/{ran.run_id}/cancel", "POST")
    assert cancel.code == 404


def test_only_notebooks_outside_the_output_folder_are_noted(tmp_path: Path) -> None:
    from mlops_lab.services.notebooks import outputs

    lab = mlops_lab.connect(tmp_path)
    lab.init()
    config = lab.config
    outputs.remember(config, tmp_path / "mlops-runs" / "a-1.ipynb")
    assert outputs.recorded(config) == []
    first, second = tmp_path / "reports" / "a.ipynb", tmp_path / "b.ipynb"
    for path in (first, second, first):
        outputs.remember(config, path)
    assert outputs.recorded(config) == [first, second]  # newest first, each once
    for n in range(2 * outputs.KEEP + 1):
        outputs.remember(config, tmp_path / f"r{n}.ipynb")
    kept = outputs.recorded(config)
    # the index is cut back to the newest when it grows past twice what it keeps
    assert outputs.KEEP <= len(kept) <= 2 * outputs.KEEP
    assert kept[0] == tmp_path / f"r{2 * outputs.KEEP}.ipynb" and first not in kept
