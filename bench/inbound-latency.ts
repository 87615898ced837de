/**
 * Inbound latency benchmark: how long after VK's webhook got `ok` is a customer's message
 * readable as a comment through the API, at a steady message rate — and what it costs in Temporal.
 *
 *   npm run bench -- --messages 500 --people 100 --rate 25
 *   npm run bench -- --channel whatsapp          # signed WhatsApp webhooks, then the delivery-status phase
 *   npm run bench -- --find-rate --messages 300  # highest rate that keeps up, taskwire and raw Temporal
 *
 * Starts a private taskwire (embedded PostgreSQL, in-memory Temporal dev server with metrics,
 * fake VK, in-process workers, the real HTTP server on a free port) and creates a VK channel.
 * A child process (lib/driver.ts) then posts `message_new` webhooks over HTTP on an open-loop
 * schedule (message i is sent at start + i/rate whether or not earlier ones were answered) from
 * `people` VK users in turn, and a bounded poller reads `GET /api/tasks/:id` of the people who
 * have messages outstanding to note when each comment first appears. Afterwards the workflow
 * histories and server metrics give the Temporal cost and where the time went. Then the same
 * messages go to raw Temporal on its own dev server (lib/baseline.ts) for a baseline printed beside
 * taskwire's numbers; `--find-rate` searches both sustainable rates instead. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { metrics as apiMetrics } from '../api/metrics.js';
import type { MsgResult as Msg, PhaseOptions, PhaseResult } from './lib/driver.js';
import type { Stack } from './lib/stack.js';
import { baselineReport, startBaseline, type Baseline, type BaselineRun } from './lib/baseline.js';
import { checkCommandLine, COMMON_OPTIONS, commonParams, stackFlags } from './lib/cli.js';
import { ACTION_PRICE_PER_MILLION_USD, ACTION_PRICE_SOURCE, costPerMillionMessages, costText } from './lib/cost.js';
import type { DriverProcess } from './lib/driver-process.js';
import { createBenchChannel, WA_APP_SECRET, WA_PHONE_NUMBER_ID, type WebhookTarget } from './lib/channel.js';
import { cpuDiff, cpuSnapshot, cpuSpeedIndex, type CpuUse } from './lib/proc-cpu.js';
import { gitState, machineInfo, waitForQuiet } from './lib/run-info.js';
import { findSustainableRate } from './lib/rate-search.js';
import { readStatus } from './lib/rss.js';
import { createRunControl } from './lib/run-control.js';
import { fmt, rounded, summarize, table, type Summary } from './lib/stats.js';
import { analyzeConversationHistories, type HistoryAnalysis, type SignalTrace } from './lib/temporal-history.js';
import {
  diffCounts,
  diffHistograms,
  fetchMetrics,
  fetchSettledMetrics,
  parseActionCounters,
  parseHistograms,
  total,
  type ActionCounts,
  type HistogramDiff,
} from './lib/temporal-metrics.js';
import { runStatusPhase, type StatusPhaseResult } from './lib/statuses.js';
import { judge, latencyTrend, verdictText, type Verdict } from './lib/verdict.js';

const PEER_BASE = 710_000_000;
const WARMUP_PEER_BASE = 719_000_000;
/** WhatsApp: wa_ids 7900000001… (measured) and 7990000001… (warm-up). */
const WA_PEER_BASE = 7_900_000_000;
const WA_WARMUP_PEER_BASE = 7_990_000_000;
/** Server-side histograms diffed over the measured phase (by `operation`). */
const SERVER_HISTOGRAMS = ['task_latency_load', 'task_latency_schedule', 'task_latency_processing', 'task_latency_queue', 'persistence_latency'];

// ---------------------------------------------------------------------------------------------
// Command line

const HELP = `Usage: npm run bench -- [options]     (tsx bench/inbound-latency.ts)

  --channel C            vk (default) or whatsapp (signed Cloud API webhooks to /webhooks/whatsapp, fake Graph API)
  --statuses N           whatsapp only: afterwards, N agent replies get sent/delivered/read status webhooks each;
                         reports Temporal history events and database writes they add (default 100; 0 = skip)
  --status-rate R        status webhooks per second in that phase, open loop (default 25)
  --messages N           webhooks to post (default 500)
  --people P             distinct VK users, messages go round-robin (default 100)
  --rate R               messages per second, open loop: message i is sent at start + i/R (default 25)
  --watch W              how the reader learns that a task changed, as an agent UI would: feed (default) reads a
                         task when GET /api/task-changes names it; poll reads each task with outstanding
                         messages every --poll-interval ms
  --poll-interval MS     --watch poll: each task is read at most every MS ms while it has messages outstanding
                         (default 50); 0 (either mode) = no reads while posting (comments are checked afterwards;
                         latency then comes from the workflow histories only: webhook answer → recordEvents completed)
  --poll-concurrency C   at most C API reads in flight (default 10)
  --no-conditional-reads read whole tasks every time, as before the ETag (default: If-None-Match with the last
                         copy's ETag, as an agent UI polls; an unchanged task answers 304)
  --warmup N             unmeasured messages first, from other users, at 10/s (default 20; 0 = none)
  --timeout S            give up when a comment is not visible S seconds after the last answer (default 120)
  --wait-quiet S         before measuring, wait up to S s until other processes use < --quiet-below (default 120; 0 = don't)
  --quiet-below PCT      "quiet" = other processes under PCT % of one core (default 25)
  --log-level L          taskwire's log level (default warn)
  --pg-fast              PostgreSQL with fsync/synchronous_commit/full_page_writes off (default: as npm start)
  --temporal-config K=V  extra dev server dynamic config (repeatable), e.g. history.transferProcessorMaxPollRPS=200
  --temporal-db          the dev servers (taskwire's and the baseline's) keep their state in a SQLite file, as
                         npm start's does (default: in memory)
  --no-history           skip reading workflow histories (cost per message, latency breakdown)
  --no-baseline          skip the raw-Temporal baseline (signal-with-start into --people workflows, no-op local
                         activity; own dev server with the same flags, after taskwire's phase)
  --baseline-messages N  messages of the baseline phase (default: --messages)
  --find-rate            instead of one rate: search the highest rate that "keeps up", for taskwire and the
                         baseline (each step a run of --messages / --baseline-messages), and print their ratio
  --rate-from R          find-rate: first rate tried, doubled until a step fails, then bisected (default 25)
  --rate-max R           find-rate: highest rate tried (default 2000)
  --rate-precision PCT   find-rate: stop bisecting when the interval is under PCT % of its lower end (default 10)
  --max-steps N          find-rate: at most N steps per system (default 12)
  --action-price-per-million USD
                         Temporal Cloud price per million actions for the cost per message (default ${ACTION_PRICE_PER_MILLION_USD})
  --out DIR              where the JSON result goes (default bench/results)
  --help`;

