"""The JupyterLab extension in a real browser (specs in tests/ui/specs, one shared server)."""

from __future__ import annotations

from typing import Any

import pytest

# the first test waits for the whole Playwright run (the session fixture), Ray Serve included;
# test-artifacts/ui/timings.json says where that time went
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_panel_shows_live_status(browser_run: Any) -> None:
    browser_run.check("shows the live status of every backend")


def test_run_as_job_runs_a_parameterised_notebook(browser_run: Any) -> None:
    browser_run.check("runs a parameterised notebook and the panel shows it succeeded")


def test_a_registered_model_appears_with_its_alias(browser_run: Any) -> None:
    browser_run.check("shows a registered model with its alias, versions and lineage")


def test_a_widget_button_from_the_magics_works(browser_run: Any) -> None:
    browser_run.check("a registry widget button from %mlops models --widget works")


def test_endpoint_deploy_promote_rollback_from_the_panel(browser_run: Any) -> None:
    browser_run.check("deploys a canary, promotes it and rolls back on Ray Serve")


def test_notebook_outputs_monitor_lineage_and_run_result(browser_run: Any) -> None:
    browser_run.check("the training monitor, the lineage graph and a %mlops run result")
