import { expect, test } from '@jupyterlab/galata';

import { artifact, openNotebook } from './helpers';

const MODEL = process.env.MLOPS_UI_MODEL!;

test.describe('Widgets from the magics', () => {
  test('a registry widget button from %mlops models --widget works', async ({ page, tmpPath }) => {
    await openNotebook(page, `${tmpPath}/ui-widget.ipynb`, [{ source: `%mlops models --widget ${MODEL}` }]);
    await page.notebook.run();

    const output = page.locator('.jp-OutputArea-output').first();
    const button = output.getByRole('button', { name: 'lineage v1' });
    await expect(button).toBeVisible({ timeout: 60000 });
    await expect(output).not.toContainText('lineage of');
    await button.click();
    // the click runs in the kernel (lab.lineage) and the widget shows the lineage thread
    await expect(output.locator('.mlops-lineage')).toContainText(`lineage of ${MODEL}/1`, {
      timeout: 30000
    });
    await output.screenshot({ path: artifact('widget.png') });
  });
});
