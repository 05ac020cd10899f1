import { expect, test } from '@jupyterlab/galata';

import { artifact, openNotebook, overflowing } from './helpers';

const MODEL = process.env.MLOPS_UI_MODEL!;

// A real Ray job on the fixture's head, short enough for CI: it reports 8 epochs, 4 s apart
// (long enough to be seen mid-run after the other cells have run).
const TRAIN = [
  '%%mlops train --name ui-monitor --workers 1 --no-wait',
  'import time',
  'from mlops_lab import train_helpers as th',
  'print("[mlops] epochs 8", flush=True)',
  'for epoch in range(8):',
  '    time.sleep(4)',
  '    th.log_metrics({"epoch": epoch, "loss": round(0.7 / (epoch + 1), 4), "auc": round(0.6 + 0.04 * epoch, 4)})'
].join('\n');

test.describe('What a notebook shows', () => {
  test('the training monitor, the lineage graph and a %mlops run result', async ({ page, tmpPath }) => {
    test.setTimeout(420000);
    await page.contents.uploadContent(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: 'mlops', display_name: 'Python 3 (MLOps)', language: 'python' } },
        cells: [
          { id: 'p', cell_type: 'code', metadata: { tags: ['parameters'] }, outputs: [], execution_count: null, source: 'rows = 10' },
          { id: 'b', cell_type: 'code', metadata: {}, outputs: [], execution_count: null, source: 'print(sum(range(rows)))' }
        ]
      }),
      'text',
      `${tmpPath}/ui-params.ipynb`
    );
    await openNotebook(page, `${tmpPath}/ui-outputs.ipynb`, [
      { source: TRAIN },
      { source: `%mlops lineage ${MODEL}/1` },
      { source: "%mlops run ui-params.ipynb -p rows 20" } // the kernel runs in the notebook's folder
    ]);
    await page.notebook.run();
    const outputs = page.locator('.jp-Cell .jp-OutputArea');

    // the training monitor mid-run: the step with its epoch, a bar, the live chart, Stop
    const monitor = outputs.nth(0);
    await expect(monitor.locator('.mlops-step-current')).toContainText(/running epoch [1-7]\/8/, { timeout: 180000 });
    await expect(monitor.locator('.mlops-chart').first()).toBeVisible({ timeout: 30000 });
    await expect(monitor.locator('.mlops-progress')).toBeVisible();
    await expect(monitor.getByRole('button', { name: 'Stop' })).toBeVisible();
    await monitor.screenshot({ path: artifact('notebook-monitor-running.png') });

    // the lineage graph: fixed-width cards, short ids with the full value on hover
    const lineage = outputs.nth(1);
    const graph = lineage.locator('.mlops-lineage');
    await expect(graph).toContainText(`lineage of ${MODEL}/1`);
    const cards = graph.locator('.mlops-graph .mlops-card');
    await expect(cards.filter({ hasText: 'data' }).first()).toBeVisible();
    await expect(cards.filter({ hasText: 'run' }).first()).toBeVisible();
    await expect(cards.filter({ hasText: `${MODEL}/1@champion` })).toBeVisible();
    const commit = cards.filter({ hasText: 'commit' }).first().locator('code[title]').first();
    expect((await commit.getAttribute('title'))!.length).toBeGreaterThan(12);
    expect((await commit.innerText()).length).toBeLessThanOrEqual(9);
    const widths = await cards.evaluateAll(els => els.map(e => Math.round(e.getBoundingClientRect().width)));
    expect(new Set(widths).size).toBe(1);
    // arrows only between the columns of the graph
    await expect(graph.locator('.mlops-arrow')).toHaveCount((await graph.locator('.mlops-column').count()) - 1);
    // the challenger trained on the same commit is folded, not drawn as a step
    await expect(graph.locator('summary', { hasText: 'used by 1 run on the same data' })).toBeVisible();
    expect(await overflowing(lineage)).toEqual([]);
    await lineage.screenshot({ path: artifact('notebook-lineage.png') });

    // the %mlops run result: labelled rows, the executed notebook a visible link
    const result = outputs.nth(2);
    const table = result.locator('.mlops-table');
    await expect(table).toContainText('notebook job ui-params.ipynb');
    await expect(table.locator('tr', { hasText: 'status' })).toContainText('succeeded');
    await expect(table.locator('tr', { hasText: 'parameter rows' })).toContainText('20');
    const executed = table.locator('tr', { hasText: 'executed notebook' }).locator('a');
    await expect(executed).toBeVisible();
    await expect(executed).toHaveText(/ui-params.*\.ipynb$/);
    await expect(table.locator('tr', { hasText: "job's MLflow run" }).locator('code[title]')).toBeVisible();
    expect(await overflowing(result)).toEqual([]);
    await result.screenshot({ path: artifact('notebook-run-result.png') });

    // and after: done, every step ticked, links instead of Stop, the chart of all 8 epochs
    await expect(monitor).toContainText('succeeded', { timeout: 120000 });
    await expect(monitor.locator('.mlops-steps')).toContainText('✓ done');
    await expect(monitor.getByRole('button', { name: 'Stop' })).toBeHidden();
    await expect(monitor.getByText('Ray dashboard')).toBeVisible();
    await expect(monitor).toContainText('MLflow run');
    await expect(monitor.locator('.mlops-chart').first()).toContainText('loss');
    await expect(monitor.locator('.mlops-progress')).toHaveCount(0);
    expect(await overflowing(monitor)).toEqual([]);
    await monitor.screenshot({ path: artifact('notebook-monitor-done.png') });
  });
});
