import { expect, test } from '@jupyterlab/galata';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { artifact, notebook, PANEL_ID, section } from './helpers';

const PROJECT = process.env.MLOPS_UI_PROJECT!;

/** The project's `mlops-lab` command: the repository's virtual environment, else PATH. */
function cli(): string {
  const venv = path.resolve(__dirname, '../../../.venv/bin/mlops-lab');
  return fs.existsSync(venv) ? venv : 'mlops-lab';
}

test.describe('Notebook jobs in the MLOps panel', () => {
  test('a job started from the CLI shows its progress, cancels and opens', async ({ page }) => {
    test.setTimeout(240000);
    const name = 'panel-cli-job.ipynb';
    await page.contents.uploadContent(
      notebook([
        { source: 'pause = 1.0', parameters: true },
        { source: 'print("first cell ran")' },
        { source: 'import time\ntime.sleep(pause)' },
        { source: 'print("never reached")' }
      ]),
      'text',
      name
    );
    let job: ChildProcess | null = spawn(cli(), ['run', name, '-p', 'pause', '600'], { cwd: PROJECT, stdio: 'ignore' });
    try {
      await page.sidebar.openTab(PANEL_ID);
      await page.sidebar.setWidth(250);
      const panel = page.locator(`#${PANEL_ID}`);
      const jobs = section(panel, 'notebook-runs');
      const row = jobs.locator('tr', { hasText: name }).first();
      // listed although the panel did not start it, with its cell progress: the sleep runs
      await expect(row.locator('.mlops-state')).toHaveText('running', { timeout: 120000 });
      await expect(row.locator('[data-progress]')).toHaveAttribute('data-progress', '3/5', { timeout: 60000 });
      await expect(row.getByRole('button', { name: 'cancel' })).toBeVisible();
      await jobs.screenshot({ path: artifact('panel-notebook-job-progress.png') });

      await row.getByRole('button', { name: 'cancel' }).click();
      await expect(row.locator('.mlops-state')).toHaveText('cancelled', { timeout: 60000 });
      await expect(row.locator('.mlops-state')).toHaveAttribute('title', /KeyboardInterrupt/);
      await expect(row.getByRole('button', { name: 'cancel' })).toHaveCount(0);

      // the executed notebook opens in JupyterLab, with what its cells printed
      await row.getByRole('button', { name: 'open' }).click();
      const opened = page.locator('.jp-NotebookPanel:visible');
      await expect(opened.locator('.jp-OutputArea-output').first()).toContainText('first cell ran');
      await expect(page.locator('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel')).toContainText('panel-cli-job-');
      await page.screenshot({ path: artifact('panel-executed-notebook.png') });
    } finally {
      job?.kill();
      job = null;
    }
  });
});
