/** Which metrics of a model version lead its row, and how they are written. */

/** Bookkeeping figures that are never the number people compare. */
const COUNTERS = new Set(['epoch', 'epochs', 'step', 'steps', 'iteration', 'time_s', 'duration_s']);
/** Metrics that say how good a model is, the first present leads the row. */
const KEY_METRICS = ['auc', 'roc_auc', 'val_auc', 'f1', 'val_f1', 'accuracy', 'val_accuracy', 'r2', 'rmse', 'val_rmse', 'mae', 'val_loss', 'loss'];

export function orderMetrics(metrics: Record<string, number>): [string, number][] {
  const rank = (name: string) => {
    const key = KEY_METRICS.indexOf(name.toLowerCase());
    if (key >= 0) {
      return key;
    }
    return COUNTERS.has(name.toLowerCase()) ? 1000 : 100;
  };
  return Object.entries(metrics).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

export function formatMetric(value: number): string {
  const n = Number(value);
  return Number.isInteger(n) ? String(n) : n.toPrecision(4);
}
