/**
 * The "MLOps" left side panel: one section per concern, each loaded from the server
 * extension. It refreshes when shown and on a timer while visible; a section whose call
 * fails shows the server's one-line message and the others still load.
 */
import { Widget } from '@lumino/widgets';

import { ApiError, IJob, IModelVersion, IRegisteredModel, MLOpsClient, INotebookRun } from './api';
import { age, button, h, table } from './dom';

export interface IPanelOptions {
  client: MLOpsClient;
  /** Opens a file of the server's root directory (the executed notebook of a run). */
  open: (path: string) => void;
  /** Milliseconds between refreshes while the panel is visible. */
  interval?: number;
}

abstract class Section {
  readonly node: HTMLElement;
  protected readonly body: HTMLElement;
  private readonly message: HTMLElement;

  constructor(
    readonly id: string,
    title: string
  ) {
    this.body = h('div', { class: 'mlops-section-body' });
    this.message = h('div', { class: 'mlops-message', hidden: '' });
    this.node = h(
      'section',
      { class: `mlops-section mlops-${id}`, 'data-section': id },
      h('h3', { class: 'mlops-section-title' }, title),
      this.message,
      this.body
    );
  }

  async refresh(): Promise<void> {
    try {
      await this.load();
      this.message.hidden = true;
      this.message.textContent = '';
    } catch (error) {
      this.fail(error);
    }
  }

  protected fail(error: unknown): void {
    this.message.hidden = false;
    this.message.textContent = error instanceof ApiError ? error.message : `failed: ${String(error)}`;
  }

  protected show(...nodes: Node[]): void {
    this.body.replaceChildren(...nodes);
  }

  protected abstract load(): Promise<void>;
}

class StatusSection extends Section {
  constructor(private readonly client: MLOpsClient) {
    super('status', 'Backends');
  }

  protected async load(): Promise<void> {
    const status = await this.client.status();
    const rows = status.backends.map(b => [
      h('span', { class: 'mlops-concern', 'data-concern': b.concern }, b.concern),
      b.kind,
      h(
        'span',
        {
          class: b.reachable ? 'mlops-ok' : 'mlops-bad',
          title: b.reason,
          'data-reachable': String(b.reachable)
        },
        b.reachable ? '● up' : '● down'
      ),
      h('span', { class: 'mlops-detail', title: b.target }, b.reason)
    ]);
    this.show(
      h('div', { class: 'mlops-project', title: status.config_file ?? '' }, status.root),
      ...(status.notice ? [h('div', { class: 'mlops-notice' }, status.notice)] : []),
      table(['concern', 'backend', 'state', 'detail'], rows, 'mlops-status-table')
    );
  }
}

class DataSection extends Section {
  constructor(private readonly client: MLOpsClient) {
    super('data', 'Data');
  }

  protected async load(): Promise<void> {
    const [branches, log] = await Promise.all([this.client.branches(), this.client.log(undefined, 5)]);
    const branchRows = branches.branches.map(b => [
      h('span', { class: 'mlops-branch', 'data-branch': b.name }, b.name === branches.default_branch ? `${b.name} (default)` : b.name),
      h('code', { title: b.commit }, b.commit.slice(0, 12))
    ]);
    const commitRows = log.commits.map(c => [
      h('code', { title: c.id }, c.id.slice(0, 12)),
      h('span', { title: c.notebook ? `${c.committer}, from ${c.notebook}` : c.committer }, c.message),
      age(c.created)
    ]);
    this.show(
      branchRows.length
        ? table(['branch', 'commit'], branchRows, 'mlops-branches-table')
        : h('div', { class: 'mlops-empty' }, `No branches yet (${branches.backend} store).`),
      h('div', { class: 'mlops-subtitle' }, `Recent commits on ${log.ref}`),
      commitRows.length
        ? table(['commit', 'message', 'when'], commitRows, 'mlops-commits-table')
        : h('div', { class: 'mlops-empty' }, 'No commits yet: lab.data.commit(...) or %mlops data commit.')
    );
  }
}

