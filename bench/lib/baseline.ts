/**
 * The raw-Temporal baseline phase of inbound-latency (`--no-baseline` skips it): how fast Temporal
 * itself takes the message pattern taskwire runs on, on the same box, in the same run.
 *
 * It gets **its own Temporal dev server**, started with the same CLI and the same arguments as the
 * stack's (in memory, headless, `--metrics-port`, the same `--temporal-config` dynamic config), and
 * stopped with the run. Own server rather than a namespace on taskwire's: the phases run one after
 * the other, but an in-memory server keeps what it holds — taskwire's open conversations with their
 * idle timers, its shard and queue state — and each side must be measured on a clean server, with
 * its own `action` counter. The client and worker run in one forked Node process
 * (lib/baseline-driver.ts), as a minimal Temporal application would; taskwire's stack stays up and
 * idle meanwhile (its CPU is shown, and not counted as "other processes").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../runtime/free-port.js';
import { findOrBuildTemporalCli } from '../../runtime/temporal-cli.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../runtime/temporal-dev-server.js';
import type { BaselinePhaseOptions, BaselinePhaseResult } from './baseline-driver.js';
import { startPhaseProcess, type PhaseProcess } from './phase-process.js';
import { cpuDiff, cpuSnapshot, type CpuUse } from './proc-cpu.js';
import { readStatus } from './rss.js';
import { fmt, rounded, summarize, table, type Summary } from './stats.js';
import { diffCounts, fetchMetrics, fetchSettledMetrics, parseActionCounters, total, type ActionCounts } from './temporal-metrics.js';
import { judge, latencyTrend, verdictText, type TrendBucket, type Verdict } from './verdict.js';

const NAMESPACE = 'default';
const TASK_QUEUE = 'bench-baseline';

export interface BaselineOptions {
  /** The stack's extra dev server arguments (`--dynamic-config-value k=v` …): the same configuration. */
  temporalExtraArgs: string[];
  /** As the stack's: the dev server's state in a SQLite file (a temporary folder of its own). */
  temporalDb?: boolean;
  maxCachedWorkflows: number;
  timeoutS: number;
  cores: number;
  /** taskwire's PostgreSQL (idle during the baseline): its CPU is ours, not "other processes". */
  postmasterPidFile?: string;
  say: (line: string) => void;
}

export interface BaselineStep {
  tag: string;
  messages: number;
  people: number;
  rate: number;
  /** Unmeasured: no report, no progress lines. */
  quiet?: boolean;
}

export interface BaselineRun {
  step: BaselineStep;
  complete: boolean;
  verdict: Verdict;
  latencyMs: {
    /** signal-with-start answered → no-op local activity ran */
    done: Summary;
    doneFirst: Summary;
    doneFollowUp: Summary;
    /** signal-with-start call → answered */
    signal: Summary;
    sendLag: Summary;
    trendByFifth: TrendBucket[];
    drainAfterLastAnswer: number | null;
  };
  acceptedRatePerSecond: number;
  actions?: ActionCounts;
  actionsPerMessage?: number;
  cpu: CpuUse;
  mainThreadBusyPercent: number;
  eventLoopDelayMs: BaselinePhaseResult['eventLoop'];
  /** Growth of the baseline process's RSS over the phase ÷ workflows it added to the worker's cache. */
  rssPerCachedWorkflowKiB?: number;
  cachedWorkflows: number;
  disturbed: boolean;
}

export interface Baseline {
  pid: number;
  temporalPid: number;
  run(step: BaselineStep, quietBelowPercent: number): Promise<BaselineRun>;
  close(): Promise<void>;
}

