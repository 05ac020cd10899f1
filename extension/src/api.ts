/**
 * Typed client of the mlops-lab server extension. The interfaces mirror the pydantic models
 * in mlops_lab/server/models.py; every call goes through requestAPI, which adds the token
 * and XSRF headers (ServerConnection) and turns an error body into an ApiError.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PREFIX = 'mlops-lab/api';

export interface IBackend {
  concern: string;
  kind: string;
  target: string;
  reachable: boolean;
  reason: string;
}

export interface IStatus {
  root: string;
  config_file: string | null;
  notice: string | null;
  backends: IBackend[];
}

export interface IBranch {
  name: string;
  commit: string;
}

export interface IBranches {
  backend: string;
  default_branch: string;
  branches: IBranch[];
}

export interface ICommit {
  id: string;
  message: string;
  committer: string;
  /** Seconds since the epoch. */
  created: number;
  notebook: string;
}

export interface ILog {
  ref: string;
  commits: ICommit[];
}

export interface IChange {
  path: string;
  kind: 'added' | 'removed' | 'changed';
  size: number | null;
}

export interface IDiff {
  left: string;
  /** null: the uncommitted changes on `left`. */
  right: string | null;
  changes: IChange[];
}

export interface IRun {
  run_id: string;
  name: string;
  status: string;
  start: number | null;
  end: number | null;
  metrics: Record<string, number>;
  params: Record<string, string>;
  parent_run_id: string | null;
}

export interface IRuns {
  experiment: string;
  runs: IRun[];
}

export interface IRegisteredModel {
  name: string;
  latest_version: number | null;
  /** alias -> version */
  aliases: Record<string, number>;
  description: string;
  updated: number | null;
}

export interface IModels {
  models: IRegisteredModel[];
}

export interface IModelVersion {
  name: string;
  version: number;
  aliases: string[];
  run_id: string | null;
  status: string;
  created: number | null;
  metrics: Record<string, number>;
  description: string;
}

export interface IModelVersions {
  name: string;
  versions: IModelVersion[];
}

export interface ILineageStep {
  step: string;
  kind: string;
  id: string;
  detail: string;
}

export interface ILineage {
  target: string;
  steps: ILineageStep[];
}

export interface IJob {
  job_id: string;
  name: string;
  /** pending, running, succeeded, failed or stopped */
  state: string;
  failure: string | null;
  reason: string;
  start_time: number | null;
  end_time: number | null;
}

export interface IJobs {
  backend: string;
  notice: string | null;
  jobs: IJob[];
}

export interface IJobLogs {
  job_id: string;
  logs: string;
  truncated: boolean;
}

export interface IJobStop {
  job_id: string;
  stopped: boolean;
}

export interface INotebookParameter {
  name: string;
  /** int, float, bool, str, list, dict or any. */
  type: string;
  /** The default as written in the parameters cell. */
  default: string;
  help: string;
}

export interface INotebookParameters {
  path: string;
  parameters: INotebookParameter[];
}

export interface IRunNotebookRequest {
  path: string;
  /** Values by name; strings are read as the CLI's `-p` reads them. */
  parameters: Record<string, unknown>;
  timeout?: number | null;
}

export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface INotebookRun {
  id: string;
  path: string;
  parameters: Record<string, unknown>;
  state: RunState;
  started: number;
  finished: number | null;
  output: string | null;
  mlflow_run_id: string | null;
  error: string | null;
}

