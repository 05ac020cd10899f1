/** The lineage of a model version as a graph the narrow panel draws top to bottom. */
import { ILineageStep } from './api';
import { button, h } from './dom';

/** How lineage steps stack in the narrow panel: what the run read, the run, what it made. */
const LINEAGE_ORDER = ['notebook', 'data', 'features', 'training', 'run', 'model', 'used by'];

/**
 * The lineage read top to bottom: one tier per step (inputs side by side, then the run,
 * then the model), arrows only between tiers, and the runs that merely used the same data
 * folded ("used by 8 runs ▸"). Same rows as `lab.lineage(target)` and the notebook's graph.
 */
export function lineageGraph(steps: ILineageStep[]): HTMLElement {
  const card = (s: ILineageStep) =>
    h(
      'div',
      { class: `mlops-lineage-card mlops-lineage-${s.step.replace(' ', '-')}`, 'data-step': s.step },
      h('div', { class: 'mlops-lineage-kind' }, `${s.step} · ${s.kind}`),
      h('div', { class: 'mlops-lineage-id' }, shortId(s.id), copyButton(s.id)),
      s.detail ? h('div', { class: 'mlops-lineage-detail', title: s.detail }, s.detail) : null
    );
  const tiers: HTMLElement[] = [];
  const inputs = steps.filter(s => ['notebook', 'data', 'features'].includes(s.step));
  if (inputs.length) {
    tiers.push(h('div', { class: 'mlops-lineage-tier mlops-lineage-inputs' }, inputs.map(card)));
  }
  for (const step of ['training', 'run', 'model']) {
    const found = steps.filter(s => s.step === step);
    if (found.length) {
      tiers.push(h('div', { class: 'mlops-lineage-tier' }, found.map(card)));
    }
  }
  const uses = steps.filter(s => s.step === 'used by');
  const direct = uses.filter(s => ['model version', 'validation', 'deployment'].includes(s.kind));
  if (direct.length) {
    tiers.push(h('div', { class: 'mlops-lineage-tier' }, direct.map(card)));
  }
  const other = steps.filter(s => !LINEAGE_ORDER.includes(s.step));
  if (other.length) {
    tiers.push(h('div', { class: 'mlops-lineage-tier' }, other.map(card)));
  }
  const nodes: Node[] = [];
  tiers.forEach((tier, index) => {
    if (index) {
      nodes.push(h('div', { class: 'mlops-lineage-arrow', 'aria-hidden': 'true' }, '↓'));
    }
    nodes.push(tier);
  });
  const folded = new Map<string, ILineageStep[]>();
  for (const use of uses.filter(s => !direct.includes(s))) {
    folded.set(use.kind, [...(folded.get(use.kind) ?? []), use]);
  }
  for (const [kind, group] of folded) {
    const label =
      kind === 'run on same data'
        ? `used by ${group.length} ${group.length === 1 ? 'run' : 'runs'} on the same data`
        : `${group.length} ${kind}${group.length === 1 ? '' : 's'}`;
    nodes.push(
      h('details', { class: 'mlops-lineage-folded' }, h('summary', {}, label), h('div', { class: 'mlops-lineage-tier' }, group.map(card)))
    );
  }
  return h('div', { class: 'mlops-lineage-graph' }, nodes);
}

function shortId(id: string): HTMLElement {
  const short = /^[0-9a-f]{16,}$/i.test(id) ? id.slice(0, 12) : id;
  return h('code', { title: id, class: 'mlops-id' }, short.length > 34 ? `…${short.slice(-33)}` : short);
}

function copyButton(text: string): HTMLElement {
  const copy = button('copy', `Copy ${text}`, () => void navigator.clipboard?.writeText(text), 'mlops-copy');
  return copy;
}
