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
  parameters: Record<string, string>;
  timeout: number | null;
  cron: string;
  image: string;
}

const RUN_NOW = 'Run now';
const SCHEDULE = 'Schedule';

/** The dialog's body: one input per parameter, a timeout, and the server's message. */
export class RunAsJobBody extends Widget implements Dialog.IBodyWidget<IRunChoice> {
  private readonly inputs = new Map<string, HTMLInputElement>();
  private readonly timeoutInput: HTMLInputElement;
  private readonly cronInput: HTMLInputElement;
  private readonly imageInput: HTMLInputElement;

  constructor(
    readonly path: string,
    readonly parameters: INotebookParameter[],
    values: Record<string, string> = {},
    timeout: number | null = null,
    error = '',
    schedule: { cron: string; image: string } = { cron: '', image: '' }
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
    this.cronInput = h('input', {
      class: 'jp-mod-styled mlops-cron',
      placeholder: '0 2 * * *  or  @daily'
    }) as HTMLInputElement;
    this.cronInput.value = schedule.cron;
    this.imageInput = h('input', {
      class: 'jp-mod-styled mlops-image',
      placeholder: 'image with mlops-lab ([kubernetes] image)'
    }) as HTMLInputElement;
    this.imageInput.value = schedule.image;
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
      h(
        'fieldset',
        { class: 'mlops-params' },
        h('legend', {}, 'Schedule (Kubernetes CronJob)'),
        h('label', { class: 'mlops-param' }, h('span', { class: 'mlops-param-name' }, 'cron'), h('span', {}), this.cronInput),
        h('label', { class: 'mlops-param' }, h('span', { class: 'mlops-param-name' }, 'image'), h('span', {}), this.imageInput)
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
    return {
      parameters,
      timeout: timeout ? Number(timeout) : null,
      cron: this.cronInput.value.trim(),
      image: this.imageInput.value.trim()
    };
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

/** Save the notebook, ask for the parameters, then run it now or schedule it. Returns the
 * id of a run started now, or null (cancelled, scheduled, or failed to start). */
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
  let schedule = { cron: '', image: '' };
  for (;;) {
    const body: RunAsJobBody = new RunAsJobBody(path, parameters, values, timeout, error, schedule);
    const result: Dialog.IResult<IRunChoice> = await showDialog<IRunChoice>({
      title: 'Run as job…',
      body,
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: SCHEDULE, displayType: 'default', className: 'mlops-schedule-button' }),
        Dialog.okButton({ label: RUN_NOW, className: 'mlops-run-button' })
      ],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    const choice = result.value;
    values = body.texts();
    timeout = choice.timeout;
    schedule = { cron: choice.cron, image: choice.image };
    try {
      if (result.button.label === SCHEDULE) {
        if (!choice.cron) {
          error = 'a schedule needs a cron expression, e.g. "0 2 * * *" or @daily';
          continue;
        }
        const made = await client.schedule({
          path,
          cron: choice.cron,
          image: choice.image,
          parameters: choice.parameters,
          timeout: choice.timeout
        });
        Notification.success(`Schedule ${made.name} created in namespace ${made.namespace} (${made.cron})`, {
          autoClose: 6000
        });
        return null;
      }
      const run = await client.runNotebook({
        path,
        parameters: choice.parameters,
        timeout: choice.timeout
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