/** Registered models with their aliases; a model opens its versions, a version its lineage. */
class ModelsSection extends Section {
  private expanded = new Set<string>();
  private lineageOf: string | null = null;

  constructor(private readonly client: MLOpsClient) {
    super('models', 'Models');
  }

  protected async load(): Promise<void> {
    const { models } = await this.client.models();
    if (!models.length) {
      this.show(h('div', { class: 'mlops-empty' }, 'No registered models yet: lab.models.register(run, name, alias=...).'));
      return;
    }
    const blocks = await Promise.all(models.map(m => this.model(m)));
    const nodes: Node[] = blocks;
    if (this.lineageOf) {
      nodes.push(await this.lineage(this.lineageOf));
    }
    this.show(...nodes);
  }

  private async model(model: IRegisteredModel): Promise<HTMLElement> {
    const open = this.expanded.has(model.name);
    const aliases = Object.entries(model.aliases).map(([alias, version]) =>
      h('span', { class: 'mlops-alias', 'data-alias': alias, title: `${model.name}@${alias} is version ${version}` }, `@${alias} → v${version}`)
    );
    const header = h(
      'div',
      { class: 'mlops-model-header' },
      button(open ? '▾' : '▸', open ? 'Hide versions' : 'Show versions', () => {
        if (open) {
          this.expanded.delete(model.name);
        } else {
          this.expanded.add(model.name);
        }
        void this.refresh();
      }, 'mlops-toggle'),
      h('span', { class: 'mlops-model-name' }, model.name),
      h('span', { class: 'mlops-model-latest' }, model.latest_version ? `v${model.latest_version}` : 'no versions'),
      ...aliases
    );
    const block = h('div', { class: 'mlops-model', 'data-model': model.name }, header);
    if (open) {
      const { versions } = await this.client.versions(model.name);
      block.append(table(['version', 'aliases', 'metrics', ''], versions.map(v => this.version(v)), 'mlops-versions-table'));
    }
    return block;
  }

  private version(v: IModelVersion): (Node | string)[] {
    const metrics = Object.entries(v.metrics)
      .map(([k, value]) => `${k}=${Number(value).toPrecision(4)}`)
      .join(' ');
    const target = `${v.name}/${v.version}`;
    return [
      h('span', { 'data-version': String(v.version) }, `v${v.version}`),
      v.aliases.map(a => `@${a}`).join(' '),
      h('span', { title: metrics }, metrics),
      button('lineage', `Where ${target} came from and what used it`, () => {
        this.lineageOf = this.lineageOf === target ? null : target;
        void this.refresh();
      })
    ];
  }

  private async lineage(target: string): Promise<HTMLElement> {
    const walked = await this.client.lineage(target);
    return h(
      'div',
      { class: 'mlops-lineage', 'data-lineage': target },
      h('div', { class: 'mlops-subtitle' }, `Lineage of ${target}`),
      h(
        'ol',
        { class: 'mlops-lineage-steps' },
        walked.steps.map(s =>
          h('li', { 'data-step': s.step }, h('b', {}, s.step), ` ${s.kind} `, h('code', { title: s.id }, s.id), s.detail ? ` — ${s.detail}` : '')
        )
      )
    );
  }
}

/** Training jobs of the project: state, logs and stop. */
class JobsSection extends Section {
  private logsOf: string | null = null;

  constructor(private readonly client: MLOpsClient) {
    super('jobs', 'Training jobs');
  }

  protected async load(): Promise<void> {
    const listed = await this.client.jobs();
    const nodes: Node[] = [];
    if (listed.notice) {
      nodes.push(h('div', { class: 'mlops-notice' }, listed.notice));
    }
    if (listed.jobs.length) {
      nodes.push(table(['job', 'state', 'started', ''], listed.jobs.map(j => this.row(j)), 'mlops-jobs-table'));
    } else if (!listed.notice) {
      nodes.push(h('div', { class: 'mlops-empty' }, `No jobs on ${listed.backend}.`));
    }
    if (this.logsOf) {
      const logs = await this.client.jobLogs(this.logsOf);
      nodes.push(
        h('div', { class: 'mlops-subtitle' }, `Logs of ${logs.job_id}${logs.truncated ? ' (last part)' : ''}`),
        h('pre', { class: 'mlops-logs', 'data-logs': logs.job_id }, logs.logs || '(no output yet)')
      );
    }
    this.show(...nodes);
  }