const { values: argv } = parseArgs({
  options: {
    statuses: { type: 'string', default: '100' },
    'status-rate': { type: 'string', default: '25' },
    messages: { type: 'string', default: '500' },
    people: { type: 'string', default: '100' },
    rate: { type: 'string', default: '25' },
    'poll-interval': { type: 'string', default: '50' },
    watch: { type: 'string', default: 'feed' },
    'poll-concurrency': { type: 'string', default: '10' },
    'no-conditional-reads': { type: 'boolean', default: false },
    warmup: { type: 'string', default: '20' },
    timeout: { type: 'string', default: '120' },
    'no-baseline': { type: 'boolean', default: false },
    'baseline-messages': { type: 'string' },
    'find-rate': { type: 'boolean', default: false },
    'rate-from': { type: 'string', default: '25' },
    'rate-max': { type: 'string', default: '2000' },
    'rate-precision': { type: 'string', default: '10' },
    'max-steps': { type: 'string', default: '12' },
    'action-price-per-million': { type: 'string', default: String(ACTION_PRICE_PER_MILLION_USD) },
    ...COMMON_OPTIONS,
  },
  strict: true,
});
const { num, channel } = checkCommandLine(HELP, argv);

function watchMode(v: string | undefined): 'feed' | 'poll' {
  if (v === 'feed' || v === 'poll') return v;
  console.error(`--watch must be feed or poll, not ${JSON.stringify(v)}`);
  process.exit(2);
}

const params = {
  channel,
  statuses: channel === 'whatsapp' ? num('statuses', argv.statuses, 0) : 0,
  statusRate: num('status-rate', argv['status-rate'], 0.01, false),
  messages: num('messages', argv.messages, 1),
  people: num('people', argv.people, 1),
  rate: num('rate', argv.rate, 0.01, false),
  pollIntervalMs: num('poll-interval', argv['poll-interval'], 0),
  pollConcurrency: num('poll-concurrency', argv['poll-concurrency'], 1),
  conditionalReads: !argv['no-conditional-reads'],
  watch: watchMode(argv.watch),
  warmup: num('warmup', argv.warmup, 0),
  timeoutS: num('timeout', argv.timeout, 1, false),
  baseline: !argv['no-baseline'],
  baselineMessages: num('baseline-messages', argv['baseline-messages'] ?? argv.messages, 1),
  findRate: argv['find-rate']!,
  rateFrom: num('rate-from', argv['rate-from'], 1),
  rateMax: num('rate-max', argv['rate-max'], 1),
  ratePrecisionPercent: num('rate-precision', argv['rate-precision'], 1, false),
  maxSteps: num('max-steps', argv['max-steps'], 1),
  actionPricePerMillion: num('action-price-per-million', argv['action-price-per-million'], 0, false),
  ...commonParams(argv, num),
};
if (params.people > params.messages) params.people = params.messages;

const say = (line: string) => console.log(`[bench] ${line}`);

// ---------------------------------------------------------------------------------------------
// Abort / cleanup (lib/run-control.ts): Ctrl-C, SIGTERM, a failing worker or a non-200 webhook end
// the run; the stack is always closed (servers stopped, temp folder removed) before the process exits.

let baseline: Baseline | undefined;
const run = createRunControl({ say, stopExtras: () => baseline?.close() });

// ---------------------------------------------------------------------------------------------
// Analysis

interface Breakdown {
  what: string;
  first: Summary;
  followUp: Summary;
}

function phaseBreakdown(msgs: Msg[], traces: SignalTrace[], tag: string): { rows: Breakdown[]; matched: number; meanBatch: number } {
  const re = new RegExp(`^bench ${tag} m(\\d+) `);
  const byMsg = new Map<number, SignalTrace>();
  for (const t of traces) {
    const m = re.exec(String(t.event.text ?? ''));
    if (m) byMsg.set(Number(m[1]), t);
  }
  const epoch = (x: number | undefined) => x; // the driver's times are epoch ms already
  const defs: Array<[string, (m: Msg, t: SignalTrace) => number | undefined]> = [
    ['webhook sent → signal in history', (m, t) => diff(epoch(m.sentAt), t.signaledAt)],
    ['signal in history → webhook answer received', (m, t) => diff(t.signaledAt, epoch(m.answeredAt))],
    ['signal → workflow task started', (m, t) => diff(t.signaledAt, t.wftStartedAt)],
    ['signal → ensureContact scheduled', (m, t) => diff(t.signaledAt, t.contactScheduledAt)],
    ['ensureContact scheduled → started', (m, t) => diff(t.contactScheduledAt, t.contactStartedAt)],
    ['ensureContact started → completed', (m, t) => diff(t.contactStartedAt, t.contactCompletedAt)],
    ['signal → recordEvents scheduled', (m, t) => (t.recordLocal ? undefined : diff(t.signaledAt, t.recordScheduledAt))],
    ['recordEvents scheduled → started', (m, t) => (t.recordLocal ? undefined : diff(t.recordScheduledAt, t.recordStartedAt))],
    ['recordEvents started → completed', (m, t) => (t.recordLocal ? undefined : diff(t.recordStartedAt, t.recordCompletedAt))],
    ['signal → its workflow task started (local recordEvents)', (m, t) => (t.recordLocal ? diff(t.signaledAt, t.recordScheduledAt) : undefined)],
    ['workflow task started → local recordEvents done', (m, t) => (t.recordLocal ? diff(t.recordScheduledAt, t.recordCompletedAt) : undefined)],
    ['webhook answer → recordEvents completed', (m, t) => diff(epoch(m.answeredAt), t.recordCompletedAt)],
    ['recordEvents completed → seen by poller', (m, t) => (params.pollIntervalMs > 0 ? diff(t.recordCompletedAt, epoch(m.seenAt)) : undefined)],
  ];
  const rows: Breakdown[] = [];
  for (const [what, f] of defs) {
    const first: number[] = [];
    const follow: number[] = [];
    for (const m of msgs) {
      const t = byMsg.get(m.i);
      if (!t) continue;
      const v = f(m, t);
      if (v === undefined || !Number.isFinite(v)) continue;
      (m.seq === 0 ? first : follow).push(v);
    }
    if (first.length + follow.length === 0) continue;
    rows.push({ what, first: rounded(summarize(first)), followUp: rounded(summarize(follow)) });
  }
  const batches = [...byMsg.values()].map((t) => t.batchSize).filter((b): b is number => b !== undefined);
  return { rows, matched: byMsg.size, meanBatch: batches.length ? batches.reduce((a, b) => a + b, 0) / batches.length : Number.NaN };
}

function diff(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : b - a;
}

const mib = (kib: number | undefined, d = 0) => (kib === undefined ? '?' : (kib / 1024).toFixed(d));

/** "memory: taskwire RSS 350 → 380 MiB (+30) while its worker cache went 10 → 110 workflows …". */
function memoryText(
  before: { rssKiB?: number; cached: number },
  after: { rssKiB?: number; cached: number },
  perCachedKiB: number | undefined,
  cacheLimit: number,
): string {
  const growth = before.rssKiB !== undefined && after.rssKiB !== undefined ? after.rssKiB - before.rssKiB : undefined;
  return (
    `memory: taskwire RSS ${mib(before.rssKiB)} → ${mib(after.rssKiB)} MiB (${growth !== undefined && growth >= 0 ? '+' : ''}${mib(growth)}) ` +
    `while the worker cache went ${before.cached} → ${after.cached} conversation workflows (limit ${cacheLimit}): ` +
    (perCachedKiB === undefined ? 'RSS per cached conversation unknown' : `${mib(perCachedKiB, 2)} MiB RSS per cached conversation`)
  );
}

