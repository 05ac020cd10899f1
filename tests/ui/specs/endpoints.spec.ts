import { expect, test } from '@jupyterlab/galata';
import { Locator, Page } from '@playwright/test';

import { artifact, openNotebook, openPanel, overflowing, section } from './helpers';

const MODEL = process.env.MLOPS_UI_MODEL!;
const ENDPOINT = process.env.MLOPS_UI_ENDPOINT!;
const CHANGE = 180000; // a change waits until Ray Serve answers with the new revision

/** Clicks an action button of the endpoint card, checks the question and confirms it. */
async function confirmed(card: Locator, action: string, question: string): Promise<void> {
  await card.getByRole('button', { name: action, exact: true }).click();
  const confirm = card.locator('.mlops-confirm-row');
  await expect(confirm).toBeVisible();
  await expect(confirm).toContainText(question);
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  await expect(confirm).toBeHidden();
}

function row(page: Page, card: Locator, variant: string): Locator {
  return card.locator('.mlops-endpoint-table tr', { has: page.locator(`[data-variant="${variant}"]`) });
}

test.describe('Endpoints in the MLOps panel', () => {
  test('deploys a canary, promotes it and rolls back on Ray Serve', async ({ page, tmpPath }) => {
    test.setTimeout(600000);
    const panel = await openPanel(page);
    const card = section(panel, 'endpoints').locator(`[data-endpoint="${ENDPOINT}"]`);
    await expect(card.locator('.mlops-state')).toHaveText('serving', { timeout: 60000 });
    await expect(row(page, card, 'stable').locator('[data-variant]')).toHaveAttribute('data-version', `${MODEL}/1`);
    await expect(row(page, card, 'stable').locator('[data-weight]')).toHaveAttribute('data-weight', '100');
    await expect(row(page, card, 'canary')).toHaveCount(0);
    await expect(card.getByRole('button', { name: 'Promote' })).toBeDisabled(); // no canary yet
    await card.screenshot({ path: artifact('panel-endpoints-before.png') });

    // Deploy version 2 as a 50% canary: confirm, buttons off while it applies, one line after
    await card.locator('select.mlops-deploy-version').selectOption(`${MODEL}/2`);
    await card.locator('input.mlops-canary').fill('50');
    await confirmed(card, 'Deploy', `Deploy ${MODEL}/2 to ${ENDPOINT} as a 50% canary?`);
    await expect(card).toHaveAttribute('data-busy', 'true');
    await expect(card.getByRole('button', { name: 'Rollback' })).toBeDisabled();
    const result = card.locator('[data-result]');
    await expect(result).toHaveText(`${ENDPOINT} revision 2: canary -> ${MODEL}/1 50% / ${MODEL}/2 50% canary`, {
      timeout: CHANGE
    });
    await expect(result).toHaveClass(/mlops-ok/);
    await expect(card).toHaveAttribute('data-busy', 'false');
    await expect(row(page, card, 'canary').locator('[data-variant]')).toHaveAttribute('data-version', `${MODEL}/2`);
    await expect(row(page, card, 'canary').locator('[data-weight]')).toHaveAttribute('data-weight', '50');
    await expect(row(page, card, 'stable').locator('[data-weight]')).toHaveAttribute('data-weight', '50');

    // the canary's drift line sits beside it (no traffic yet: it says so)
    const drift = card.locator('.mlops-canary-drift');
    await expect(drift).toContainText(`canary ${MODEL}/2 drift`);
    await expect(drift).toContainText('no traffic yet');
    await card.screenshot({ path: artifact('panel-endpoints-canary.png') });

    // New-pattern traffic from a notebook (amounts four times larger than in training); the
    // deploy widget's drift line and a drift report show it
    await openNotebook(page, `${tmpPath}/ui-endpoints.ipynb`, [
      {
        source: [
          'import numpy as np, pandas as pd, mlops_lab',
          'lab = mlops_lab.connect()',
          'rng = np.random.default_rng(1)',
          'for _ in range(10):',
          `    lab.serving.predict("${ENDPOINT}", pd.DataFrame({"amount": rng.gamma(2.0, 160.0, 40), "spend_7d": rng.random(40)}))`,
          'print("sent")'
        ].join('\n')
      },
      { source: '%mlops endpoints --widget' },
      { source: `%mlops drift ${MODEL}/2 --window 1h --endpoint ${ENDPOINT} --variant canary --no-record` },
      { source: `%mlops drift ${MODEL}/2 --window 1h --endpoint ${ENDPOINT} --variant canary --no-record --widget` }
    ]);
    await page.notebook.run();
    const outputs = page.locator('.jp-Cell .jp-OutputArea');
    await expect(outputs.nth(0)).toContainText('sent');
    const widget = outputs.nth(1);
    const line = widget.locator('.mlops-canary-drift');
    await expect(line).toContainText(`canary ${MODEL}/2 drift (last 1h, `, { timeout: 120000 });
    await expect(line).toContainText('drifted vs training (amount');
    await expect(line).toBeInViewport();
    expect(await overflowing(widget)).toEqual([]);
    await widget.screenshot({ path: artifact('notebook-endpoints-drift.png') });
    const report = outputs.nth(2);
    await expect(report.locator('.mlops-drift h4')).toHaveText(`${MODEL} v2: training data vs last 1h of predictions`);
    await expect(report.locator('.mlops-drift')).toContainText('amount');
    await expect(report.locator('.mlops-drift tbody tr', { hasText: 'amount' }).locator('.yes')).toBeVisible();
    await expect(report.locator('svg').first()).toBeVisible();
    expect(await overflowing(report)).toEqual([]);
    await report.screenshot({ path: artifact('notebook-drift-report.png') });
    // the widget version: a window slider and a column picker over the same report
    const picker = outputs.nth(3);
    await expect(picker.getByRole('button', { name: 'Check drift' })).toBeVisible();
    await expect(picker.locator('.widget-readout')).toHaveText('1h');
    await expect(picker.locator('select[multiple] option', { hasText: 'amount' })).toHaveCount(1);
    await expect(picker.locator('.mlops-drift')).toContainText('Dataset: ');
    await picker.screenshot({ path: artifact('notebook-drift-widget.png') });

    // the panel's drift line beside the canary, checked again on its button
    await page.sidebar.openTab('mlops-lab-panel');
    await card.locator('.mlops-drift-refresh').click();
    await expect(card.locator('[data-drift="inputs vs training"]')).toContainText('drifted (amount', { timeout: 120000 });
    // its answers to the new patterns are not what it answered on its training data
    await expect(card.locator('[data-drift="predictions vs training"]')).toHaveText('predictions vs training: drifted');
    await card.screenshot({ path: artifact('panel-endpoints-canary-drift.png') });

    // Promote: version 2 serves everything
    await confirmed(card, 'Promote', `Promote the canary of ${ENDPOINT} to stable and @champion?`);
    await expect(result).toHaveText(`${ENDPOINT} revision 3: promote -> ${MODEL}/2 100%`, { timeout: CHANGE });
    await expect(row(page, card, 'stable').locator('[data-variant]')).toHaveAttribute('data-version', `${MODEL}/2`);
    await expect(row(page, card, 'stable').locator('[data-weight]')).toHaveAttribute('data-weight', '100');
    await expect(row(page, card, 'canary')).toHaveCount(0);
    await expect(drift).toBeHidden();

    // Rollback: back to version 1 in one step
    await confirmed(card, 'Rollback', `Roll ${ENDPOINT} back to its previous stable version?`);
    await expect(result).toHaveText(`${ENDPOINT} revision 4: rollback -> ${MODEL}/1 100% (back from ${MODEL}/2)`, {
      timeout: CHANGE
    });
    await expect(row(page, card, 'stable').locator('[data-variant]')).toHaveAttribute('data-version', `${MODEL}/1`);
    await expect(row(page, card, 'stable').locator('[data-weight]')).toHaveAttribute('data-weight', '100');
    await expect(card.locator('.mlops-revision')).toContainText('r4 rollback');
    await card.screenshot({ path: artifact('panel-endpoints-after.png') });
  });
});
