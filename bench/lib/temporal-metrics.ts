/**
 * The Temporal dev server's Prometheus endpoint (`--metrics-port`): the `action` counter
 * (what Temporal Cloud bills, labelled by `action_type`) summed per action type, so two
 * snapshots give the actions a piece of work cost. See shared/reference/temporal-notes.md §7.
 */

export type ActionCounts = Record<string, number>;

/** Sums `action{...action_type="X"...} N` lines by action type (other labels are summed over). */
export function parseActionCounters(metricsText: string, namespace?: string): ActionCounts {
  const out: ActionCounts = {};
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('action{')) continue;
    const close = line.lastIndexOf('}');
    const labels = line.slice('action{'.length, close);
    const value = Number(line.slice(close + 1).trim().split(/\s+/)[0]);
    if (!Number.isFinite(value)) continue;
    const type = /(?:^|,)action_type="([^"]*)"/.exec(labels)?.[1] ?? 'unknown';
    const ns = /(?:^|,)namespace="([^"]*)"/.exec(labels)?.[1];
    if (namespace && ns !== undefined && ns !== namespace) continue;
    out[type] = (out[type] ?? 0) + value;
  }
  return out;
}

export async function fetchMetrics(url: string, timeoutMs = 5_000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.text();
}

export function diffCounts(before: ActionCounts, after: ActionCounts): ActionCounts {
  const out: ActionCounts = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

export function total(counts: ActionCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
