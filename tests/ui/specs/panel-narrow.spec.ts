import { expect, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { artifact, PANEL_ID, section } from './helpers';

const MODEL = process.env.MLOPS_UI_MODEL!;
/** The left side panel's width as JupyterLab first opens it. */
const DEFAULT_WIDTH = 250;

/** Elements of the panel whose content is cut off or that stick out of the panel. */
async function clipped(panel: Locator): Promise<string[]> {
  return panel.evaluate(root => {
    const edge = root.getBoundingClientRect().right;
    const found: string[] = [];
    for (const node of Array.from(root.querySelectorAll<HTMLElement>('td, button, .mlops-lineage-card'))) {
      const box = node.getBoundingClientRect();
      if (!box.width) {
        continue;
      }
      if (box.right > edge + 1 || node.scrollWidth > node.clientWidth + 1) {
        found.push(`${node.tagName.toLowerCase()} "${(node.textContent ?? '').slice(0, 40)}"`);
      }
    }
    return found;
  });
}

test.describe('MLOps panel at its default width', () => {
  test('fits the narrow panel and draws lineage top to bottom', async ({ page }) => {
    await page.sidebar.openTab(PANEL_ID);
    await page.sidebar.setWidth(DEFAULT_WIDTH);
    const panel = page.locator(`#${PANEL_ID}`);
    await panel.locator('[data-concern]').first().waitFor();
    const models = section(panel, 'models');
    const model = models.locator(`[data-model="${MODEL}"]`);
    await model.locator('.mlops-toggle').click();
    const v1 = model.locator('.mlops-versions-table tr', { has: page.locator('[data-version="1"]') });
    // the number that matters leads the row
    await expect(v1.locator('.mlops-key-metric')).toHaveText('auc=0.9300');
    await expect.poll(() => clipped(panel)).toEqual([]);
    expect(await panel.evaluate(p => p.scrollWidth <= p.clientWidth)).toBe(true);
    await panel.screenshot({ path: artifact('panel-narrow.png') });

    // lineage: data and code above the run, the run above the model, arrows between tiers
    await v1.getByRole('button', { name: 'lineage' }).click();
    const lineage = models.locator(`[data-lineage="${MODEL}/1"]`);
    const data = lineage.locator('.mlops-lineage-card[data-step="data"]').first();
    const run = lineage.locator('.mlops-lineage-card[data-step="run"]');
    const made = lineage.locator('.mlops-lineage-card[data-step="model"]');
    await expect(run).toContainText('fixture-training');
    await expect(made).toContainText(`${MODEL}/1`);
    const [d, r, m] = [await data.boundingBox(), await run.boundingBox(), await made.boundingBox()];
    expect(r!.y).toBeGreaterThan(d!.y + d!.height);
    expect(m!.y).toBeGreaterThan(r!.y + r!.height);
    // a commit id is short, with the full id on hover
    const commit = data.locator('code');
    expect((await commit.textContent())!.length).toBeLessThanOrEqual(12);
    expect((await commit.getAttribute('title'))!.length).toBeGreaterThan(12);
    await expect.poll(() => clipped(panel)).toEqual([]);
    // the panel re-renders its sections on its timer: the section itself stays attached
    await models.screenshot({ path: artifact('panel-lineage-vertical.png') });
  });
});
