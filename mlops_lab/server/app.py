"""The server extension application: configuration, the project's Lab, and the routes."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Callable, Int, Unicode

import mlops_lab
from mlops_lab.lab import Lab
from mlops_lab.server.notebook_jobs import NotebookJobs
from mlops_lab.server.routes import ROUTES, URL_PREFIX
from mlops_lab.server.runs import NotebookRuns


class MLOpsExtension(ExtensionApp):
    """REST API for the JupyterLab MLOps panel, over the project's services."""

    name = "mlops_lab"
    load_other_extensions = True

    project = Unicode(
        "",
        help="Project directory (where mlops.toml is found); empty means the server's root_dir.",
    ).tag(config=True)
    lab_factory = Callable(
        None,
        allow_none=True,
        help="Called with the project directory, returns the Lab the handlers use "
        "(default: mlops_lab.connect).",
    ).tag(config=True)
    max_notebook_runs = Int(
        2, help="Notebook runs started from the panel that execute at the same time."
    ).tag(config=True)
    service_threads = Int(
        4, help="Threads that run blocking service calls (MLflow, data store, status probes)."
    ).tag(config=True)

    def initialize_settings(self) -> None:
        self._lab: Lab | None = None
        self._lab_stamp: tuple[Any, ...] = ()
        self.executor = ThreadPoolExecutor(self.service_threads, thread_name_prefix="mlops-api")
        self.notebook_runs = NotebookRuns(self.max_notebook_runs)
        self.notebook_jobs = NotebookJobs()

    def initialize_handlers(self) -> None:
        for route in ROUTES:
            self.handlers.append((f"/{URL_PREFIX}/{route.pattern}", route.handler))

    @property
    def root_dir(self) -> Path:
        assert self.serverapp is not None
        return Path(os.path.expanduser(self.serverapp.root_dir)).resolve()

    def lab(self) -> Lab:
        """The project's Lab, reconnected when mlops.toml appears, disappears or changes."""
        start = Path(self.project).expanduser() if self.project else self.root_dir
        if self.lab_factory is not None:
            if self._lab is None:
                self._lab = self.lab_factory(start)
            assert self._lab is not None
            return self._lab
        stamp = _config_stamp(start)
        if self._lab is None or stamp != self._lab_stamp:
            self._lab = mlops_lab.connect(start)
            self._lab_stamp = _config_stamp(start)
        return self._lab

    async def stop_extension(self) -> None:
        self.notebook_runs.shutdown()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _config_stamp(start: Path) -> tuple[Any, ...]:
    from mlops_lab.config import find_config

    found = find_config(start.resolve())
    if found is None:
        return (None,)
    try:
        return (found, found.stat().st_mtime_ns)
    except OSError:
        return (found, None)
