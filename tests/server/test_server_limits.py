"""Names, paths and bodies over the limits are the user's mistake over REST: a 4xx with one
line that quotes at most a short prefix, never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest


def body(response: Any) -> Any:
    return json.loads(response.body)


def one_line(response: Any) -> str:
    message = str(body(response)["error"]["message"])
    assert "\n" not in message and len(message) < 300, message
    return message


@pytest.fixture
def train(jp_root_dir: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("label = 'x'")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "mlops", "display_name": "MLOps", "language": "python"}
    path = jp_root_dir / "train.ipynb"
    nbformat.write(nb, path)
    return path


async def test_nul_byte_in_a_path_is_a_400(api: Any, train: Path) -> None:
    response = await api("notebooks/runs", "POST", body={"path": "train\x00.ipynb"})
    assert response.code == 400
    assert "contains a NUL byte" in one_line(response)


async def test_huge_path_is_a_413(api: Any, train: Path) -> None:
    response = await api("notebooks/runs", "POST", body={"path": "p" * 5_000_000})
    assert response.code == 413
    assert "is too long (5,000,000 characters, at most 4,096)" in one_line(response)


async def test_long_ref_is_a_4xx(api: Any) -> None:
    response = await api(f"data/log?ref={'b' * 300}")
    assert response.code == 413
    assert "ref 'bbbb" in one_line(response)


async def test_huge_body_is_a_413(api: Any, train: Path) -> None:
    payload = {"path": "train.ipynb", "parameters": {"label": "x" * 9_000_000}}
    response = await api("notebooks/runs", "POST", body=payload)
    assert response.code == 413
    assert "request body of" in one_line(response)


async def test_huge_parameter_is_a_413_and_not_listed(api: Any, train: Path) -> None:
    payload = {"path": "train.ipynb", "parameters": {"label": "x" * 2_000_000}}
    response = await api("notebooks/runs", "POST", body=payload)
    assert response.code == 413
    assert "parameter 'label' is 2,000,002 bytes" in one_line(response)
    assert body(await api("notebooks/runs")) == {"runs": []}


@pytest.mark.slow
async def test_a_fractional_timeout_runs(api: Any, train: Path, jp_root_dir: Path) -> None:
    import asyncio

    # The test server's Jupyter paths are private: run on ipykernel's own kernel.
    config = jp_root_dir / "mlops.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[notebooks]", '[notebooks]\nkernel = "python3"'), "utf-8")

    started = await api("notebooks/runs", "POST", body={"path": "train.ipynb", "timeout": 1.5})
    assert started.code == 202, started.body
    run_id = body(started)["id"]
    for _ in range(240):
        state = body(await api(f"notebooks/runs/{run_id}"))
        if state["state"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.5)
    assert state["state"] == "succeeded", state["error"]