export interface INotebookRuns {
  runs: INotebookRun[];
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'stopped';

/** A notebook job however it was started (magic, CLI, pipeline, panel). */
export interface INotebookJob {
  id: string;
  notebook: string;
  parameters: Record<string, unknown>;
  state: JobState;
  started: number | null;
  finished: number | null;
  cells: number;
  cells_done: number;
  /** 1-based position of the cell that runs now. */
  running_cell: number | null;
  /** Executed notebook relative to the root directory, when Jupyter can open it. */
  output: string | null;
  /** Why the executed notebook cannot be opened (and what to do). */
  output_note: string | null;
  error: string | null;
  cancellable: boolean;
  /** Why a running job cannot be cancelled from here. */
  cancel_note: string | null;
  /** The schedule that started the job (its pod ran it in Kubernetes). */
  schedule: string | null;
  mlflow_run_id: string | null;
  /** The job's run in the MLflow UI, when one is configured. */
  mlflow_url: string | null;
}

export interface INotebookJobs {
  folder: string;
  jobs: INotebookJob[];
  /** Why jobs recorded only in MLflow (a schedule's) could not be listed. */
  tracking_note: string | null;
}

export type OperationState = 'running' | 'succeeded' | 'failed' | 'stopped';

/** A long operation (a data commit, a feature materialization) and how far it got. */
export interface IOperation {
  operation: string;
  label: string;
  done: number;
  total: number | null;
  unit: string;
  state: OperationState;
  started: number;
  /** Seconds so far (to its end once it ended). */
  elapsed: number;
  /** Share done, when the total is known. */
  fraction: number | null;
  error: string;
}

export interface IOperations {
  operations: IOperation[];
}

export interface INotebookJobCancel {
  id: string;
  message: string;
}

export interface IScheduleRequest {
  path: string;
  /** Five cron fields or a macro (@daily). */
  cron: string;
  /** Empty: the project's [kubernetes] image. */
  image?: string;
  parameters: Record<string, unknown>;
  name?: string;
  timeout?: number | null;
  /** Check everything and answer the manifests as YAML; create nothing. */
  dry_run?: boolean;
}

export interface ISchedule {
  name: string;
  namespace: string;
  cron: string;
  image: string;
  created: boolean;
  yaml: string;
}

export interface IEndpointVersion {
  variant: 'stable' | 'canary';
  model: string;
  version: string;
  /** Percent of requests it answers. */
  weight: number;
  /** Validation verdict: passed, failed or none. */
  gate: string;
  rate_per_s: number;
  error_rate: number;
  p50_ms?: number | null;
  p99_ms?: number | null;
}

export interface IEndpoint {
  endpoint: string;
  /** serving, stopped or down */
  state: string;
  url: string;
  revision?: number | null;
  /** What made the current revision (deploy, canary, promote, rollback...). */
  action?: string;
  note?: string;
  detail?: string;
  /** A canary to drop or a previous stable to return to. */
  can_rollback?: boolean;
  versions: IEndpointVersion[];
}

export interface IEndpoints {
  endpoints: IEndpoint[];
}

export interface IDeployRequest {
  /** A registered version: NAME/VERSION or NAME@ALIAS. */
  model: string;
  /** Percent of requests for the new version beside the stable one. */
  canary?: number;
}

export interface IWeightRequest {
  /** Percent of requests for the canary. */
  weight: number;
}

export interface IEndpointChange {
  endpoint: string;
  revision: number;
  action: string;
  /** The split after the change. */
  traffic: string;
  /** One line saying what changed. */
  message: string;
}

export interface IDriftSummary {
  title: string;
  /** Share of tested columns that drifted. */
  share: number;
  drifted: string[];
  /** How many columns were tested. */
  columns: number;
}

export interface ICanaryDrift {
  endpoint: string;
  window: string;
  stable: string;
  canary: string;
  canary_rows: number;
  stable_rows: number;
  /** The larger share of drifted input columns (vs training, vs stable). */
  share: number;
  /** One line: inputs and predictions drifted vs training and vs stable. */
  summary: string;
  inputs_vs_training?: IDriftSummary | null;
  inputs_vs_stable?: IDriftSummary | null;
  /** The canary's predictions against what its version predicted on its training data. */
  predictions_vs_training?: IDriftSummary | null;
  predictions_vs_stable?: IDriftSummary | null;
  notes?: string[];
  /** The rollback the [serving] rollback_on_drift policy made. */
  rolled_back?: IEndpointChange | null;
}

export interface IErrorBody {
  kind: string;
  message: string;
}

/** A refused or failed call: the HTTP status and the server's one-line message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_PREFIX, endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(0, 'NetworkError', `cannot reach the Jupyter server: ${error}`);
  }
  const text = await response.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const body = (data as { error?: IErrorBody } | undefined)?.error;
    throw new ApiError(
      response.status,
      body?.kind ?? 'HTTPError',
      body?.message ?? `HTTP ${response.status} ${response.statusText} from ${endpoint}`
    );
  }
  return data as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

function post(body: unknown): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/** One method per route of the server extension. */
export class MLOpsClient {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  private get<T>(endpoint: string): Promise<T> {
    return requestAPI<T>(endpoint, {}, this.settings);
  }

