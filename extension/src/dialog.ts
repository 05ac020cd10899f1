/**
 * "Run as job…": a dialog filled from the notebook's `parameters` cell. The server checks
 * the values (names, types, secret-looking names); its one-line refusal is shown in the
 * dialog, which opens again with the values kept.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { ApiError, INotebookParameter, MLOpsClient } from './api';
import { h } from './dom';

export interface IRunChoice {
  mode: 'now';
  parameters: Record<string, string>;
  timeout: number | null;
}

/** The dialog's body: one input per parameter, a timeout, and the server's message. */
export class RunAsJobBody extends Widget implements Dialog.IBodyWidget<IRunChoice> {
  private readonly inputs = new Map<string, HTMLInputElement>();
  private readonly timeoutInput: HTMLInputElement;

  constructor(
    readonly path: string,
    readonly parameters: INotebookParameter[],
    values: Record<string, string> = {},
    timeout: number | null = null,
    error = ''
  ) {
    super();
    this.addClass('mlops-run-dialog');
    const rows = parameters.map(p => {
      const input = h('input', {
        class: 'jp-mod-styled mlops-param-input',
        name: p.name,
        'data-param': p.name,
        title: p.help || `${p.type}, default ${p.default}`
      }) as HTMLInputElement;
      input.value = values[p.name] ?? toText(p);
      this.inputs.set(p.name, input);
      return h(
        'label',
        { class: 'mlops-param' },
        h('span', { class: 'mlops-param-name' }, p.name),
        h('span', { class: 'mlops-param-type' }, p.type),
        input
      );
    });
    this.timeoutInput = h('input', {
      class: 'jp-mod-styled mlops-timeout',
      type: 'number',
      min: '1',
      placeholder: 'no limit'
    }) as HTMLInputElement;
    if (timeout !== null) {
      this.timeoutInput.value = String(timeout);
    }
    this.node.append(
      h('div', { class: 'mlops-run-path' }, `Runs ${path} with papermill in the MLOps kernel, tracked in MLflow.`),
      h(
        'fieldset',
        { class: 'mlops-params' },
        h('legend', {}, 'Parameters'),
        rows.length ? rows : h('div', { class: 'mlops-empty' }, 'The parameters cell sets none.')
      ),
      h(
        'label',
        { class: 'mlops-param' },
        h('span', { class: 'mlops-param-name' }, 'cell timeout'),
        h('span', { class: 'mlops-param-type' }, 's'),
        this.timeoutInput
      ),
      h('div', { class: 'mlops-dialog-error', role: 'alert', hidden: error ? undefined : '' }, error)
    );
  }

  getValue(): IRunChoice {
    const parameters: Record<string, string> = {};
    for (const p of this.parameters) {
      const text = this.inputs.get(p.name)!.value;
      // only what the user changed is sent: the notebook keeps its own defaults
      if (text !== toText(p)) {
        parameters[p.name] = text;
      }
    }
    const timeout = this.timeoutInput.value.trim();
    return { mode: 'now', parameters, timeout: timeout ? Number(timeout) : null };
  }

  /** Every input's current text (to reopen the dialog with them after a refusal). */
  texts(): Record<string, string> {
    const out: Record<string, string> = {};
    this.inputs.forEach((input, name) => (out[name] = input.value));
    return out;
  }
}

/** A default as the user would type it: strings without their quotes. */
function toText(p: INotebookParameter): string {
  const d = p.default.trim();
  if (p.type === 'str' && d.length >= 2 && (d[0] === '"' || d[0] === "'") && d[d.length - 1] === d[0]) {
    return d.slice(1, -1);
  }
  return d;
}

/** Save the notebook, ask for the parameters, start the run; returns the run id or null. */
export async function runAsJob(client: MLOpsClient, panel: NotebookPanel): Promise<string | null> {
  const context = panel.context;
  if (context.model.dirty) {
    await context.save();
  }
  const path = context.path;
  let parameters: INotebookParameter[];
  try {
    parameters = (await client.notebookParameters(path)).parameters;
  } catch (error) {
    await showDialog({
      title: 'Cannot run as job',
      body: error instanceof ApiError ? error.message : String(error),
      buttons: [Dialog.okButton()]
    });
    return null;
  }
  let values: Record<string, string> = {};
  let timeout: number | null = null;
  let error = '';
  for (;;) {
    const body: RunAsJobBody = new RunAsJobBody(path, parameters, values, timeout, error);
    const result: Dialog.IResult<IRunChoice> = await showDialog<IRunChoice>({
      title: 'Run as job…',
      body,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run now' })],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    values = body.texts();
    timeout = result.value.timeout;
    try {
      const run = await client.runNotebook({
        path,
        parameters: result.value.parameters,
        timeout: result.value.timeout
      });
      Notification.success(`Notebook job started: ${path} (follow it in the MLOps panel)`, {
        autoClose: 4000
      });
      return run.id;
    } catch (caught) {
      if (caught instanceof ApiError && caught.status >= 400 && caught.status < 500) {
        error = caught.message;
        continue;
      }
      await showDialog({
        title: 'Notebook job failed to start',
        body: caught instanceof ApiError ? caught.message : String(caught),
        buttons: [Dialog.okButton()]
      });
      return null;
    }
  }
}