interface SideOfComparison {
  verdict: Verdict;
  all: Summary;
  followUp: Summary;
  actionsPerMessage?: number;
  rssPerCachedKiB?: number;
}

/** taskwire's and the baseline's numbers of the same run side by side. */
function sideBySide(rate: number, tw: SideOfComparison & { what: string }, b: SideOfComparison): string[] {
  const ms = (x: Summary) => `${fmt(x.p50)} / ${fmt(x.p95)}`;
  const ratio = (x?: number, y?: number, d = 1) => (x === undefined || y === undefined || !Number.isFinite(x / y) ? '-' : `${(x / y).toFixed(d)}×`);
  const usd = (a?: number) => (a === undefined ? '-' : `$${costPerMillionMessages(a, params.actionPricePerMillion).toFixed(0)}`);
  return [
    `taskwire vs raw Temporal at ${rate}/s, this run (same machine, same dev-server flags, each on its own dev server):`,
    table([
      ['', 'taskwire', 'raw Temporal', 'taskwire ÷ raw'],
      ['latency p50 / p95 ms', ms(tw.all), ms(b.all), ratio(tw.all.p95, b.all.p95)],
      ['  follow-ups p50 / p95 ms', ms(tw.followUp), ms(b.followUp), ratio(tw.followUp.p95, b.followUp.p95)],
      ['verdict', tw.verdict.verdict, b.verdict.verdict, ''],
      ['billable actions / message', fmt(tw.actionsPerMessage ?? Number.NaN, 2), fmt(b.actionsPerMessage ?? Number.NaN, 2), ratio(tw.actionsPerMessage, b.actionsPerMessage, 2)],
      [`cost per million messages ($${params.actionPricePerMillion}/M actions)`, usd(tw.actionsPerMessage), usd(b.actionsPerMessage), ''],
      ['RSS per cached workflow, MiB', mib(tw.rssPerCachedKiB, 2), mib(b.rssPerCachedKiB, 2), ratio(tw.rssPerCachedKiB, b.rssPerCachedKiB)],
    ]),
    `(latency: taskwire ${tw.what}; raw Temporal signal-with-start ok → no-op local activity done)`,
  ];
}

/** Handler time of the API (its own prom-client histogram, a singleton in this process) by route. */
async function apiHandlerTotals(): Promise<Record<string, { count: number; sum: number }>> {
  const out: Record<string, { count: number; sum: number }> = {};
  for (const v of (await apiMetrics.httpDuration.get()).values) {
    const name = (v as { metricName?: string }).metricName ?? '';
    const key = `${v.labels.method} ${v.labels.route}`;
    const t = (out[key] ??= { count: 0, sum: 0 });
    if (name.endsWith('_sum')) t.sum += v.value;
    else if (name.endsWith('_count')) t.count += v.value;
  }
  return out;
}

