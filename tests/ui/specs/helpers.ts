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

/**
 * Uploads a notebook and opens it through JupyterLab's document manager, then waits for its
 * kernel. Not through the file browser (galata's openByPath): that waits, without a time
 * limit, for the file to be listed in a file browser that is hidden while the MLOps panel
 * occupies the left sidebar, so a spec that opened the panel first never got its notebook.
 */
export async function openNotebook(
  page: IJupyterLabPageFixture,
  path: string,
  cells: { source: string; parameters?: boolean }[]
): Promise<void> {
  await page.contents.uploadContent(notebook(cells), 'text', path);
  await page.evaluate(async (file: string) => {
    await (window as any).jupyterapp.commands.execute('docmanager:open', { path: file });
  }, path);
  const name = path.split('/').pop()!;
  await page.getByRole('main').getByRole('tab', { name: new RegExp(`^${name}`) }).waitFor({ timeout: 60000 });
  await page.notebook.activate(name);
}

/** Output areas that are wider than the notebook's output column, or boxes whose content
 * runs past their right edge: what a reader would see cut off or overprinted. */
export async function overflowing(output: Locator): Promise<string[]> {
  return output.evaluate((root: Element) => {
    const found: string[] = [];
    const limit = root.getBoundingClientRect().right + 1;
    for (const el of Array.from(root.querySelectorAll<HTMLElement>('.mlops-card, table, svg, .mlops-operation'))) {
      const box = el.getBoundingClientRect();
      if (box.width === 0) {
        continue;
      }
      const label = `${el.tagName.toLowerCase()}.${el.className.toString().split(' ')[0]}: ${(el.textContent || '').slice(0, 60)}`;
      if (box.right > limit) {
        found.push(`${label} ends at ${Math.round(box.right)} px, past the output's ${Math.round(limit)} px`);
      }
      if (el instanceof HTMLElement && el.classList.contains('mlops-card') && el.scrollWidth > el.clientWidth + 1) {
        found.push(`${label} holds ${el.scrollWidth} px of content in ${el.clientWidth} px`);
      }
    }
    return found;
  });
}
