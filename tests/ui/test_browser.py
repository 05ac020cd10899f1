"""The JupyterLab extension in a real browser (specs in tests/ui/specs, one shared server)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_panel_shows_live_status(browser_run: Any) -> None:
    browser_run.check("shows the live status of every backend")


def test_run_as_job_runs_a_parameterised_notebook(browser_run: Any) -> None:
    browser_run.check("runs a parameterised notebook and the panel shows it succeeded")
