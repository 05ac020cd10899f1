import { expect, test } from '@jupyterlab/galata';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { artifact, notebook, PANEL_ID, section } from './helpers';

const PROJECT = process.env.MLOPS_UI_PROJECT!;

/** A program of the repository's virtual environment, else PATH's. */
function venv(program: string): string {
  const local = path.resolve(__dirname, '../../../.venv/bin', program);
  return fs.existsSync(local) ? local : program;
}

/** A data commit of five files, reported as the data store reports one, held at 2/5. */
const COMMITTING = `
import sys, time
from pathlib import Path
from mlops_lab.services.progress import track
root = Path(sys.argv[1])
with track(root, "materialize", "materialize fraud_features", 2, "views") as done:
    done.advance(1)
with track(root, "data commit", "commit 5 files", 5, "files") as commit:
    commit.advance(2, "commit transactions-2.parquet (3/5)")
    print("ready", flush=True)
    time.sleep(600)
`;

test.describe('What runs in the project, in the MLOps panel', () => {
  test("a schedule's job from MLflow and the operations' progress", async ({ page }) => {
    test.setTimeout(240000);
    // what a schedule's pod does: `mlops-lab run --output` under MLOPS_SCHEDULE; the pod's
    // executed notebook never reaches this machine (removed here), its MLflow run does
    const name = 'panel-nightly.ipynb';
    await page.contents.uploadContent(notebook([{ source: 'rows = 1', parameters: true }, { source: 'print(rows)' }]), 'text', name);
    const pod = fs.mkdtempSync(path.join(os.tmpdir(), 'pod-'));
    const ran = spawnSync(venv('mlops-lab'), ['run', name, '--output', path.join(pod, 'nightly.ipynb')], {
      cwd: PROJECT,
      env: { ...process.env, MLOPS_SCHEDULE: 'nightly-report' },
      encoding: 'utf-8',
      timeout: 180000
    });
    expect(ran.status, ran.stderr).toBe(0);
    fs.rmSync(pod, { recursive: true, force: true });

    let committing: ChildProcess | null = spawn(venv('python'), ['-c', COMMITTING, PROJECT], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        committing!.stdout!.on('data', chunk => String(chunk).includes('ready') && resolve());
        committing!.on('exit', code => reject(new Error(`the commit process exited with ${code}`)));
      });
      await page.sidebar.openTab(PANEL_ID);
      await page.sidebar.setWidth(250);
      const panel = page.locator(`#${PANEL_ID}`);

      const jobs = section(panel, 'notebook-runs');
      const row = jobs.locator('tr', { hasText: 'nightly-report' });
      await expect(row.locator('.mlops-run-path')).toHaveText(name, { timeout: 60000 });
      await expect(row.locator('.mlops-schedule')).toHaveText('schedule nightly-report');
      await expect(row.locator('.mlops-state')).toHaveText('succeeded');
      await expect(row.locator('.mlops-mlflow-link')).toHaveAttribute('title', /^MLflow run [0-9a-f]{32}\nthe executed notebook is not on this machine: a pod of schedule nightly-report/);
      await expect(row.getByRole('button', { name: 'open' })).toHaveCount(0);
      await expect(row.getByRole('button', { name: 'cancel' })).toHaveCount(0);
      await row.scrollIntoViewIfNeeded();
      await jobs.screenshot({ path: artifact('panel-scheduled-job.png') });

      const operations = section(panel, 'operations');
      const running = operations.locator('tr', { hasText: 'transactions-2.parquet' });
      await expect(running.locator('.mlops-state')).toHaveText('running');
      await expect(running.locator('[data-progress]')).toHaveAttribute('data-progress', '2/5 files');
      await expect(running.locator('.mlops-bar-fill')).toHaveAttribute('style', 'width:40%');
      // the time so far moves on with each refresh
      await expect(running.locator('.mlops-elapsed')).toHaveText(/^\d+ s so far$/);
      await expect(running.locator('.mlops-elapsed')).not.toHaveText('0 s so far', { timeout: 20000 });
      const ended = operations.locator('tr', { hasText: 'materialize fraud_features' });
      await expect(ended.locator('.mlops-state')).toHaveText('succeeded');
      await expect(ended.locator('.mlops-elapsed')).toHaveText(/^\d+ s$/);
      await operations.scrollIntoViewIfNeeded();
      await operations.screenshot({ path: artifact('panel-operations.png') });

      // its process ends mid-way: the record says so instead of running forever
      committing.kill();
      committing = null;
      await expect(running.locator('.mlops-state')).toHaveText('stopped', { timeout: 30000 });
    } finally {
      committing?.kill();
    }
  });
});
