import { expect, test } from '@jupyterlab/galata';

import { artifact, notebook, PANEL_ID, section } from './helpers';

test.describe('Run as job…', () => {
  test('runs a parameterised notebook and the panel shows it succeeded', async ({ page, tmpPath }) => {
    const name = 'ui-job.ipynb';
    await page.contents.uploadContent(
      notebook([
        { source: 'rows = 10\nlabel = "fixture"', parameters: true },
        { source: 'total = sum(range(rows))\nprint(label, total)\nassert total == 45, total' }
      ]),
      'text',
      `${tmpPath}/${name}`
    );
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    await page.notebook.activate(name);

    // the toolbar button opens the dialog, filled from the parameters cell
    await page.locator('.mlops-run-as-job').first().click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog.locator('.jp-Dialog-header')).toHaveText('Run as job…');
    const rows = dialog.locator('input[data-param="rows"]');
    await expect(rows).toHaveValue('10');
    await expect(dialog.locator('input[data-param="label"]')).toHaveValue('fixture');

    // a value of the wrong type: the server's one-line refusal shows in the dialog
    await rows.fill('many');
    await dialog.getByRole('button', { name: 'Run now' }).click();
    const error = page.locator('.jp-Dialog .mlops-dialog-error');
    await expect(error).toContainText("parameter 'rows' of ui-job.ipynb is int");
    await expect(page.locator('.jp-Dialog input[data-param="rows"]')).toHaveValue('many');
    await page.locator('.jp-Dialog .jp-Dialog-content').screenshot({ path: artifact('dialog-refused.png') });

    // a schedule is checked by the server too: a wrong cron expression is refused
    await page.locator('.jp-Dialog input[data-param="rows"]').fill('20');
    await page.locator('.jp-Dialog input.mlops-cron').fill('every day');
    await page.locator('.jp-Dialog input.mlops-image').fill('registry.example/mlops:1');
    await page.locator('.jp-Dialog').getByRole('button', { name: 'Schedule' }).click();
    await expect(page.locator('.jp-Dialog .mlops-dialog-error')).toContainText(
      "invalid cron expression 'every day'"
    );
    await expect(page.locator('.jp-Dialog input.mlops-cron')).toHaveValue('every day');

    // a good value runs the notebook with papermill
    await expect(page.locator('.jp-Dialog input[data-param="rows"]')).toHaveValue('20');
    await page.locator('.jp-Dialog .jp-Dialog-content').screenshot({ path: artifact('dialog.png') });
    await page.locator('.jp-Dialog').getByRole('button', { name: 'Run now' }).click();
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);

    // the command opens the panel on the new run
    const panel = page.locator(`#${PANEL_ID}`);
    await expect(panel).toBeVisible();
    await page.sidebar.setWidth(460);
    const runs = section(panel, 'notebook-runs');
    const row = runs.locator('tr', { hasText: name }).first();
    await expect(row).toBeVisible();
    // rows=20 makes the assert in the notebook fail: the job fails and says which cell
    await expect(row.locator('.mlops-state')).toHaveText('failed', { timeout: 90000 });
    await expect(row.locator('.mlops-state')).toHaveAttribute('title', /AssertionError: 190/);

    // and with the default the job succeeds: this time from the command palette
    await page.notebook.activate(name);
    await page.keyboard.press('Control+Shift+C');
    await page.locator('.lm-CommandPalette-input').fill('Run as job');
    const item = page.locator('.lm-CommandPalette-item', { hasText: 'Run as job…' });
    await expect(item).toBeVisible();
    await item.click();
    await expect(page.locator('.jp-Dialog input[data-param="rows"]')).toHaveValue('10');
    await page.locator('.jp-Dialog').getByRole('button', { name: 'Run now' }).click();
    const newest = runs.locator('tbody tr').first();
    await expect(newest.locator('.mlops-state')).toHaveText('succeeded', { timeout: 90000 });
    await panel.screenshot({ path: artifact('panel.png') });
  });
});