  private row(job: IJob): (Node | string)[] {
    const active = job.state === 'pending' || job.state === 'running';
    return [
      h('span', { title: job.job_id, 'data-job': job.job_id }, job.name || job.job_id),
      h('span', { class: `mlops-state mlops-state-${job.state}`, title: job.failure ? `${job.failure}: ${job.reason}` : job.reason }, job.state),
      job.start_time ? age(job.start_time) : '',
      h(
        'span',
        {},
        button('logs', `Show the output of ${job.job_id}`, () => {
          this.logsOf = this.logsOf === job.job_id ? null : job.job_id;
          void this.refresh();
        }),
        active
          ? button('stop', `Stop ${job.job_id}`, () => {
              void this.client.stopJob(job.job_id).then(() => this.refresh(), error => this.fail(error));
            }, 'mlops-stop')
          : null
      )
    ];
  }
}

class NotebookRunsSection extends Section {
  constructor(
    private readonly client: MLOpsClient,
    private readonly open: (path: string) => void
  ) {
    super('notebook-runs', 'Notebook jobs');
  }

  protected async load(): Promise<void> {
    const { runs } = await this.client.notebookRuns();
    if (!runs.length) {
      this.show(h('div', { class: 'mlops-empty' }, 'No notebook runs yet: use "Run as job…" on a notebook.'));
      return;
    }
    this.show(table(['notebook', 'state', 'started', ''], runs.map(r => this.row(r)), 'mlops-runs-table'));
  }

  private row(run: INotebookRun): (Node | string)[] {
    const state = h(
      'span',
      { class: `mlops-state mlops-state-${run.state}`, 'data-run': run.id, title: run.error ?? '' },
      run.state
    );
    const output = run.output;
    return [
      h(
        'span',
        { class: 'mlops-run-path', title: `${run.path} ${JSON.stringify(run.parameters)}` },
        run.path.split('/').pop() ?? run.path
      ),
      state,
      age(run.started),
      output ? button('open', `Open the executed notebook ${output}`, () => this.open(output)) : ''
    ];
  }
}

export class MLOpsPanel extends Widget {
  private readonly sections: Section[];
  private timer: number | undefined;
  private readonly interval: number;
  private refreshing: Promise<void> | null = null;

  constructor(options: IPanelOptions) {
    super();
    this.id = 'mlops-lab-panel';
    this.addClass('mlops-panel');
    this.title.caption = 'MLOps';
    this.interval = options.interval ?? 5000;
    this.sections = [
      new StatusSection(options.client),
      new DataSection(options.client),
      new ModelsSection(options.client),
      new JobsSection(options.client),
      new NotebookRunsSection(options.client, options.open)
    ];
    const header = h(
      'div',
      { class: 'mlops-header' },
      h('h2', {}, 'MLOps'),
      button('⟳', 'Refresh now', () => void this.refresh(), 'mlops-refresh')
    );
    this.node.append(header, ...this.sections.map(s => s.node));
  }

  /** Reload every section (at most one refresh runs at a time). */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = Promise.all(this.sections.map(s => s.refresh())).then(() => {
        this.refreshing = null;
        this.node.dataset.refreshed = String(Date.now());
      });
    }
    return this.refreshing;
  }

  protected onAfterShow(): void {
    void this.refresh();
    this.stopTimer();
    this.timer = window.setInterval(() => {
      if (this.isVisible) {
        void this.refresh();
      }
    }, this.interval);
  }

  protected onAfterHide(): void {
    this.stopTimer();
  }

  dispose(): void {
    this.stopTimer();
    super.dispose();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) {
      window.clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
