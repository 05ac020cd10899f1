import { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import * as path from 'path';

export const PANEL_ID = 'mlops-lab-panel';

export function artifact(name: string): string {
  const dir = process.env.MLOPS_UI_ARTIFACTS || path.resolve(__dirname, '../../../test-artifacts/ui');
  return path.join(dir, name);
}

/** Opens the MLOps side panel and waits for its first refresh. */
export async function openPanel(page: IJupyterLabPageFixture): Promise<Locator> {
  const panel = page.locator(`#${PANEL_ID}`);
  if (!(await panel.isVisible())) {
    await page.sidebar.openTab(PANEL_ID);
  }
  await panel.waitFor({ state: 'visible' });
  await panel.locator('[data-concern]').first().waitFor();
  await page.sidebar.setWidth(460);
  return panel;
}

export function section(panel: Locator, id: string): Locator {
  return panel.locator(`[data-section="${id}"]`);
}

/** A notebook (nbformat 4 JSON) whose first cell is tagged `parameters`. */
export function notebook(cells: { source: string; parameters?: boolean }[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'mlops', display_name: 'Python 3 (MLOps)', language: 'python' },
      language_info: { name: 'python' }
    },
    cells: cells.map((cell, index) => ({
      id: `cell-${index}`,
      cell_type: 'code',
      execution_count: null,
      metadata: cell.parameters ? { tags: ['parameters'] } : {},
      outputs: [],
      source: cell.source
    }))
  });
}
