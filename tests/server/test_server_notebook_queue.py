"""Panel "Run as job…" runs that have not run a cell yet (waiting for a worker, or for their
kernel) cancel from the panel: a queued one never starts, a starting one stops before its
first cell."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest


def body(response: Any) -> Any:
    return json.loads(response.body)


@pytest.fixture
def jp_server_config(jp_server_config: Any) -> Any:
    jp_server_config["MLOpsExtension"]["max_notebook_runs"] = 1  # the second run queues
    return jp_server_config


@pytest.mark.slow
async def test_runs_waiting_for_a_worker_or_a_kernel_cancel(api: Any, jp_root_dir: Path) -> None:
    config = jp_root_dir / "mlops.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[notebooks]", '[notebooks]\nkernel = "python3"', 1), "utf-8")
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("pause = 300")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell("import time\ntime.sleep(pause)")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, jp_root_dir / "wait.ipynb")

    started = [
        body(await api("notebooks/runs", "POST", body={"path": "wait.ipynb", "parameters": {}}))
        for _ in range(2)
    ]
    first, second = (run["id"] for run in started)
    listed = {j["id"]: j for j in body(await api("notebooks/jobs"))["jobs"]}
    assert listed[second]["state"] == "queued" and listed[second]["cancellable"]

    cancelled = await api(f"notebooks/jobs/{second}/cancel", "POST")
    assert cancelled.code == 200, cancelled.body
    assert "it had not started" in body(cancelled)["message"]
    # the first one's kernel may still be starting: cancelled by its run id all the same
    stopping = await api(f"notebooks/jobs/{first}/cancel", "POST")
    assert stopping.code == 200, stopping.body

    for _ in range(240):
        runs = {r["id"]: r for r in body(await api("notebooks/runs"))["runs"]}
        if runs[first]["finished"] is not None:
            break
        await asyncio.sleep(0.5)
    assert runs[first]["state"] == "cancelled", runs[first]
    assert runs[second]["state"] == "cancelled"
    executed = list((jp_root_dir / "mlops-runs").glob("wait-*.ipynb"))
    assert len(executed) == 1  # the queued run never wrote one
    again = await api(f"notebooks/jobs/{second}/cancel", "POST")
    assert again.code == 404
