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

/**
 * The metrics text once the work is done and the action counters have settled: the server
 * publishes its metrics periodically (about every second), so read until they stop changing
 * (at most ~6 s).
 */
export async function fetchSettledMetrics(url: string, namespace?: string): Promise<string> {
  let text = await fetchMetrics(url);
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const again = await fetchMetrics(url);
    const settled = total(parseActionCounters(again, namespace)) === total(parseActionCounters(text, namespace));
    text = again;
    if (settled && i > 0) break;
  }
  return text;
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

export interface HistogramTotals {
  count: number;
  /** In the unit the server exports (seconds for Temporal's timers). */
  sum: number;
}

/** `<name>_sum` / `<name>_count` lines of the given histograms, summed by the `operation` label. */
export function parseHistograms(metricsText: string, names: readonly string[]): Record<string, Record<string, HistogramTotals>> {
  const out: Record<string, Record<string, HistogramTotals>> = {};
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)_(sum|count)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m || !names.includes(m[1]!)) continue;
    const op = /(?:^|,)operation="([^"]*)"/.exec(m[3]!)?.[1] ?? 'none';
    const value = Number(m[4]);
    if (!Number.isFinite(value)) continue;
    const byOp = (out[m[1]!] ??= {});
    const h = (byOp[op] ??= { count: 0, sum: 0 });
    if (m[2] === 'sum') h.sum += value;
    else h.count += value;
  }
  return out;
}

export interface HistogramDiff {
  count: number;
  /** Mean in milliseconds (the server exports seconds). */
  meanMs: number;
  totalMs: number;
}

export function diffHistograms(
  before: Record<string, Record<string, HistogramTotals>>,
  after: Record<string, Record<string, HistogramTotals>>,
): Record<string, Record<string, HistogramDiff>> {
  const out: Record<string, Record<string, HistogramDiff>> = {};
  for (const [name, ops] of Object.entries(after)) {
    const rows: Array<[string, HistogramDiff]> = [];
    for (const [op, h] of Object.entries(ops)) {
      const b = before[name]?.[op] ?? { count: 0, sum: 0 };
      const count = h.count - b.count;
      if (count <= 0) continue;
      const totalMs = (h.sum - b.sum) * 1000;
      rows.push([op, { count, meanMs: Math.round((totalMs / count) * 100) / 100, totalMs: Math.round(totalMs) }]);
    }
    rows.sort((x, y) => y[1].totalMs - x[1].totalMs);
    out[name] = Object.fromEntries(rows);
  }
  return out;
}
