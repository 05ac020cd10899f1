/**
 * What runs in the project: notebook jobs however they were started, and long operations
 * (data commits, feature materialization) with their progress and time so far.
 */
import { INotebookJob, IOperation, MLOpsClient } from './api';
import { age, button, clock, h, table } from './dom';
import { Section } from './section';

/** "42 s", "3 min 5 s", "2 h 4 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ${s % 60} s`;
  }
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function bar(fraction: number): HTMLElement {
  return h('span', { class: 'mlops-bar' }, h('span', { class: 'mlops-bar-fill', style: `width:${Math.round(100 * Math.min(1, fraction))}%` }));
}

/**
 * Every notebook job of the project, however it was started (%mlops run, mlops-lab run, a
 * pipeline, Run as job…, a schedule), with its cell progress, cancel while it runs here, and
 * its executed notebook (or, for a job that ran in a pod, its MLflow run) one click away.
 */
export class NotebookRunsSection extends Section {
  constructor(
    private readonly client: MLOpsClient,
    private readonly open: (path: string) => Promise<unknown>
  ) {
    super('notebook-runs', 'Notebook jobs');
  }

  protected async load(): Promise<void> {
    const { jobs, folder, tracking_note } = await this.client.notebookJobs();
    const note = tracking_note ? h('div', { class: 'mlops-secondary mlops-tracking-note', title: tracking_note }, 'MLflow jobs not listed (hover)') : null;
    if (!jobs.length) {
      this.show(
        ...[h('div', { class: 'mlops-empty' }, `No notebook jobs yet in ${folder}: %mlops run, mlops-lab run or "Run as job…".`), note].filter(
          (n): n is HTMLElement => n !== null
        )
      );
      return;
    }
    const rows = table(['notebook', 'state', 'started', ''], jobs.map(j => this.row(j)), 'mlops-runs-table');
    this.show(...(note ? [rows, note] : [rows]));
  }

  private row(job: INotebookJob): (Node | string)[] {
    const name = job.notebook.split('/').pop() ?? job.notebook;
    const params = Object.entries(job.parameters)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    const state = h(
      'span',
      { class: `mlops-state mlops-state-${job.state}`, 'data-run': job.id, title: job.error ?? '' },
      job.state
    );
    const progress =
      job.cells && (job.state === 'running' || job.cells_done < job.cells)
        ? h(
            'span',
            {
              class: 'mlops-progress',
              'data-progress': `${job.cells_done}/${job.cells}`,
              title: job.running_cell ? `running cell ${job.running_cell} of ${job.cells}` : `${job.cells_done} of ${job.cells} cells ran`
            },
            bar(job.cells_done / job.cells),
            ` ${job.cells_done}/${job.cells}`
          )
        : null;
    const started = job.started ?? 0;
    const elapsed = job.started ? duration((job.finished ?? Date.now() / 1000) - job.started) : '';
    const origin = job.schedule
      ? h('span', { class: 'mlops-secondary mlops-schedule', title: `started by schedule ${job.schedule} (a Kubernetes CronJob)` }, `schedule ${job.schedule}`)
      : null;
    return [
      h(
        'span',
        { class: 'mlops-job-name' },
        h('span', { class: 'mlops-run-path', title: `${job.notebook}${params ? '\n' + params : ''}\njob ${job.id}` }, name),
        origin
      ),
      h('span', { class: 'mlops-job-state' }, state, progress),
      started ? h('span', { title: `${age(started)}${elapsed ? `, ran ${elapsed}` : ''}` }, clock(started)) : '',
      h('span', { class: 'mlops-actions' }, ...this.actions(job, name))
    ];
  }

  private actions(job: INotebookJob, name: string): (Node | null)[] {
    if (job.mlflow_run_id && !job.output && job.output_note) {
      // recorded only in MLflow (a schedule's pod ran it): its run instead of the notebook
      const title = `MLflow run ${job.mlflow_run_id}\n${job.output_note}`;
      const run = job.mlflow_url
        ? h('a', { class: 'mlops-mlflow-link', href: job.mlflow_url, target: '_blank', rel: 'noopener', title }, 'MLflow')
        : h('span', { class: 'mlops-mlflow-link', title }, `run ${job.mlflow_run_id.slice(0, 8)}`);
      const why = job.cancel_note ? h('span', { class: 'mlops-no-cancel', title: job.cancel_note }, 'cancel') : null;
      return [run, why];
    }
    return [
      job.output || job.output_note ? button('open', job.output ? `Open the executed notebook ${job.output}` : job.output_note ?? '', () => this.openOutput(job)) : null,
      job.cancellable
        ? button(
            'cancel',
            job.state === 'queued' || !job.cells
              ? `Cancel ${name}: it has not run a cell yet and never will`
              : `Cancel ${name}: stop before the next cell and interrupt the running one`,
            () => {
              void this.client.cancelNotebookJob(job.id).then(() => this.refresh(), error => this.fail(error));
            },
            'mlops-stop mlops-cancel-job'
          )
        : null
    ];
  }

  private openOutput(job: INotebookJob): void {
    if (!job.output) {
      this.fail(job.output_note ?? 'the executed notebook cannot be opened from the browser');
      return;
    }
    this.open(job.output).catch(error =>
      this.fail(`${job.output} could not be opened: ${error instanceof Error ? error.message : String(error)}`)
    );
  }
}

/** Finished operations shown under the running ones. */
const RECENT = 5;

/** Long operations (data commits, feature materialization): the running ones with a bar and
 * the time so far, then the last ones that ended. */
export class OperationsSection extends Section {
  constructor(private readonly client: MLOpsClient) {
    super('operations', 'Operations');
  }

  protected async load(): Promise<void> {
    const { operations } = await this.client.operations();
    const running = operations.filter(o => o.state === 'running');
    const ended = operations.filter(o => o.state !== 'running').slice(0, RECENT);
    if (!running.length && !ended.length) {
      this.show(h('div', { class: 'mlops-empty' }, 'No long operations yet: data commits and feature materialization show their progress here.'));
      return;
    }
    this.show(table(['operation', 'state', 'time'], [...running, ...ended].map(o => this.row(o)), 'mlops-operations-table'));
  }

  private row(op: IOperation): (Node | string)[] {
    const count = op.total ? `${op.done}/${op.total}${op.unit ? ` ${op.unit}` : ''}` : op.done ? `${op.done}${op.unit ? ` ${op.unit}` : ''}` : '';
    const progress =
      op.state === 'running'
        ? h('span', { class: 'mlops-progress', 'data-progress': count, title: op.fraction !== null ? `${Math.round(100 * op.fraction)}% done` : 'total not known yet' }, op.fraction !== null ? bar(op.fraction) : null, count ? ` ${count}` : '')
        : null;
    return [
      h('span', { class: 'mlops-operation-label', title: `${op.operation}${op.error ? `\n${op.error}` : ''}` }, op.label),
      h('span', { class: 'mlops-job-state' }, h('span', { class: `mlops-state mlops-state-${op.state}`, title: op.error }, op.state), progress),
      h(
        'span',
        { class: 'mlops-elapsed', title: `started ${clock(op.started)} (${age(op.started)})` },
        op.state === 'running' ? `${duration(op.elapsed)} so far` : duration(op.elapsed)
      )
    ];
  }
}