function diffHandlerTotals(a: Record<string, { count: number; sum: number }>, b: Record<string, { count: number; sum: number }>) {
  const out: Record<string, { count: number; meanMs: number; totalMs: number }> = {};
  for (const [k, v] of Object.entries(b)) {
    const count = v.count - (a[k]?.count ?? 0);
    if (count <= 0) continue;
    const totalMs = (v.sum - (a[k]?.sum ?? 0)) * 1000;
    out[k] = { count, meanMs: Math.round((totalMs / count) * 10) / 10, totalMs: Math.round(totalMs) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main

type CommonPhaseOptions = WebhookTarget & Pick<PhaseOptions, 'pollIntervalMs' | 'pollConcurrency' | 'conditionalReads' | 'watch' | 'timeoutS'>;

/** The first fields of every result JSON: which run, when, how started, where, with what. */
function resultHeader(benchmark: string, runStarted: Date, machine: Setup['machine']) {
  return { benchmark, startedAt: runStarted.toISOString(), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), machine, params };
}

/** The private taskwire with its channel, the load generator, and the warm-up behind them. */
interface Setup {
  runStarted: Date;
  machine: ReturnType<typeof machineInfo>;
  wa: boolean;
  s: Stack;
  driver: DriverProcess;
  common: CommonPhaseOptions;
  channelId: string;
  runTag: string;
  /** Tasks the driver has already read (earlier phases). */
  knownTaskIds: string[];
  /** taskwire's processes, for CPU accounting. */
  pids: { driverPid: number; temporalPid: number; postmasterPidFile: string };
}

async function main(): Promise<number> {
  const setup = await setUp();
  return params.findRate ? findRates(setup) : measureOneRate(setup);
}

async function setUp(): Promise<Setup> {
  const runStarted = new Date();
  const machine = machineInfo();
  say(
    `inbound-latency: ${params.messages} messages from ${params.people} people ${params.findRate ? 'per step, --find-rate' : `at ${params.rate}/s`} ` +
      `(${params.pollIntervalMs === 0 ? 'no reads while posting' : params.watch === 'feed' ? 'reads when the change feed names a task' : `poll every ${params.pollIntervalMs} ms`}, ≤ ${params.pollConcurrency} reads in flight; ${machine.cores} cores)`,
  );

  const wa = params.channel === 'whatsapp';
  const s = await run.startStack({ logLevel: params.logLevel, ...stackFlags(params), say });

  const webhooks = await createBenchChannel(s, params.channel, say);
  const { channelId } = webhooks;

  const driver = await run.startDriver();
  const common = {
    ...webhooks,
    pollIntervalMs: params.pollIntervalMs,
    pollConcurrency: params.pollConcurrency,
    conditionalReads: params.conditionalReads,
    watch: params.watch,
    timeoutS: params.timeoutS,
  } satisfies Partial<PhaseOptions>;
  const runTag = randomBytes(3).toString('hex');
  let knownTaskIds: string[] = [];
  if (params.warmup > 0) {
    const t0 = performance.now();
    const w: PhaseResult = await driver.run({
      ...common,
      tag: `w${runTag}`,
      messages: params.warmup,
      people: Math.max(1, Math.min(10, Math.ceil(params.warmup / 2))),
      rate: 10,
      peerBase: wa ? WA_WARMUP_PEER_BASE : WARMUP_PEER_BASE,
      idBase: 9_000_000,
      knownTaskIds,
      progressEvery: 1e9,
      quiet: true,
    });
    knownTaskIds = w.taskIds;
    if (!w.complete) throw new Error('warm-up did not complete');
    const lat = summarize(w.msgs.map((m) => m.seenAt! - m.answeredAt!));
    say(`warm-up: ${params.warmup} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s (visible p50 ${fmt(lat.p50)} ms, max ${fmt(lat.max)} ms) — not counted`);
  }
  const pids = { driverPid: driver.pid, temporalPid: s.temporalPid, postmasterPidFile: path.join(s.postgresDataDir, 'postmaster.pid') };
  return { runStarted, machine, wa, s, driver, common, channelId, runTag, knownTaskIds, pids };
}

/** Workers' cached workflows (taskwire's conversations: only the main worker runs workflows). */
function cachedWorkflows(s: Stack): number {
  return s.workers.workers.reduce((n, w) => n + w.getStatus().numCachedWorkflows, 0);
}

/** Starts the baseline's own dev server and process, and runs its unmeasured warm-up. */
async function startBaselineWithWarmup(setup: Setup): Promise<Baseline> {
  baseline = await startBaseline({
    temporalExtraArgs: stackFlags(params).temporalExtraArgs,
    temporalDb: params.temporalDb,
    maxCachedWorkflows: setup.s.config.WORKER_MAX_CACHED_WORKFLOWS,
    timeoutS: params.timeoutS,
    cores: setup.machine.cores,
    postmasterPidFile: setup.pids.postmasterPidFile,
    say,
  });
  run.check();
  if (params.warmup > 0) {
    const w = await baseline.run({ tag: `w${setup.runTag}`, messages: params.warmup, people: Math.max(1, Math.min(10, Math.ceil(params.warmup / 2))), rate: 10, quiet: true }, Infinity);
    say(`baseline warm-up: ${params.warmup} messages (done p50 ${fmt(w.latencyMs.done.p50)} ms, max ${fmt(w.latencyMs.done.max)} ms) — not counted`);
  }
  return baseline;
}

async function waitForQuietBaseline(setup: Setup, b: Baseline) {
  return waitForQuiet({
    pids: { driverPid: b.pid, temporalPid: b.temporalPid, postmasterPidFile: setup.pids.postmasterPidFile },
    cores: setup.machine.cores,
    waitQuietS: params.waitQuietS,
    quietBelowPercent: params.quietBelowPercent,
    say,
    check: run.check,
  });
}

async function measureOneRate(setup: Setup): Promise<number> {
  const { runStarted, machine, wa, s, driver, common, channelId, runTag, pids, knownTaskIds } = setup;
  const background = await waitForQuiet({ pids, cores: machine.cores, waitQuietS: params.waitQuietS, quietBelowPercent: params.quietBelowPercent, say, check: run.check });
  const speedBefore = await cpuSpeedIndex();

  let actionsBefore: ActionCounts | undefined;
  let histBefore: ReturnType<typeof parseHistograms> | undefined;
  let metricsError: string | undefined;
  try {
    const text = await fetchMetrics(s.metricsUrl);
    actionsBefore = parseActionCounters(text, s.config.TEMPORAL_NAMESPACE);
    histBefore = parseHistograms(text, SERVER_HISTOGRAMS);
  } catch (err) {
    metricsError = (err as Error).message;
  }
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const eluBefore = performance.eventLoopUtilization();
  const handlersBefore = await apiHandlerTotals();
  const cpuBefore = cpuSnapshot(pids);
  const memBefore = { rssKiB: readStatus(process.pid).rssKiB, cached: cachedWorkflows(s) };
  const callsBefore = s.vk.calls.length;
  const graphCallsBefore = s.graph.calls.length;

  const r: PhaseResult = await driver.run({
    ...common,
    tag: `b${runTag}`,
    messages: params.messages,
    people: params.people,
    rate: params.rate,
    peerBase: wa ? WA_PEER_BASE : PEER_BASE,
    idBase: 1_000_000,
    knownTaskIds,
    progressEvery: 100,
  });

  const cpuAfter = cpuSnapshot(pids);
  const memAfter = { rssKiB: readStatus(process.pid).rssKiB, cached: cachedWorkflows(s) };
  // Share of time taskwire's main thread (API handlers, activities, SDK bridge) was busy.
  const mainThreadBusy = Math.round(performance.eventLoopUtilization(eluBefore).utilization * 1000) / 10;
  const handlers = diffHandlerTotals(handlersBefore, await apiHandlerTotals());
  eld.disable();
  let actions: ActionCounts | undefined;
  let server: Record<string, Record<string, HistogramDiff>> | undefined;
  try {
    if (actionsBefore && histBefore) {
      const text = await fetchSettledMetrics(s.metricsUrl, s.config.TEMPORAL_NAMESPACE);
      actions = diffCounts(actionsBefore, parseActionCounters(text, s.config.TEMPORAL_NAMESPACE));
      server = diffHistograms(histBefore, parseHistograms(text, SERVER_HISTOGRAMS));
    }
  } catch (err) {
    metricsError = (err as Error).message;
  }
  const vkCalls: Record<string, number> = {};
  for (const c of s.vk.calls.slice(callsBefore)) vkCalls[c.method] = (vkCalls[c.method] ?? 0) + 1;
  const graphCalls: Record<string, number> = {};
  for (const c of s.graph.calls.slice(graphCallsBefore)) graphCalls[`${c.method} ${c.kind}`] = (graphCalls[`${c.method} ${c.kind}`] ?? 0) + 1;
  const cpu: CpuUse = cpuDiff(cpuBefore, cpuAfter, machine.cores);
  const speedAfter = await cpuSpeedIndex();

  // ---- histories: Temporal cost, and when each message's recordEvents completed ----
  const msgs = r.msgs;
  let history: HistoryAnalysis | undefined;
  let breakdown: ReturnType<typeof phaseBreakdown> | undefined;
  const committedAt = new Map<number, number>();
  if (params.history) {
    const peers = new Set(msgs.map((m) => String(m.peer)));
    const t0 = performance.now();
    history = await analyzeConversationHistories(s.client, { includeWorkflowId: (id) => peers.has(id.split('/').pop() ?? '') });
    breakdown = phaseBreakdown(msgs, history.signals, r.tag);
    const re = new RegExp(`^bench ${r.tag} m(\\d+) `);
    for (const t of history.signals) {
      const m = re.exec(String(t.event.text ?? ''));
      if (m && t.recordCompletedAt !== undefined) committedAt.set(Number(m[1]), t.recordCompletedAt);
    }
    say(`read ${history.runs.length} workflow histories in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  // ---- numbers ----
  const polled = params.pollIntervalMs > 0;
  const committed = (m: Msg) => (m.answeredAt !== undefined && committedAt.has(m.i) ? committedAt.get(m.i)! - m.answeredAt : undefined);
  const visible = (m: Msg) => (m.answeredAt !== undefined && m.seenAt !== undefined ? m.seenAt - m.answeredAt : undefined);
  /** The latency judged: visible through the API, or (no polling) committed according to the histories. */
  const latencyOf = polled ? visible : committed;
  const summaryOf = (f: (m: Msg) => number | undefined, list: Msg[]) => summarize(list.map(f).filter((v): v is number => v !== undefined));
  const answeredMsgs = msgs.filter((m) => m.answeredAt !== undefined);
  const seenMsgs = msgs.filter((m) => m.seenAt !== undefined && m.answeredAt !== undefined);
  const lat = summaryOf(latencyOf, msgs);
  const latFirst = summaryOf(latencyOf, msgs.filter((m) => m.seq === 0));
  const latFollow = summaryOf(latencyOf, msgs.filter((m) => m.seq > 0));
  const com = summaryOf(committed, msgs);
  const comFirst = summaryOf(committed, msgs.filter((m) => m.seq === 0));
  const comFollow = summaryOf(committed, msgs.filter((m) => m.seq > 0));
  const lowerBound = summarize(seenMsgs.map((m) => Math.max(m.answeredAt!, m.lastNegativeAt ?? m.answeredAt!) - m.answeredAt!));
  const resolution = summarize(seenMsgs.map((m) => m.seenAt! - Math.max(m.answeredAt!, m.lastNegativeAt ?? m.answeredAt!)));
  const answer = summarize(answeredMsgs.map((m) => m.answeredAt! - m.sentAt!));
  const sendLag = summarize(msgs.filter((m) => m.sentAt !== undefined).map((m) => m.sentAt! - m.scheduledAt));
  const windowS = (r.lastAnsweredAt - r.startedAt) / 1000;
  const acceptedRate = answeredMsgs.length / windowS;
  const measuredS = ((r.allSeenAt ?? performance.timeOrigin + performance.now()) - r.startedAt) / 1000;
  const pollWindowS = r.poll.firstAt !== undefined && r.poll.lastAt !== undefined ? (r.poll.lastAt - r.poll.firstAt) / 1000 : Number.NaN;
  const reads = summarize(r.poll.readMs);
  const trend = latencyTrend(msgs.map(latencyOf));
  const lastCommitted = committedAt.size ? Math.max(...committedAt.values()) : Number.NaN;
  const drainMs = polled
    ? r.allSeenAt !== undefined
      ? r.allSeenAt - r.lastAnsweredAt
      : Number.NaN
    : lastCommitted - r.lastAnsweredAt;

  // Keeping up: accepted ≈ offered, no client-side lag, latency not growing, quick drain (lib/verdict.ts).
  const judged: Verdict = judge({
    rate: params.rate,
    messages: msgs.map((m) => ({ seq: m.seq, latency: latencyOf(m) })),
    acceptedRate,
    sendLag,
    complete: r.complete,
    drainMs,
  });
  const { verdict, keepsUp, reasons, saturation } = judged;
  const actionsPerMessage = actions ? total(actions) / params.messages : undefined;
  const addedToCache = (memAfter.cached ?? 0) - (memBefore.cached ?? 0);
  const rssGrowthKiB = memAfter.rssKiB !== undefined && memBefore.rssKiB !== undefined ? memAfter.rssKiB - memBefore.rssKiB : undefined;
  const rssPerCachedKiB = rssGrowthKiB !== undefined && addedToCache > 0 ? rssGrowthKiB / addedToCache : undefined;
  const disturbed = (cpu.othersPercent ?? 0) >= params.quietBelowPercent;

  // ---- table ----
  const row = (name: string, x: Summary, d = 0) => [name, String(x.n), fmt(x.p50, d), fmt(x.p95, d), fmt(x.p99, d), fmt(x.max, d)];
  const lines: string[] = [];
  lines.push(
    `inbound-latency${wa ? ' (WhatsApp)' : ''} — ${params.messages} messages, ${params.people} people, ${params.rate}/s offered; ` +
      `${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}`,
  );
  lines.push('');
  lines.push(
    table([
      ['ms', 'n', 'p50', 'p95', 'p99', 'max'],
      ...(polled
        ? [
            row('webhook ok → comment visible (API)', lat),
            row('  first message of a person', latFirst),
            row('  follow-up messages', latFollow),
            row('  lower bound (last read without it)', lowerBound),
          ]
        : []),
      ...(com.n
        ? [
            row('webhook ok → recordEvents done (histories)', com),
            row('  first message of a person', comFirst),
            row('  follow-up messages', comFollow),
          ]
        : []),
      row('webhook answer (POST → ok)', answer),
      row('send lag vs schedule', sendLag, 1),
      row('API task read (poller GET)', reads, 1),
    ]),
  );
  lines.push('');
  lines.push(
    `accepted: ${answeredMsgs.length}/${params.messages} ok, ${acceptedRate.toFixed(2)}/s over ${windowS.toFixed(2)} s ` +
      `(offered ${params.rate}/s); all ${polled ? 'visible' : 'committed'} ${Number.isFinite(drainMs) ? `${Math.round(drainMs)} ms after the last answer` : 'NO'}`,
  );
  lines.push(`${polled ? 'visible' : 'recordEvents done'} latency by fifth of the run (p50/p95/max ms): ${trend.map((t) => `${t.p50}/${t.p95}/${t.max}`).join('  ')}`);
  lines.push(
    `${polled ? (params.watch === 'feed' ? `reading on change (${r.poll.feedEvents ?? 0} feed events, ${r.poll.feedResyncs ?? 0} resyncs)` : 'polling') : 'polling (after posting only, to verify)'}: ${r.poll.taskReads} task reads + ${r.poll.listRequests} list reads in ${pollWindowS.toFixed(1)} s ` +
      `(${((r.poll.taskReads + r.poll.listRequests) / pollWindowS).toFixed(1)} req/s, ${(r.poll.taskReads / params.messages).toFixed(2)} task reads/message, ` +
      `${Math.round((100 * r.poll.emptyTaskReads) / Math.max(1, r.poll.taskReads))} % found nothing new, ` +
      `${params.conditionalReads ? `${Math.round((100 * r.poll.notModifiedReads) / Math.max(1, r.poll.taskReads))} % answered 304` : 'whole reads (--no-conditional-reads)'}); ` +
      (polled ? `resolution (first read with − last read without) p50 ${fmt(resolution.p50)} / p95 ${fmt(resolution.p95)} ms` : 'no reads while posting'),
  );
  if (history) {
    const runs = history.runs.length;
    lines.push(
      `Temporal: ${history.workflows} conversation workflows, ${runs} runs, ${history.totalEvents} history events = ` +
        `${(history.totalEvents / params.messages).toFixed(2)} events/message`,
    );
    lines.push(`  events: ${Object.entries(history.eventTypes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    lines.push(`  activities: ${Object.entries(history.activityTypes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  if (actions) {
    lines.push(
      `  actions (server metric, measured phase): ${total(actions)} = ${(total(actions) / params.messages).toFixed(2)}/message: ` +
        Object.entries(actions).map(([k, v]) => `${k} ${v}`).join(', '),
    );
    lines.push(`  cost: ${costText(actionsPerMessage, params.actionPricePerMillion)} (${ACTION_PRICE_SOURCE})`);
  } else lines.push(`  actions: unavailable (${metricsError ?? 'no metrics'})`);
  lines.push(
    `API handler time (wall, incl. awaits): ${Object.entries(handlers)
      .sort((a, b) => b[1].totalMs - a[1].totalMs)
      .map(([k, v]) => `${k} ${v.count}× ${fmt(v.meanMs, 1)} ms = ${(v.totalMs / 1000).toFixed(1)} s`)
      .join(', ')}`,
  );
  lines.push(
    wa
      ? `  fake Graph API calls: ${Object.entries(graphCalls).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`
      : `  fake VK calls: ${Object.entries(vkCalls).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
  );
  if (breakdown) {
    lines.push('');
    lines.push(`where the time goes (from workflow histories; ${breakdown.matched}/${params.messages} messages matched; mean recordEvents batch ${breakdown.meanBatch.toFixed(2)} messages):`);
    lines.push(
      table([
        ['ms', 'first p50', 'p95', 'max', 'follow-up p50', 'p95', 'max'],
        ...breakdown.rows.map((b) => [
          b.what,
          fmt(b.first.p50, 1),
          fmt(b.first.p95, 1),
          fmt(b.first.max, 1),
          fmt(b.followUp.p50, 1),
          fmt(b.followUp.p95, 1),
          fmt(b.followUp.max, 1),
        ]),
      ]),
    );
    if (history?.activityStartDeferred) lines.push('  (ActivityTaskStarted events carry the completion time here: "scheduled → started" includes the run)');
  }
  if (server) {
    const taskOps = ['TransferActiveTaskWorkflowTask', 'TransferActiveTaskActivity'];
    const cell = (name: string, op: string) => {
      const h = server![name]?.[op];
      return h ? fmt(h.meanMs, 1) : '-';
    };
    lines.push('');
    lines.push('Temporal server internals over the measured phase (means, ms):');
    lines.push(
      table([
        ['transfer task', 'count', 'load', 'schedule', 'processing', 'queue (end to end)'],
        ...taskOps.map((op) => [
          op,
          String(server!.task_latency_queue?.[op]?.count ?? '-'),
          cell('task_latency_load', op),
          cell('task_latency_schedule', op),
          cell('task_latency_processing', op),
          cell('task_latency_queue', op),
        ]),
      ]),
    );
    const persistence = Object.entries(server.persistence_latency ?? {}).slice(0, 6);
    lines.push(`  persistence (top by total time): ${persistence.map(([op, h]) => `${op} ${h.count}× ${fmt(h.meanMs, 1)}`).join(', ')}`);
  }
  lines.push('');
  const pct = (x?: number) => (x === undefined ? '?' : `${x.toFixed(0)} %`);
  lines.push(
    `CPU over ${cpu.wallSeconds} s (100 % = one core): taskwire node (API + workers) ${pct(cpu.nodePercent)}, ` +
      `temporal ${pct(cpu.temporalPercent)}, postgres ${pct(cpu.postgresPercent)}, bench driver ${pct(cpu.driverPercent)}, ` +
      `other processes ${pct(cpu.othersPercent)}; machine busy ${pct(cpu.machineBusyPercent)} of ${machine.cores} cores`,
  );
  lines.push(`CPU speed index (sha256 MB/s, one thread, idle machine): ${speedBefore} before, ${speedAfter} after the run`);
  lines.push(
    `taskwire main thread busy ${mainThreadBusy} % (event loop utilisation); ` +
      `event loop delay: taskwire p50 ${fmt(eld.percentile(50) / 1e6, 1)} / p99 ${fmt(eld.percentile(99) / 1e6, 1)} / max ${fmt(eld.max / 1e6, 1)} ms; ` +
      `driver p99 ${fmt(r.driverEventLoop.p99, 1)} / max ${fmt(r.driverEventLoop.max, 1)} ms (10 ms sampling floor)`,
  );
  lines.push(memoryText(memBefore, memAfter, rssPerCachedKiB, s.config.WORKER_MAX_CACHED_WORKFLOWS));
  lines.push(`verdict: ${verdictText(judged, params.rate)}` + (disturbed ? ` (DISTURBED: other processes used ${pct(cpu.othersPercent)} of a core during the run)` : ''));
  let report = lines.join('\n');
  console.log(`\n${report}\n`);

  // ---- WhatsApp: what delivery statuses cost (after the measured phase, on the same stack) ----
  let statusPhase: StatusPhaseResult | undefined;
  if (wa && params.statuses > 0) {
    const waIds = [...new Set(msgs.map((m) => String(m.peer)))];
    statusPhase = await runStatusPhase(s, {
      channelId,
      waIds,
      replies: params.statuses,
      rate: params.statusRate,
      appSecret: WA_APP_SECRET,
      phoneNumberId: WA_PHONE_NUMBER_ID,
      say,
      aborted: run.aborted,
    });
    console.log(`\n${statusPhase.report}\n`);
    report = `${report}\n\n${statusPhase.report}`;
  }

  // ---- raw-Temporal baseline: the same messages on its own dev server with the same flags ----
  let baselineRun: BaselineRun | undefined;
  if (params.baseline) {
    const b = await startBaselineWithWarmup(setup);
    await waitForQuietBaseline(setup, b);
    baselineRun = await b.run({ tag: `b${runTag}`, messages: params.baselineMessages, people: params.people, rate: params.rate }, params.quietBelowPercent);
    const judgedCommitted = com.n > 0;
    const text = [
      ...baselineReport(baselineRun),
      '',
      ...sideBySide(
        params.rate,
        {
          what: judgedCommitted ? 'webhook ok → recordEvents done (histories)' : 'webhook ok → comment visible (API)',
          verdict: judged,
          all: judgedCommitted ? com : lat,
          followUp: judgedCommitted ? comFollow : latFollow,
          actionsPerMessage,
          rssPerCachedKiB,
        },
        {
          verdict: baselineRun.verdict,
          all: baselineRun.latencyMs.done,
          followUp: baselineRun.latencyMs.doneFollowUp,
          actionsPerMessage: baselineRun.actionsPerMessage,
          rssPerCachedKiB: baselineRun.rssPerCachedWorkflowKiB,
        },
      ),
    ].join('\n');
    console.log(`\n${text}\n`);
    report = `${report}\n\n${text}`;
  }

  // ---- JSON ----
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const result = {
    ...resultHeader('inbound-latency', runStarted, machine),
    channel: params.channel,
    code: gitState(),
    complete: r.complete,
    verdict,
    keepsUp,
    notKeepingUpReasons: reasons,
    saturationReasons: saturation,
    disturbedByOtherProcesses: disturbed,
    latencyMs: {
      visible: rounded(lat),
      visibleFirstMessage: rounded(latFirst),
      visibleFollowUp: rounded(latFollow),
      visibleLowerBound: rounded(lowerBound),
      committed: rounded(com),
      committedFirstMessage: rounded(comFirst),
      committedFollowUp: rounded(comFollow),
      judged: polled ? 'visible' : 'committed',
      pollResolution: rounded(resolution),
      webhookAnswer: rounded(answer),
      sendLag: rounded(sendLag),
      trendByFifth: trend,
      drainAfterLastAnswer: Number.isFinite(drainMs) ? Math.round(drainMs) : null,
    },
    acceptedRatePerSecond: Math.round(acceptedRate * 100) / 100,
    postingWindowSeconds: Math.round(windowS * 100) / 100,
    measuredSeconds: Math.round(measuredS * 100) / 100,
    polling: {
      intervalMs: params.pollIntervalMs,
      watch: params.watch,
      feedEvents: r.poll.feedEvents ?? 0,
      feedResyncs: r.poll.feedResyncs ?? 0,
      concurrency: params.pollConcurrency,
      taskReads: r.poll.taskReads,
      listReads: r.poll.listRequests,
      emptyTaskReads: r.poll.emptyTaskReads,
      conditionalReads: params.conditionalReads,
      notModifiedReads: r.poll.notModifiedReads,
      requestsPerSecond: Math.round(((r.poll.taskReads + r.poll.listRequests) / pollWindowS) * 10) / 10,
      taskReadsPerMessage: Math.round((r.poll.taskReads / params.messages) * 100) / 100,
      taskReadMs: rounded(reads),
      listReadMs: rounded(summarize(r.poll.listMs)),
    },
    temporal: {
      workflows: history?.workflows,
      runs: history?.runs.length,
      historyEvents: history?.totalEvents,
      historyEventsPerMessage: history ? Math.round((history.totalEvents / params.messages) * 100) / 100 : undefined,
      eventTypes: history?.eventTypes,
      activityTypes: history?.activityTypes,
      actions: actions ?? null,
      actionsTotal: actions ? total(actions) : null,
      actionsPerMessage: actions ? Math.round((total(actions) / params.messages) * 100) / 100 : null,
      metricsError: metricsError ?? null,
      serverHistograms: server ?? null,
      activityStartDeferred: history?.activityStartDeferred,
      breakdown: breakdown?.rows,
      meanRecordEventsBatch: breakdown ? Math.round(breakdown.meanBatch * 100) / 100 : undefined,
    },
    fakeVkCalls: vkCalls,
    fakeGraphCalls: graphCalls,
    statusPhase: statusPhase ? { ...statusPhase, report: undefined } : null,
    cost: {
      actionPricePerMillionUsd: params.actionPricePerMillion,
      priceSource: ACTION_PRICE_SOURCE,
      usdPerMillionMessages: actionsPerMessage === undefined ? null : Math.round(costPerMillionMessages(actionsPerMessage, params.actionPricePerMillion) * 100) / 100,
    },
    memory: {
      rssBeforeKiB: memBefore.rssKiB ?? null,
      rssAfterKiB: memAfter.rssKiB ?? null,
      cachedWorkflowsBefore: memBefore.cached,
      cachedWorkflowsAfter: memAfter.cached,
      maxCachedWorkflows: s.config.WORKER_MAX_CACHED_WORKFLOWS,
      rssPerCachedConversationKiB: rssPerCachedKiB === undefined ? null : Math.round(rssPerCachedKiB),
    },
    baseline: baselineRun ?? null,
    apiHandlers: handlers,
    cpu,
    backgroundCpuBeforeRun: background,
    cpuSpeedIndex: { before: speedBefore, after: speedAfter },
    eventLoopDelayMs: { p50: r1(eld.percentile(50) / 1e6), p99: r1(eld.percentile(99) / 1e6), max: r1(eld.max / 1e6) },
    driverEventLoopDelayMs: r.driverEventLoop,
    mainThreadBusyPercent: mainThreadBusy,
    report,
    messages: msgs.map((m) => ({
      i: m.i,
      peer: m.peer,
      seq: m.seq,
      sendLagMs: m.sentAt === undefined ? null : r1(m.sentAt - m.scheduledAt),
      answerMs: m.answeredAt === undefined || m.sentAt === undefined ? null : r1(m.answeredAt - m.sentAt),
      visibleMs: !polled || m.seenAt === undefined || m.answeredAt === undefined ? null : r1(m.seenAt - m.answeredAt),
      committedMs: committed(m) === undefined ? null : r1(committed(m)!),
      lowerBoundMs: m.seenAt === undefined || m.answeredAt === undefined ? null : r1(Math.max(0, (m.lastNegativeAt ?? m.answeredAt) - m.answeredAt)),
      ...(m.seenBeforeAnswer ? { seenBeforeAnswer: true } : {}),
    })),
  };
  await mkdir(params.outDir, { recursive: true });
  const file = path.join(params.outDir, `inbound-latency-${runStarted.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`result written to ${path.relative(process.cwd(), file)}`);
  return r.complete && (statusPhase?.complete ?? true) && (baselineRun?.complete ?? true) ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// --find-rate: the highest rate each system keeps up with, in short steps (lib/rate-search.ts)

interface RateStepOutcome {
  keepsUp: boolean;
  verdict: Verdict['verdict'];
  verdictText: string;
  latencyMs: { p50: number; p95: number; followUpP95: number; drain: number | null };
  actionsPerMessage?: number;
  machineBusyPercent?: number;
  othersPercent?: number;
  disturbed: boolean;
}

function stepOutcome(v: Verdict, rate: number, all: Summary, drainMs: number, actionsPerMessage: number | undefined, cpu: CpuUse): RateStepOutcome {
  return {
    keepsUp: v.verdict === 'keeps up',
    verdict: v.verdict,
    verdictText: verdictText(v, rate),
    latencyMs: { p50: Math.round(all.p50), p95: Math.round(all.p95), followUpP95: Math.round(v.followUp.p95), drain: Number.isFinite(drainMs) ? Math.round(drainMs) : null },
    actionsPerMessage: actionsPerMessage === undefined ? undefined : Math.round(actionsPerMessage * 100) / 100,
    machineBusyPercent: cpu.machineBusyPercent,
    othersPercent: cpu.othersPercent,
    disturbed: (cpu.othersPercent ?? 0) >= params.quietBelowPercent,
  };
}

function sayStep(system: string, step: number, rate: number, o: RateStepOutcome): void {
  say(
    `find-rate ${system} step ${step + 1}: ${rate}/s → ${o.verdictText} ` +
      `(p50 ${o.latencyMs.p50} / p95 ${o.latencyMs.p95} ms, follow-up p95 ${o.latencyMs.followUpP95} ms; machine ${o.machineBusyPercent ?? '?'} % busy, ` +
      `others ${o.othersPercent ?? '?'} % of a core${o.disturbed ? ', DISTURBED' : ''})`,
  );
}

async function findRates(setup: Setup): Promise<number> {
  const { runStarted, machine, wa, s, driver, common, runTag, pids } = setup;
  let knownTaskIds = setup.knownTaskIds;
  const polled = params.pollIntervalMs > 0;
  const search = (tryRate: (rate: number, step: number) => Promise<RateStepOutcome>) =>
    findSustainableRate({ from: params.rateFrom, max: params.rateMax, precisionPercent: params.ratePrecisionPercent, maxSteps: params.maxSteps, tryRate });

  // ---- taskwire: each step new people (first messages included, as in one-rate mode) ----
  say(`find-rate: taskwire, ${params.messages} messages from ${params.people} new people per step, from ${params.rateFrom}/s`);
  await waitForQuiet({ pids, cores: machine.cores, waitQuietS: params.waitQuietS, quietBelowPercent: params.quietBelowPercent, say, check: run.check });
  const namespace = s.config.TEMPORAL_NAMESPACE;
  const tw = await search(async (rate, step) => {
    run.check();
    let actionsBefore: ActionCounts | undefined;
    try {
      actionsBefore = parseActionCounters(await fetchMetrics(s.metricsUrl), namespace);
    } catch {
      actionsBefore = undefined;
    }
    const cpuBefore = cpuSnapshot(pids);
    const r = await driver.run({
      ...common,
      tag: `r${runTag}s${step}`,
      messages: params.messages,
      people: params.people,
      rate,
      peerBase: (wa ? WA_PEER_BASE : PEER_BASE) + (step + 1) * 100_000,
      idBase: 10_000_000 * (step + 1),
      knownTaskIds,
      progressEvery: 1e9,
      quiet: true,
    });
    const cpu = cpuDiff(cpuBefore, cpuSnapshot(pids), machine.cores);
    knownTaskIds = [...knownTaskIds, ...r.taskIds];
    let actionsPerMessage: number | undefined;
    try {
      if (actionsBefore) actionsPerMessage = total(diffCounts(actionsBefore, parseActionCounters(await fetchSettledMetrics(s.metricsUrl, namespace), namespace))) / params.messages;
    } catch {
      actionsPerMessage = undefined;
    }
    // Judged as in one-rate mode: visible through the API, or (no polling) committed per the histories.
    let latencyOf = (m: Msg) => (m.answeredAt !== undefined && m.seenAt !== undefined ? m.seenAt - m.answeredAt : undefined);
    let drainMs = r.allSeenAt !== undefined ? r.allSeenAt - r.lastAnsweredAt : Number.NaN;
    if (!polled) {
      const peers = new Set(r.msgs.map((m) => String(m.peer)));
      const history = await analyzeConversationHistories(s.client, { includeWorkflowId: (id) => peers.has(id.split('/').pop() ?? '') });
      const re = new RegExp(`^bench ${r.tag} m(\\d+) `);
      const committedAt = new Map<number, number>();
      for (const t of history.signals) {
        const m = re.exec(String(t.event.text ?? ''));
        if (m && t.recordCompletedAt !== undefined) committedAt.set(Number(m[1]), t.recordCompletedAt);
      }
      latencyOf = (m) => (m.answeredAt !== undefined && committedAt.has(m.i) ? committedAt.get(m.i)! - m.answeredAt : undefined);
      drainMs = committedAt.size ? Math.max(...committedAt.values()) - r.lastAnsweredAt : Number.NaN;
    }
    const answered = r.msgs.filter((m) => m.answeredAt !== undefined).length;
    const sendLag = summarize(r.msgs.filter((m) => m.sentAt !== undefined).map((m) => m.sentAt! - m.scheduledAt));
    const v = judge({
      rate,
      messages: r.msgs.map((m) => ({ seq: m.seq, latency: latencyOf(m) })),
      acceptedRate: answered / ((r.lastAnsweredAt - r.startedAt) / 1000),
      sendLag,
      complete: r.complete,
      drainMs,
    });
    const all = summarize(r.msgs.map(latencyOf).filter((x): x is number => x !== undefined));
    const out = stepOutcome(v, rate, all, drainMs, actionsPerMessage, cpu);
    sayStep('taskwire', step, rate, out);
    return out;
  });

  // ---- the baseline, on its own dev server ----
  let raw: Awaited<ReturnType<typeof search>> | undefined;
  if (params.baseline) {
    const b = await startBaselineWithWarmup(setup);
    say(`find-rate: raw Temporal, ${params.baselineMessages} messages into ${params.people} new workflows per step, from ${params.rateFrom}/s`);
    await waitForQuietBaseline(setup, b);
    raw = await search(async (rate, step) => {
      run.check();
      const br = await b.run({ tag: `r${runTag}s${step}`, messages: params.baselineMessages, people: params.people, rate, quiet: true }, params.quietBelowPercent);
      const drain = br.latencyMs.drainAfterLastAnswer ?? Number.NaN;
      const out = stepOutcome(br.verdict, rate, br.latencyMs.done, drain, br.actionsPerMessage, br.cpu);
      sayStep('raw Temporal', step, rate, out);
      return out;
    });
  }

  // ---- report ----
  const rateText = (x: { sustained?: number; failed?: number }) =>
    x.sustained === undefined
      ? `none (${x.failed}/s did not keep up)`
      : `${x.sustained}/s` + (x.failed === undefined ? ` (every rate tried kept up: ≥ ${x.sustained}/s)` : ` (${x.failed}/s did not)`);
  const atBest = (x: { sustained?: number; steps: Array<{ rate: number } & RateStepOutcome> }) => x.steps.find((st) => st.rate === x.sustained);
  const costAt = (x: { sustained?: number; steps: Array<{ rate: number } & RateStepOutcome> }) => costText(atBest(x)?.actionsPerMessage, params.actionPricePerMillion);
  const ratio = tw.sustained !== undefined && raw?.sustained ? tw.sustained / raw.sustained : undefined;
  const judgedOn = polled ? 'webhook ok → comment visible (API)' : 'webhook ok → recordEvents done (histories)';
  const stepRows = [
    ...tw.steps.map((st, k) => ['taskwire', String(k + 1), `${st.rate}/s`, st, judgedOn] as const),
    ...(raw?.steps ?? []).map((st, k) => ['raw Temporal', String(k + 1), `${st.rate}/s`, st, 'signal ok → local activity done'] as const),
  ];
  const lines = [
    `inbound-latency --find-rate${wa ? ' (WhatsApp)' : ''} — ${params.people} people per step, ${params.messages} messages per taskwire step, ` +
      `${params.baselineMessages} per raw-Temporal step; ${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}`,
    '',
    table([
      ['system', 'step', 'rate', 'verdict', 'p50 ms', 'p95 ms', 'follow-up p95', 'drain ms', 'actions/msg', 'machine busy', 'others'],
      ...stepRows.map(([system, k, rate, st]) => [
        system,
        k,
        rate,
        st.verdict + (st.disturbed ? ' (DISTURBED)' : ''),
        String(st.latencyMs.p50),
        String(st.latencyMs.p95),
        String(st.latencyMs.followUpP95),
        st.latencyMs.drain === null ? '-' : String(st.latencyMs.drain),
        st.actionsPerMessage === undefined ? '-' : st.actionsPerMessage.toFixed(2),
        `${st.machineBusyPercent ?? '?'} %`,
        `${st.othersPercent ?? '?'} %`,
      ]),
    ]),
    `(latency: taskwire ${judgedOn}; raw Temporal signal-with-start ok → no-op local activity done; "keeps up" as in one-rate mode, not saturated)`,
    '',
    `sustainable rate, taskwire: ${rateText(tw)}; ${costAt(tw)}`,
    raw ? `sustainable rate, raw Temporal (own dev server, same flags): ${rateText(raw)}; ${costAt(raw)}` : 'sustainable rate, raw Temporal: not measured (--no-baseline)',
    ratio === undefined ? 'taskwire / raw Temporal: -' : `taskwire / raw Temporal: ${ratio.toFixed(2)} (${Math.round(ratio * 100)} % of the baseline's sustainable rate, same run)`,
    `(cost at ${ACTION_PRICE_SOURCE}: $${params.actionPricePerMillion} per million actions)`,
  ];
  if ([...tw.steps, ...(raw?.steps ?? [])].some((st) => st.disturbed)) lines.push('DISTURBED: other processes used the machine during some steps (marked)');
  const report = lines.join('\n');
  console.log(`\n${report}\n`);

  const result = {
    ...resultHeader('inbound-latency --find-rate', runStarted, machine),
    code: gitState(),
    taskwire: tw,
    baseline: raw ?? null,
    ratio: ratio === undefined ? null : Math.round(ratio * 1000) / 1000,
    actionPrice: { usdPerMillionActions: params.actionPricePerMillion, source: ACTION_PRICE_SOURCE },
    report,
  };
  await mkdir(params.outDir, { recursive: true });
  const file = path.join(params.outDir, `inbound-latency-find-rate-${runStarted.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`result written to ${path.relative(process.cwd(), file)}`);
  return 0;
}

await run.finish(main);
