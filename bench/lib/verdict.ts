/**
 * Whether a system kept up with an offered message rate — one set of rules for taskwire's phase and
 * the raw-Temporal baseline (lib/baseline.ts), so that their sustainable rates compare:
 *
 * - **does not keep up**: accepted < 95 % of offered, the sender missed its own schedule (send lag
 *   p95 > 250 ms), follow-up latency grows during the run (last quarter's p50 > max(2 × first's,
 *   first's + 500 ms)), or not every message arrived;
 * - **saturated**: the rate is accepted but a standing queue holds messages (follow-up p95 > 1 s,
 *   or more than 1 s to drain after the last answer);
 * - **keeps up** otherwise.
 */
import { fmt, summarize, type Summary } from './stats.js';

export interface JudgedMessage {
  /** n-th message of its person / workflow (0 = the first: creates the workflow). */
  seq: number;
  /** The latency judged (answer → visible or done); undefined when it never arrived. */
  latency?: number;
}

export interface VerdictInput {
  /** Offered messages per second. */
  rate: number;
  /** In the order they were sent. */
  messages: JudgedMessage[];
  acceptedRate: number;
  sendLag: Summary;
  complete: boolean;
  /** Last arrival − last answer (NaN: unknown). */
  drainMs: number;
}

export type VerdictName = 'keeps up' | 'saturated' | 'does not keep up';

export interface Verdict {
  verdict: VerdictName;
  keepsUp: boolean;
  /** Why it does not keep up (empty when it does). */
  reasons: string[];
  /** Why it is saturated (may be non-empty when it does not keep up either). */
  saturation: string[];
  followUp: Summary;
}

export interface TrendBucket {
  from: number;
  to: number;
  p50: number;
  p95: number;
  max: number;
}

/** p50 / p95 / max of the latencies in `buckets` consecutive slices (undefined values skipped). */
export function latencyTrend(latencies: Array<number | undefined>, buckets = 5): TrendBucket[] {
  const out: TrendBucket[] = [];
  const size = Math.ceil(latencies.length / buckets);
  for (let b = 0; b < buckets; b++) {
    const values = latencies.slice(b * size, (b + 1) * size).filter((v): v is number => v !== undefined);
    if (!values.length) continue;
    const s = summarize(values);
    out.push({ from: b * size, to: Math.min(latencies.length, (b + 1) * size) - 1, p50: Math.round(s.p50), p95: Math.round(s.p95), max: Math.round(s.max) });
  }
  return out;
}

export function judge(i: VerdictInput): Verdict {
  const reasons: string[] = [];
  if (i.acceptedRate < 0.95 * i.rate) reasons.push(`accepted ${i.acceptedRate.toFixed(1)}/s < 95 % of ${i.rate}/s`);
  if (i.sendLag.p95 > 250) reasons.push(`sends left up to ${fmt(i.sendLag.max)} ms late (p95 ${fmt(i.sendLag.p95)} ms): the process could not keep its own schedule`);
  // Growth is judged on follow-up messages (first messages also create the workflow, contact and task).
  const followUps = i.messages.filter((m) => m.seq > 0);
  const trend = latencyTrend((followUps.length >= 8 ? followUps : i.messages).map((m) => m.latency), 4);
  const firstB = trend[0];
  const lastB = trend[trend.length - 1];
  if (firstB && lastB && lastB.p50 > Math.max(2 * firstB.p50, firstB.p50 + 500)) {
    reasons.push(`latency grows during the run (follow-up p50 ${firstB.p50} → ${lastB.p50} ms)`);
  }
  if (!i.complete) reasons.push('not every message arrived');
  const followUp = summarize(followUps.map((m) => m.latency).filter((v): v is number => v !== undefined));
  const saturation: string[] = [];
  if (followUp.n > 0 && followUp.p95 > 1000) saturation.push(`follow-up p95 ${fmt(followUp.p95)} ms > 1000 ms`);
  if (Number.isFinite(i.drainMs) && i.drainMs > 1000) saturation.push(`backlog drained ${fmt(i.drainMs)} ms after the last answer`);
  const keepsUp = reasons.length === 0;
  return { verdict: !keepsUp ? 'does not keep up' : saturation.length ? 'saturated' : 'keeps up', keepsUp, reasons, saturation, followUp };
}

/** "keeps up with 25/s" / "SATURATED at 50/s: …" / "does NOT keep up with 100/s: …". */
export function verdictText(v: Verdict, rate: number): string {
  if (v.verdict === 'keeps up') return `keeps up with ${rate}/s`;
  if (v.verdict === 'saturated') return `SATURATED at ${rate}/s: accepts the rate, but messages queue (${v.saturation.join('; ')})`;
  return `does NOT keep up with ${rate}/s: ${v.reasons.join('; ')}`;
}
