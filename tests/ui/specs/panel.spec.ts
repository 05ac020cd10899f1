import { expect, test } from '@jupyterlab/galata';

import { artifact, openPanel, section } from './helpers';

test.describe('MLOps side panel', () => {
  test('shows the live status of every backend', async ({ page }) => {
    const panel = await openPanel(page);
    const status = section(panel, 'status');
    await expect(status.locator('.mlops-project')).toHaveText(process.env.MLOPS_UI_PROJECT!);
    await expect(status.locator('[data-concern="tracking"]')).toBeVisible();
    const trackingRow = status.locator('tr', { has: page.locator('[data-concern="tracking"]') });
    await expect(trackingRow.locator('[data-reachable]')).toHaveAttribute('data-reachable', 'true');

    // the feature repository is missing: features are down...
    const features = status.locator('tr', { has: page.locator('[data-concern="features"]') });
    await expect(features.locator('[data-reachable]')).toHaveAttribute('data-reachable', 'false');
    await expect(features).toContainText('no feature_store.yaml');

    // ...until it appears on the server: the panel refreshes on its own timer, no reload
    const repo = process.env.MLOPS_UI_FEATURE_REPO!;
    await page.contents.createDirectory(repo);
    await page.contents.uploadContent('project: ui\n', 'text', `${repo}/feature_store.yaml`);
    await expect(features.locator('[data-reachable]')).toHaveAttribute('data-reachable', 'true', {
      timeout: 15000
    });
    await expect(features).toContainText('feature_store.yaml found');

    // data: the fixture project's branch and commit
    const data = section(panel, 'data');
    await expect(data.locator('[data-branch="main"]')).toBeVisible();
    await expect(data.locator('.mlops-commits-table')).toContainText('fixture transactions');
    await panel.screenshot({ path: artifact('panel-status.png') });
  });
});
