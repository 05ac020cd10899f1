/**
 * The "MLOps" left side panel: one section per concern, each loaded from the server
 * extension. It refreshes when shown and on a timer while visible; a section whose call
 * fails shows the server's one-line message and the others still load.
 */
import { Widget } from '@lumino/widgets';

import {
  ApiError,
  ICanaryDrift,
  IEndpoint,
  IEndpointChange,
  IEndpointVersion,
  IJob,
  IModelVersion,
  IRegisteredModel,
  MLOpsClient
} from './api';
import { NotebookRunsSection, OperationsSection } from './activity';
import { lineageGraph } from './lineage';
import { formatMetric, orderMetrics } from './metrics';
import { age, button, clock, h, table } from './dom';
import { Section } from './section';

export interface IPanelOptions {
  client: MLOpsClient;
  /** Opens a file of the server's root directory (the executed notebook of a run). */
  open: (path: string) => Promise<unknown>;
  /** Milliseconds between refreshes while the panel is visible. */
  interval?: number;
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
    const ordered = orderMetrics(v.metrics);
    const all = ordered.map(([k, value]) => `${k}=${formatMetric(value)}`).join(' ');
    const [key, ...rest] = ordered;
    const target = `${v.name}/${v.version}`;
    return [
      h('span', { 'data-version': String(v.version) }, `v${v.version}`),
      v.aliases.map(a => `@${a}`).join(' '),
      h(
        'span',
        { class: 'mlops-metrics', title: all },
        key ? h('b', { class: 'mlops-key-metric', 'data-metric': key[0] }, `${key[0]}=${formatMetric(key[1])}`) : '',
        rest.length ? ` ${rest.map(([k, value]) => `${k}=${formatMetric(value)}`).join(' ')}` : ''
      ),
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
      lineageGraph(walked.steps)
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
      h(
        'span',
        { class: 'mlops-job-name', title: job.job_id, 'data-job': job.job_id },
        job.name || job.job_id,
        job.name ? h('span', { class: 'mlops-secondary' }, ` ${job.job_id.replace(/^raysubmit_/, '').slice(-6)}`) : ''
      ),
      h('span', { class: `mlops-state mlops-state-${job.state}`, title: job.failure ? `${job.failure}: ${job.reason}` : job.reason }, job.state),
      job.start_time ? h('span', { title: age(job.start_time) }, clock(job.start_time)) : '',
      h(
        'span',
        { class: 'mlops-actions' },
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

/**
 * One endpoint: its versions with weights, live figures and gate verdicts, and the buttons
 * Deploy, Set weight, Promote and Rollback. Each button first asks for confirmation; while a
 * change is in flight every button of the card is disabled; the result stays as one line.
 * The card keeps its inputs and result across the section's refreshes.
 */
class EndpointCard {
  readonly node: HTMLElement;
  private readonly header = h('div', { class: 'mlops-endpoint-header' });
  private readonly traffic = h('div', { class: 'mlops-endpoint-traffic' });
  private readonly versionSelect = h('select', { class: 'jp-mod-styled mlops-deploy-version', title: 'Version to deploy' }) as HTMLSelectElement;
  private readonly canaryInput = h('input', { class: 'jp-mod-styled mlops-canary', type: 'number', min: '0', max: '100', value: '10', title: 'Canary %' }) as HTMLInputElement;
  private readonly weightInput = h('input', { class: 'jp-mod-styled mlops-weight', type: 'number', min: '0', max: '100', value: '50', title: 'Canary weight %' }) as HTMLInputElement;
  private readonly buttons: HTMLButtonElement[];
  private readonly promoteButton: HTMLButtonElement;
  private readonly rollbackButton: HTMLButtonElement;
  private readonly weightButton: HTMLButtonElement;
  private readonly question = h('span', { class: 'mlops-question' });
  private readonly confirmRow: HTMLElement;
  private readonly result = h('div', { class: 'mlops-result', 'data-result': '' });
  private readonly drift = h('div', { class: 'mlops-canary-drift', hidden: '' });
  /** The canary whose drift is shown (NAME/VERSION@revision): drift is fetched once per canary
   * and on the drift button, not at every refresh. */
  private driftOf = '';
  private pending: (() => Promise<IEndpointChange>) | null = null;
  private busy = false;
  private status: IEndpoint | null = null;

  constructor(
    readonly name: string,
    private readonly client: MLOpsClient,
    private readonly changed: () => void
  ) {
    const deployButton = button('Deploy', 'Deploy the chosen version as a canary', () => this.askDeploy(), 'mlops-deploy') as HTMLButtonElement;
    this.weightButton = button('Set weight', 'Send this share of requests to the canary', () => this.askWeight(), 'mlops-set-weight') as HTMLButtonElement;
    this.promoteButton = button('Promote', 'Make the canary stable and @champion', () => this.askPromote(), 'mlops-promote') as HTMLButtonElement;
    this.rollbackButton = button('Rollback', 'All traffic back to the previous stable', () => this.askRollback(), 'mlops-rollback') as HTMLButtonElement;
    const confirmButton = button('Confirm', 'Apply the change', () => void this.confirm(), 'mlops-confirm') as HTMLButtonElement;
    this.buttons = [deployButton, this.weightButton, this.promoteButton, this.rollbackButton, confirmButton];
    this.confirmRow = h(
      'div',
      { class: 'mlops-confirm-row', hidden: '' },
      this.question,
      confirmButton,
      button('Cancel', 'Do not apply it', () => this.cancel(), 'mlops-cancel')
    );
    this.node = h(
      'div',
      { class: 'mlops-endpoint', 'data-endpoint': name },
      this.header,
      this.traffic,
      this.drift,
      h('div', { class: 'mlops-endpoint-actions' }, this.versionSelect, h('label', { class: 'mlops-inline' }, 'canary %', this.canaryInput), deployButton),
      h('div', { class: 'mlops-endpoint-actions' }, h('label', { class: 'mlops-inline' }, 'weight %', this.weightInput), this.weightButton, this.promoteButton, this.rollbackButton),
      this.confirmRow,
      this.result
    );
  }

  update(status: IEndpoint, versions: IModelVersion[]): void {
    this.status = status;
    this.header.replaceChildren(
      h('b', { class: 'mlops-endpoint-name' }, status.endpoint),
      ' ',
      h('span', { class: `mlops-state mlops-state-${status.state}`, title: status.detail ?? '' }, status.state),
      status.revision ? h('span', { class: 'mlops-revision', title: status.note ?? '' }, ` r${status.revision} ${status.action ?? ''}`) : ''
    );
    const rows = status.versions.map(v => this.row(v));
    this.traffic.replaceChildren(
      rows.length ? table(['', 'version', 'weight', 'req/s', 'err', 'p50/p99 ms'], rows, 'mlops-endpoint-table') : h('div', { class: 'mlops-empty' }, 'not serving')
    );
    const chosen = this.versionSelect.value;
    this.versionSelect.replaceChildren(
      ...versions.map(v => {
        const ref = `${v.name}/${v.version}`;
        const label = `v${v.version}${v.aliases.length ? ' ' + v.aliases.map(a => '@' + a).join(' ') : ''}`;
        return h('option', { value: ref }, label);
      })
    );
    if (versions.some(v => `${v.name}/${v.version}` === chosen)) {
      this.versionSelect.value = chosen;
    }
    const canary = status.versions.find(v => v.variant === 'canary');
    if (canary && document.activeElement !== this.weightInput && !this.pending) {
      this.weightInput.value = String(canary.weight);
    }
    this.setBusy(this.busy);
    const key = canary ? `${canary.model}/${canary.version}@${status.revision}` : '';
    if (!key) {
      this.driftOf = '';
      this.drift.hidden = true;
    } else if (key !== this.driftOf) {
      this.driftOf = key;
      void this.loadDrift();
    }
  }

  /** The canary's input and prediction drift (and a rollback the drift policy made). */
  private async loadDrift(): Promise<void> {
    this.drift.hidden = false;
    this.drift.replaceChildren(h('em', {}, 'checking canary drift…'));
    try {
      const drift = await this.client.canaryDrift(this.name);
      this.showDrift(drift);
      if (drift.rolled_back) {
        this.say(`rolled back: ${drift.rolled_back.message}`, false);
        this.changed();
      }
    } catch (error) {
      this.drift.replaceChildren(
        h('span', { class: 'mlops-detail' }, `canary drift: ${error instanceof ApiError ? error.message : String(error)}`)
      );
    }
  }

  private showDrift(drift: ICanaryDrift): void {
    if (drift.canary_rows === 0) {
      this.drift.replaceChildren(
        h(
          'div',
          { class: 'mlops-drift-head mlops-drift-idle', 'data-share': '', title: (drift.notes ?? []).join(' ') },
          `canary ${drift.canary} drift: no traffic yet in the last ${drift.window}; it is checked once the canary has answered requests`,
          button('⟳', 'Check the canary drift again', () => void this.loadDrift(), 'mlops-drift-refresh')
        )
      );
      return;
    }
    const level = drift.share >= 0.5 ? 'mlops-bad' : drift.share > 0 ? 'mlops-warn' : 'mlops-ok';
    const line = (what: string, d: ICanaryDrift['inputs_vs_training']) =>
      d
        ? h(
            'li',
            { 'data-drift': what, title: d.title },
            `${what}: ${d.drifted.length}/${d.columns} drifted`,
            d.drifted.length ? ` (${d.drifted.join(', ')})` : ''
          )
        : null;
    /** Predictions are one column: they moved or they did not. */
    const moved = (what: string, d: ICanaryDrift['predictions_vs_training']) =>
      d ? h('li', { 'data-drift': what, title: d.title }, `${what}: ${d.drifted.length ? 'drifted' : 'steady'}`) : null;
    this.drift.replaceChildren(
      h(
        'div',
        { class: `mlops-drift-head ${level}`, 'data-share': drift.share.toFixed(2), title: (drift.notes ?? []).join(' ') },
        `canary ${drift.canary} drift, last ${drift.window} (${drift.canary_rows} req): ${Math.round(drift.share * 100)}% of inputs`,
        button('⟳', 'Check the canary drift again', () => void this.loadDrift(), 'mlops-drift-refresh')
      ),
      h(
        'ul',
        { class: 'mlops-drift-lines' },
        line('inputs vs training', drift.inputs_vs_training),
        line('inputs vs stable', drift.inputs_vs_stable),
        moved('predictions vs training', drift.predictions_vs_training),
        moved('predictions vs stable', drift.predictions_vs_stable),
        ...(drift.notes ?? []).map(n => h('li', { class: 'mlops-detail' }, n))
      )
    );
  }

  private row(v: IEndpointVersion): (Node | string)[] {
    const figure = (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(1));
    return [
      h('span', { class: `mlops-variant mlops-variant-${v.variant}` }, v.variant),
      h(
        'span',
        { 'data-variant': v.variant, 'data-version': `${v.model}/${v.version}` },
        `${v.model}/${v.version}`,
        v.gate !== 'none' ? h('span', { class: `mlops-gate mlops-gate-${v.gate}`, title: `validation ${v.gate}` }, v.gate === 'passed' ? ' ✓ gate' : ' ✗ gate') : ''
      ),
      h(
        'span',
        { class: 'mlops-weight-cell', 'data-weight': String(v.weight) },
        h('span', { class: 'mlops-bar' }, h('span', { class: 'mlops-bar-fill', style: `width:${v.weight}%` })),
        ` ${v.weight}%`
      ),
      v.rate_per_s.toFixed(1),
      `${(v.error_rate * 100).toFixed(1)}%`,
      `${figure(v.p50_ms)}/${figure(v.p99_ms)}`
    ];
  }

  private askDeploy(): void {
    const ref = this.versionSelect.value;
    const canary = Number(this.canaryInput.value);
    if (!ref) {
      this.say('choose a version to deploy first', false);
      return;
    }
    this.ask(`Deploy ${ref} to ${this.name} as a ${canary}% canary?`, () => this.client.deploy(this.name, { model: ref, canary }));
  }

  private askWeight(): void {
    const weight = Number(this.weightInput.value);
    this.ask(`Send ${weight}% of ${this.name} to the canary?`, () => this.client.setWeight(this.name, { weight }));
  }

  private askPromote(): void {
    this.ask(`Promote the canary of ${this.name} to stable and @champion?`, () => this.client.promote(this.name));
  }

  private askRollback(): void {
    this.ask(`Roll ${this.name} back to its previous stable version?`, () => this.client.rollback(this.name));
  }

  private ask(question: string, change: () => Promise<IEndpointChange>): void {
    if (this.busy) {
      return;
    }
    this.pending = change;
    this.question.textContent = question;
    this.confirmRow.hidden = false;
  }

  private cancel(): void {
    this.pending = null;
    this.confirmRow.hidden = true;
    this.question.textContent = '';
  }

  private async confirm(): Promise<void> {
    const change = this.pending;
    if (!change || this.busy) {
      return;
    }
    this.cancel();
    this.setBusy(true);
    this.say('applying…', true);
    try {
      const done = await change();
      this.say(done.message, true);
    } catch (error) {
      this.say(error instanceof ApiError ? error.message : `failed: ${String(error)}`, false);
    } finally {
      this.setBusy(false);
      this.changed();
    }
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.node.dataset.busy = String(busy);
    const hasCanary = Boolean(this.status?.versions.some(v => v.variant === 'canary'));
    for (const b of this.buttons) {
      b.disabled = busy;
    }
    if (!busy) {
      this.weightButton.disabled = !hasCanary;
      this.promoteButton.disabled = !hasCanary;
      this.rollbackButton.disabled = !this.status?.can_rollback;
    }
  }

  private say(text: string, ok: boolean): void {
    this.result.textContent = text;
    this.result.className = `mlops-result ${ok ? 'mlops-ok' : 'mlops-bad'}`;
  }
}

/** Model endpoints on Ray Serve (or KubeRay) with their traffic and the deploy buttons. */
class EndpointsSection extends Section {
  private readonly cards = new Map<string, EndpointCard>();

  constructor(private readonly client: MLOpsClient) {
    super('endpoints', 'Endpoints');
  }

  protected async load(): Promise<void> {
    const { endpoints } = await this.client.endpoints();
    if (!endpoints.length) {
      this.cards.clear();
      this.show(h('div', { class: 'mlops-empty' }, 'No endpoints yet: %mlops deploy MODEL@ALIAS.'));
      return;
    }
    const models = [...new Set(endpoints.flatMap(e => e.versions.map(v => v.model)))];
    const versions = new Map<string, IModelVersion[]>();
    await Promise.all(
      models.map(async m => {
        versions.set(m, (await this.client.versions(m)).versions);
      })
    );
    const nodes = endpoints.map(e => {
      let card = this.cards.get(e.endpoint);
      if (!card) {
        card = new EndpointCard(e.endpoint, this.client, () => void this.refresh());
        this.cards.set(e.endpoint, card);
      }
      const model = e.versions[0]?.model;
      card.update(e, model ? versions.get(model) ?? [] : []);
      return card.node;
    });
    for (const name of [...this.cards.keys()]) {
      if (!endpoints.some(e => e.endpoint === name)) {
        this.cards.delete(name);
      }
    }
    this.show(...nodes);
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
      new EndpointsSection(options.client),
      new JobsSection(options.client),
      new NotebookRunsSection(options.client, options.open),
      new OperationsSection(options.client)
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
