"""The MLOps side panel's own browser specs (tests/ui/specs/panel-*.spec.ts), checked from the
one shared Playwright run."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_the_panel_fits_its_default_width_with_a_vertical_lineage(browser_run: Any) -> None:
    browser_run.check("fits the narrow panel and draws lineage top to bottom")


def test_a_cli_notebook_job_shows_progress_cancels_and_opens(browser_run: Any) -> None:
    browser_run.check("a job started from the CLI shows its progress, cancels and opens")


def test_a_schedules_job_and_the_operations_progress_show(browser_run: Any) -> None:
    browser_run.check("a schedule's job from MLflow and the operations' progress")