export async function startBaseline(o: BaselineOptions): Promise<Baseline> {
  const t0 = Date.now();
  const binary = await findOrBuildTemporalCli({ log: o.say });
  const metricsPort = await freePort('127.0.0.1');
  const dbDir = o.temporalDb ? await mkdtemp(path.join(os.tmpdir(), 'taskwire-baseline-')) : undefined;
  const server: TemporalDevServer = await startTemporalDevServer({
    binary,
    headless: true,
    ...(dbDir ? { dbFilename: path.join(dbDir, 'temporal.db') } : {}),
    extraArgs: ['--metrics-port', String(metricsPort), ...o.temporalExtraArgs],
  });
  let child: PhaseProcess<BaselinePhaseOptions, BaselinePhaseResult> | undefined;
  const close = async () => {
    await child?.stop().catch(() => undefined);
    await server.stop();
    if (dbDir) await rm(dbDir, { recursive: true, force: true });
  };
  try {
    child = await startPhaseProcess<BaselinePhaseOptions, BaselinePhaseResult>(new URL('./baseline-driver.ts', import.meta.url), 'baseline');
  } catch (err) {
    await close();
    throw err;
  }
  const proc = child;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  o.say(`baseline: own Temporal dev server ${server.address} (metrics :${metricsPort}), client + worker in process ${proc.pid} — ${Date.now() - t0} ms`);
  let cachedBefore = 0;

  return {
    pid: proc.pid,
    temporalPid: server.pid,
    close,
    async run(step, quietBelowPercent) {
      const pids = { driverPid: proc.pid, temporalPid: server.pid, postmasterPidFile: o.postmasterPidFile };
      let actionsBefore: ActionCounts | undefined;
      try {
        actionsBefore = parseActionCounters(await fetchMetrics(metricsUrl), NAMESPACE);
      } catch {
        actionsBefore = undefined;
      }
      const rssBefore = readStatus(proc.pid).rssKiB;
      const cpuBefore = cpuSnapshot(pids);
      const r = await proc.run({
        address: server.address,
        namespace: NAMESPACE,
        taskQueue: TASK_QUEUE,
        maxCachedWorkflows: o.maxCachedWorkflows,
        timeoutS: o.timeoutS,
        progressEvery: Math.max(100, Math.round(step.messages / 5)),
        ...step,
      });
      const cpu = cpuDiff(cpuBefore, cpuSnapshot(pids), o.cores);
      let actions: ActionCounts | undefined;
      try {
        if (actionsBefore) actions = diffCounts(actionsBefore, parseActionCounters(await fetchSettledMetrics(metricsUrl, NAMESPACE), NAMESPACE));
      } catch {
        actions = undefined;
      }
      const addedToCache = r.cachedWorkflows - cachedBefore;
      cachedBefore = r.cachedWorkflows;
      return analyze(step, r, {
        cpu,
        actions,
        rssPerCachedWorkflowKiB: rssBefore !== undefined && r.rssKiB !== undefined && addedToCache > 0 ? (r.rssKiB - rssBefore) / addedToCache : undefined,
        disturbed: (cpu.othersPercent ?? 0) >= quietBelowPercent,
      });
    },
  };
}

