"""What `pip install .` and mybinder rely on: the prebuilt labextension and the server
extension's enablement shipped as shared data, and a binder/ that installs this repository
and opens the quickstart with the MLOps kernel."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_wheel_ships_the_labextension_and_enables_the_server_extension() -> None:
    shared = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared["mlops_lab/labextension"] == "share/jupyter/labextensions/mlops-lab"
    assert shared["extension/install.json"] == "share/jupyter/labextensions/mlops-lab/install.json"
    assert shared["jupyter-config/server-config"] == "etc/jupyter/jupyter_server_config.d"
    enabled = json.loads((REPO / "jupyter-config/server-config/mlops_lab.json").read_text())
    assert enabled == {"ServerApp": {"jpserver_extensions": {"mlops_lab.server": True}}}
    from mlops_lab.server import _jupyter_server_extension_points

    (point,) = _jupyter_server_extension_points()
    assert point["app"].name == "mlops_lab"


def test_the_build_hook_builds_the_extension_into_the_package() -> None:
    hook = _pyproject()["tool"]["hatch"]["build"]["hooks"]["jupyter-builder"]
    kwargs = hook["build-kwargs"]
    package = json.loads((REPO / kwargs["path"] / "package.json").read_text())
    assert package["name"] == "mlops-lab"
    out = (REPO / kwargs["path"] / package["jupyterlab"]["outputDir"]).resolve()
    assert out == (REPO / kwargs["build_dir"]).resolve() == (REPO / "mlops_lab/labextension")
    assert "mlops_lab/labextension/package.json" in hook["ensured-targets"]
    assert (REPO / kwargs["path"] / "package-lock.json").is_file()
    assert (REPO / "tests/ui/package-lock.json").is_file()


def test_binder_installs_this_repository_and_opens_the_quickstart() -> None:
    env = yaml.safe_load((REPO / "binder/environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in deps
    assert any(d.startswith("nodejs") for d in deps)
    post_build = REPO / "binder/postBuild"
    assert os.access(post_build, os.X_OK)
    subprocess.run(["bash", "-n", str(post_build)], check=True)
    script = post_build.read_text()
    assert 'pip install' in script and '".[torch]"' in script
    assert "mlops-lab init ." in script
    assert 'default_url = "/lab/tree/notebooks/quickstart.ipynb"' in script
    quickstart = json.loads((REPO / "notebooks/quickstart.ipynb").read_text())
    kernel = quickstart["metadata"]["kernelspec"]["name"]
    assert (REPO / "kernels" / kernel / "kernel.json").is_file()
