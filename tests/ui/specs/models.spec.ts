import { expect, test } from '@jupyterlab/galata';

import { artifact, openPanel, section } from './helpers';

const MODEL = process.env.MLOPS_UI_MODEL!;
const ALIAS = process.env.MLOPS_UI_ALIAS!;

test.describe('Models in the MLOps panel', () => {
  test('shows a registered model with its alias, versions and lineage', async ({ page }) => {
    const panel = await openPanel(page);
    const models = section(panel, 'models');
    const model = models.locator(`[data-model="${MODEL}"]`);
    await expect(model.locator('.mlops-model-name')).toHaveText(MODEL);
    await expect(model.locator(`[data-alias="${ALIAS}"]`)).toHaveText(`@${ALIAS} → v1`);

    // its versions, with the alias on version 1
    await model.locator('.mlops-toggle').click();
    const v1 = model.locator('.mlops-versions-table tr', { has: page.locator('[data-version="1"]') });
    await expect(v1).toContainText(`@${ALIAS}`);
    await expect(v1).toContainText('auc=0.9300');

    // and the lineage of version 1: back to the run that logged it
    await v1.getByRole('button', { name: 'lineage' }).click();
    const lineage = models.locator(`[data-lineage="${MODEL}/1"]`);
    await expect(lineage.locator('[data-step="run"]')).toContainText('fixture-training');
    await expect(lineage.locator('[data-step="model"]')).toContainText(`@${ALIAS}`);
    await models.screenshot({ path: artifact('panel-models.png') });
  });
});
