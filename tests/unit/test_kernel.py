"""The "Python 3 (MLOps)" kernel is installed and loads the magics at start."""

from __future__ import annotations

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel


def test_kernelspec_is_installed() -> None:
    spec = KernelSpecManager().get_kernel_spec("mlops")
    assert spec.display_name == "Python 3 (MLOps)"
    assert "--ext=mlops_lab" in spec.argv


@pytest.mark.slow
def test_kernel_has_mlops_magic_without_load_ext() -> None:
    outputs: list[dict] = []
    manager, client = start_new_kernel(kernel_name="mlops")
    try:
        reply = client.execute_interactive(
            "print(get_ipython().find_line_magic('mlops') is not None)",
            timeout=60,
            output_hook=lambda msg: outputs.append(msg),
        )
        assert reply["content"]["status"] == "ok"
        texts = [m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream"]
        assert "".join(texts).strip() == "True"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
