"""Notebook jobs in the panel, however they were started: listed from their executed
notebooks with cell progress, cancelled from the panel, and opened by Jupyter itself."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
from pathlib import Path
from typing import Any

import nbformat
import pytest

import mlops_lab
from mlops_lab.server.handlers import ANSI


def body(response: Any) -> Any:
    return json.loads(response.body)


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell("label = 'x'")
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _use_kernel(root: Path, output_dir: str | None = None) -> None:
    # the test server's Jupyter paths are private: ipykernel's own kernel runs the jobs
    config = root / "mlops.toml"
    extra = '\nkernel = "python3"' + (f'\noutput_dir = "{output_dir}"' if output_dir else "")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[notebooks]", "[notebooks]" + extra), "utf-8")


async def _until(api: Any, check: Any, seconds: float = 120) -> dict[str, Any]:
    listed: dict[str, Any] = {}
    for _ in range(int(seconds / 0.5)):
        listed = body(await api("notebooks/jobs"))
        if check(listed["jobs"]):
            return listed
        await asyncio.sleep(0.5)
    raise AssertionError(f"not reached in {seconds} s: {listed}")


@pytest.mark.slow
async def test_a_job_started_outside_the_server_shows_progress_cancels_and_opens(
    api: Any, jp_root_dir: Path, jp_fetch: Any
) -> None:
    _use_kernel(jp_root_dir)
    source = _notebook(
        jp_root_dir / "slow.ipynb",
        "print('first')",
        "import time\ntime.sleep(300)",
        "print('never')",
    )
    lab = mlops_lab.connect(jp_root_dir)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # as `%mlops run` or `mlops-lab run` would: in another thread, not through the server
        running = pool.submit(lab.notebooks.execute, source, raise_on_failure=False)
        # the sleep is the last cell but one (papermill injects a cell only with parameters)
        sleeping = lambda jobs: jobs and jobs[0].get("running_cell") == jobs[0]["cells"] - 1  # noqa: E731
        listed = await _until(api, sleeping)
        job = listed["jobs"][0]
        assert listed["folder"] == "mlops-runs"
        assert job["notebook"] == "slow.ipynb"
        assert job["state"] == "running" and job["cancellable"]
        # every cell before the sleep is done
        assert job["cells_done"] == job["cells"] - 2 >= 2
        assert job["output"] == f"mlops-runs/{job['id']}.ipynb"

        cancelled = await api(f"notebooks/jobs/{job['id']}/cancel", "POST")
        assert cancelled.code == 200, cancelled.body
        assert "interrupted" in body(cancelled)["message"]
        result = await asyncio.wrap_future(running)
    assert result.status == "failed"
    assert "KeyboardInterrupt" in result.error
    listed = await _until(api, lambda jobs: jobs[0]["state"] == "cancelled", 30)
    assert not listed["jobs"][0]["cancellable"]
    again = await api(f"notebooks/jobs/{job['id']}/cancel", "POST")
    assert again.code == 400
    assert "is cancelled, not running" in body(again)["error"]["message"]

    # the executed notebook is one Jupyter serves: the panel's "open" and the result's link work
    opened = await jp_fetch("api", "contents", *job["output"].split("/"))
    assert opened.code == 200
    cells = body(opened)["content"]["cells"]
    assert any("first" in str(c.get("outputs")) for c in cells)


async def test_a_hidden_output_folder_says_why_it_cannot_open(api: Any, jp_root_dir: Path) -> None:
    _use_kernel(jp_root_dir, ".mlops/runs")
    folder = jp_root_dir / ".mlops" / "runs"
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("2")]
    nb.cells[0].metadata["papermill"] = {"status": "completed"}
    nb.cells[1].metadata["papermill"] = {"status": "pending"}
    nb.metadata["papermill"] = {
        "input_path": str(jp_root_dir / "gone.ipynb"),
        "start_time": "2026-11-30T10:00:00",
        "end_time": None,
        "parameters": {"rows": 3},
    }
    nb.metadata["mlops"] = {"kernel_pid": 2**22 + 7, "host": socket.gethostname()}
    nbformat.write(nb, folder / "gone-20261130T100000000.ipynb")
    (listed,) = body(await api("notebooks/jobs"))["jobs"]
    # its process is gone and it never finished: stopped, not running forever
    assert listed["state"] == "stopped"
    assert (listed["cells_done"], listed["cells"]) == (1, 2)
    assert listed["parameters"] == {"rows": 3}
    assert listed["output"] is None
    assert "hidden folder, which Jupyter does not serve" in listed["output_note"]


def test_job_logs_lose_their_terminal_codes() -> None:
    raw = (
        "\x1b[36m(TrainWorker pid=81)\x1b[0m epoch 3 loss=0.41\r\n"
        "\x1b]8;;http://127.0.0.1:8265\x1b\\dashboard\x1b]8;;\x1b\\ \x1b[1m\x1b[32mdone\x1b[0m"
    )
    assert ANSI.sub("", raw) == "(TrainWorker pid=81) epoch 3 loss=0.41\r\ndashboard done"