function analyze(
  step: BaselineStep,
  r: BaselinePhaseResult,
  extra: Pick<BaselineRun, 'cpu' | 'actions' | 'rssPerCachedWorkflowKiB' | 'disturbed'>,
): BaselineRun {
  const latency = (m: BaselinePhaseResult['msgs'][number]) => (m.answeredAt !== undefined && m.doneAt !== undefined ? m.doneAt - m.answeredAt : undefined);
  const of = (list: BaselinePhaseResult['msgs']) => summarize(list.map(latency).filter((v): v is number => v !== undefined));
  const answered = r.msgs.filter((m) => m.answeredAt !== undefined);
  const acceptedRate = answered.length / ((r.lastAnsweredAt - r.startedAt) / 1000);
  const sendLag = summarize(r.msgs.filter((m) => m.sentAt !== undefined).map((m) => m.sentAt! - m.scheduledAt));
  const lastDone = Math.max(...r.msgs.map((m) => m.doneAt ?? -Infinity));
  const drainMs = Number.isFinite(lastDone) ? lastDone - r.lastAnsweredAt : Number.NaN;
  const verdict = judge({
    rate: step.rate,
    messages: r.msgs.map((m) => ({ seq: m.seq, latency: latency(m) })),
    acceptedRate,
    sendLag,
    complete: r.complete,
    drainMs,
  });
  const actionsTotal = extra.actions ? total(extra.actions) : undefined;
  return {
    step,
    complete: r.complete,
    verdict,
    latencyMs: {
      done: rounded(of(r.msgs)),
      doneFirst: rounded(of(r.msgs.filter((m) => m.seq === 0))),
      doneFollowUp: rounded(of(r.msgs.filter((m) => m.seq > 0))),
      signal: rounded(summarize(answered.map((m) => m.answeredAt! - m.sentAt!))),
      sendLag: rounded(sendLag),
      trendByFifth: latencyTrend(r.msgs.map(latency)),
      drainAfterLastAnswer: Number.isFinite(drainMs) ? Math.round(drainMs) : null,
    },
    acceptedRatePerSecond: Math.round(acceptedRate * 100) / 100,
    actionsPerMessage: actionsTotal === undefined ? undefined : Math.round((actionsTotal / step.messages) * 100) / 100,
    mainThreadBusyPercent: r.mainThreadBusyPercent,
    eventLoopDelayMs: r.eventLoop,
    cachedWorkflows: r.cachedWorkflows,
    ...extra,
  };
}

/** The baseline's block of the printed report. */
export function baselineReport(b: BaselineRun): string[] {
  const row = (name: string, x: Summary, d = 0) => [name, String(x.n), fmt(x.p50, d), fmt(x.p95, d), fmt(x.p99, d), fmt(x.max, d)];
  const l = b.latencyMs;
  const pct = (x?: number) => (x === undefined ? '?' : `${x.toFixed(0)} %`);
  return [
    `baseline (raw Temporal, own dev server with the same flags) — ${b.step.messages} messages by signal-with-start into ${b.step.people} workflows, ` +
      `${b.step.rate}/s offered; each workflow drains its queue with a no-op local activity`,
    '',
    table([
      ['ms', 'n', 'p50', 'p95', 'p99', 'max'],
      row('signal ok → local activity done', l.done),
      row('  first message of a workflow', l.doneFirst),
      row('  follow-up messages', l.doneFollowUp),
      row('signal-with-start (call → ok)', l.signal),
      row('send lag vs schedule', l.sendLag, 1),
    ]),
    '',
    `accepted: ${l.signal.n}/${b.step.messages} ok, ${b.acceptedRatePerSecond.toFixed(2)}/s (offered ${b.step.rate}/s); ` +
      `all done ${l.drainAfterLastAnswer === null ? 'NO' : `${l.drainAfterLastAnswer} ms after the last answer`}`,
    `latency by fifth of the run (p50/p95/max ms): ${l.trendByFifth.map((t) => `${t.p50}/${t.p95}/${t.max}`).join('  ')}`,
    b.actions
      ? `actions (server metric): ${total(b.actions)} = ${b.actionsPerMessage!.toFixed(2)}/message: ${Object.entries(b.actions).map(([k, v]) => `${k} ${v}`).join(', ')}`
      : 'actions: unavailable',
    `CPU over ${b.cpu.wallSeconds} s (100 % = one core): baseline process (client + worker) ${pct(b.cpu.driverPercent)}, its temporal ${pct(b.cpu.temporalPercent)}, ` +
      `idle taskwire node ${pct(b.cpu.nodePercent)} + postgres ${pct(b.cpu.postgresPercent)}, other processes ${pct(b.cpu.othersPercent)}; ` +
      `machine busy ${pct(b.cpu.machineBusyPercent)} of ${b.cpu.cores} cores; baseline main thread busy ${b.mainThreadBusyPercent} %, ` +
      `event loop delay p99 ${fmt(b.eventLoopDelayMs.p99, 1)} ms`,
    `verdict: ${verdictText(b.verdict, b.step.rate)}${b.disturbed ? ` (DISTURBED: other processes used ${pct(b.cpu.othersPercent)} of a core during the run)` : ''}`,
  ];
}