  status(timeout?: number): Promise<IStatus> {
    return this.get(`status${query({ timeout })}`);
  }

  branches(): Promise<IBranches> {
    return this.get('data/branches');
  }

  log(ref?: string, limit?: number): Promise<ILog> {
    return this.get(`data/log${query({ ref, limit })}`);
  }

  diff(left?: string, right?: string): Promise<IDiff> {
    return this.get(`data/diff${query({ left, right })}`);
  }

  runs(experiment?: string, limit?: number): Promise<IRuns> {
    return this.get(`runs${query({ experiment, limit })}`);
  }

  models(): Promise<IModels> {
    return this.get('models');
  }

  versions(name: string): Promise<IModelVersions> {
    return this.get(`models/${encodeURIComponent(name)}/versions`);
  }

  lineage(target: string): Promise<ILineage> {
    return this.get(`lineage${query({ target })}`);
  }

  jobs(): Promise<IJobs> {
    return this.get('jobs');
  }

  jobLogs(jobId: string, tail?: number): Promise<IJobLogs> {
    return this.get(`jobs/${encodeURIComponent(jobId)}/logs${query({ tail })}`);
  }

  stopJob(jobId: string): Promise<IJobStop> {
    return requestAPI(`jobs/${encodeURIComponent(jobId)}/stop`, { method: 'POST', body: '{}' }, this.settings);
  }

  notebookParameters(path: string): Promise<INotebookParameters> {
    return this.get(`notebooks/parameters${query({ path })}`);
  }

  runNotebook(request: IRunNotebookRequest): Promise<INotebookRun> {
    return requestAPI(`notebooks/runs`, post(request), this.settings);
  }

  schedule(request: IScheduleRequest): Promise<ISchedule> {
    return requestAPI('notebooks/schedules', post(request), this.settings);
  }

  notebookRuns(): Promise<INotebookRuns> {
    return this.get('notebooks/runs');
  }

  notebookJobs(): Promise<INotebookJobs> {
    return this.get('notebooks/jobs');
  }

  operations(): Promise<IOperations> {
    return this.get('operations');
  }

  cancelNotebookJob(id: string): Promise<INotebookJobCancel> {
    return requestAPI(`notebooks/jobs/${encodeURIComponent(id)}/cancel`, post({}), this.settings);
  }

  notebookRun(id: string): Promise<INotebookRun> {
    return this.get(`notebooks/runs/${encodeURIComponent(id)}`);
  }
  endpoints(): Promise<IEndpoints> {
    return this.get('serving/endpoints');
  }

  deploy(endpoint: string, request: IDeployRequest): Promise<IEndpointChange> {
    return requestAPI(`serving/endpoints/${encodeURIComponent(endpoint)}/deploy`, post(request), this.settings);
  }

  setWeight(endpoint: string, request: IWeightRequest): Promise<IEndpointChange> {
    return requestAPI(`serving/endpoints/${encodeURIComponent(endpoint)}/weight`, post(request), this.settings);
  }

  promote(endpoint: string): Promise<IEndpointChange> {
    return requestAPI(`serving/endpoints/${encodeURIComponent(endpoint)}/promote`, post({}), this.settings);
  }

  canaryDrift(endpoint: string, window?: string): Promise<ICanaryDrift> {
    return this.get(`serving/endpoints/${encodeURIComponent(endpoint)}/drift${query({ window })}`);
  }

  rollback(endpoint: string): Promise<IEndpointChange> {
    return requestAPI(`serving/endpoints/${encodeURIComponent(endpoint)}/rollback`, post({}), this.settings);
  }
}
