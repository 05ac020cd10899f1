"""In a real Jupyter kernel: a run opened in one cell collects the data read in the next,
and is stamped with the notebook path jupyter-server gives the kernel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_lab import lineage
from mlops_lab.lab import Lab


@pytest.mark.slow
def test_run_across_kernel_cells(lab: Lab, tmp_path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    lab.data.write_table(pd.DataFrame({"k": [1]}), "k/k.parquet")
    commit = lab.data.commit(message="kernel")
    notebook = lab.root / "kernel.ipynb"
    notebook.write_text("{}", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "JPY_"))}
    env["JPY_SESSION_NAME"] = "kernel.ipynb"  # relative, as jupyter-server sets it
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(lab.root), env=env)
    outputs: list[str] = []

    def cell(code: str) -> None:
        reply = client.execute_interactive(
            code,
            timeout=120,
            output_hook=lambda m: outputs.append(str(m["content"].get("text", ""))),
        )
        assert reply["content"]["status"] == "ok", (code, reply["content"], outputs)

    try:
        cell(f"import mlops_lab\nlab = mlops_lab.connect({str(lab.root)!r})")
        cell("run = lab.tracking.start_run('across cells')")
        cell(f"frame = lab.data.read_table('k/k.parquet', {commit!r})")
        cell("run.end()\nprint('RUN_ID=' + run.id)")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    run_id = "".join(outputs).split("RUN_ID=")[1].split()[0]
    tags: dict[str, Any] = lab.tracking.client.get_run(run_id).data.tags
    assert tags[lineage.DATA_COMMIT] == commit
    assert tags[lineage.DATA_PATHS] == "k/k.parquet"
    assert tags[lineage.NOTEBOOK_PATH] == str(notebook)
    assert len(tags[lineage.CODE_HASH]) == 64
