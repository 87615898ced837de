/**
 * Bulk-send benchmark (issue 5): what one mailing to N people costs, and how fast the held
 * broadcasts reach the tasks when everybody answers.
 *
 *   npm run bench:bulk -- [--recipients 5000] [--channel vk|whatsapp] [--reply-rate 20]
 *   VK_RATE_LIMIT_PER_SECOND=200 npm run bench:bulk      # the channel queue's rate limit for the run
 *
 * Starts the same private taskwire as `npm run bench` (lib/stack.ts: embedded PostgreSQL,
 * in-memory Temporal dev server, fake VK / Graph API, the workers and the real HTTP server, all
 * in THIS Node process), creates a channel and then:
 *
 * 1. Bulk phase: `POST /api/channels/:id/bulk-sends` with N recipients, then `GET
 *    /api/bulk-sends/:id` every 250 ms until `status: done`, and the database until all N
 *    `broadcasts` rows of the job are `held` (the conversations stored them). Measured: wall
 *    time, peak RSS of this process (API + workers) and of Temporal (sampled every 250 ms by a
 *    separate process, plus the kernel's exact VmHWM of this process), Temporal history events of
 *    every workflow run on the task queue (all histories read), rows per table, open workflows.
 * 2. Reply phase: one inbound message webhook per recipient, open loop at --reply-rate (posted by
 *    the forked load generator, lib/driver.ts, without any API reads), while the database is
 *    polled until every broadcast of the job is `attached`. Per recipient: webhook answered →
 *    the broadcast row's `updated_at` (set in the attaching transaction). Then the same cost
 *    numbers again, and a check that every attached broadcast became a `broadcast: true` comment
 *    placed before the reply in the reply's task.
 *
 * Results: printed summary, `bench/results/bulk-send-<timestamp>.json`. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { channelTaskQueue } from '../workflows/shared/temporal.js';
import type { PhaseResult } from './lib/driver.js';
import { checkCommandLine, COMMON_OPTIONS, commonParams, stackFlags } from './lib/cli.js';
import { createBenchChannel } from './lib/channel.js';
import { cpuDiff, cpuSnapshot, cpuSpeedIndex, type CpuPids, type CpuUse } from './lib/proc-cpu.js';
import { readStatus, resetPeak, startRssSampler, type RssSampler } from './lib/rss.js';
import { gitState, machineInfo, waitForQuiet } from './lib/run-info.js';
import { createRunControl } from './lib/run-control.js';
import type { Stack } from './lib/stack.js';
import { fmt, rounded, summarize, table, type Summary } from './lib/stats.js';
import { eventTypeName } from './lib/temporal-history.js';
import { diffCounts, fetchSettledMetrics, parseActionCounters, total, type ActionCounts } from './lib/temporal-metrics.js';

/** Recipients are VK users 720000001… / wa_ids 7910000001… (other ranges than inbound-latency's). */
const VK_PEER_BASE = 720_000_000;
const WA_PEER_BASE = 7_910_000_000;
const MAILING_TEXT = 'Здравствуйте! Дарим скидку 15 % на все заказы до конца недели. Ответьте на это сообщение, если есть вопросы.';
/** Configuration variables passed from the environment to the private taskwire (loadConfig gets an explicit object). */
const PASSED_ENV = /^(VK_|WHATSAPP_|BROADCAST_|CONVERSATION_|WORKER_|MAX_API_BODY_BYTES$)/;

// ---------------------------------------------------------------------------------------------
// Command line

const HELP = `Usage: npm run bench:bulk -- [options]     (tsx bench/bulk-send.ts)

  --recipients N         people in the bulk send (default 5000)
  --channel C            vk (default; recipients {vkUserId}) or whatsapp (recipients {phone}, a template message)
  --replies N            reply phase: the first N recipients answer once each (default: all; 0 = skip the phase)
  --reply-rate R         reply webhooks per second, open loop (default 20: what a 2-core box sustains with 5000
                         conversations, most of them not in the worker's cache; 50/s is not)
  --rate-limit R         the channel task queue's limit (VK_RATE_LIMIT_PER_SECOND / WHATSAPP_RATE_LIMIT_PER_SECOND);
                         default: that variable from the environment, else taskwire's default (VK 20, WhatsApp 80)
  --echo                 VK only: the fake VK posts the message_reply callback of every send to /webhooks/vk, as
                         VK does for a community subscribed to outgoing messages (default off)
  --after-idle           before the replies, wait until the conversations' idle timers fired (CONVERSATION_IDLE_SECONDS
                         after the last held message, + 20 s) and measure again: what idle holding conversations cost.
                         Use with a short CONVERSATION_IDLE_SECONDS (e.g. 60); the default is an hour
  --timeout S            give up a phase after S seconds (default 1800)
  --wait-quiet S         before measuring, wait up to S s until other processes use < --quiet-below (default 120; 0 = don't)
  --quiet-below PCT      "quiet" = other processes under PCT % of one core (default 25)
  --no-history           skip reading the workflow histories
  --log-level L          taskwire's log level (default warn)
  --pg-fast              PostgreSQL with fsync/synchronous_commit/full_page_writes off (default: as npm start)
  --temporal-config K=V  extra dev server dynamic config (repeatable)
  --temporal-db          the dev server keeps its state in a SQLite file, as npm start's does (default: in memory)
  --out DIR              where the JSON result goes (default bench/results)
  --help

Other taskwire settings come from the environment: VK_*, WHATSAPP_*, BROADCAST_*, CONVERSATION_*, WORKER_*.`;

const { values: argv } = parseArgs({
  options: {
    recipients: { type: 'string', default: '5000' },
    replies: { type: 'string' },
    'reply-rate': { type: 'string', default: '20' },
    'rate-limit': { type: 'string' },
    echo: { type: 'boolean', default: false },
    'after-idle': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '1800' },
    ...COMMON_OPTIONS,
  },
  strict: true,
});
const { num, channel: channelKind } = checkCommandLine(HELP, argv);

const rateVar = channelKind === 'vk' ? 'VK_RATE_LIMIT_PER_SECOND' : 'WHATSAPP_RATE_LIMIT_PER_SECOND';
const recipients = num('recipients', argv.recipients, 1);
const params = {
  channel: channelKind,
  recipients,
  replies: argv.replies === undefined ? recipients : Math.min(recipients, num('replies', argv.replies, 0)),
  replyRate: num('reply-rate', argv['reply-rate'], 0.01, false),
  rateLimit: argv['rate-limit'] !== undefined ? num('rate-limit', argv['rate-limit'], 0.01, false) : undefined,
  echo: argv.echo! && channelKind === 'vk',
  afterIdle: argv['after-idle']!,
  timeoutS: num('timeout', argv.timeout, 1, false),
  ...commonParams(argv, num),
};

const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (PASSED_ENV.test(k) && v !== undefined && v !== '') env[k] = v;
if (params.rateLimit !== undefined) env[rateVar] = String(params.rateLimit);

const say = (line: string) => console.log(`[bench] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const MiB = (kib: number | undefined) => (kib === undefined ? '?' : (kib / 1024).toFixed(0));

// ---------------------------------------------------------------------------------------------
// Abort / cleanup (lib/run-control.ts): the RSS sampler, the driver and the stack are stopped on
// every way out.

let sampler: RssSampler | undefined;
const run = createRunControl({ say, stopExtras: () => sampler?.stop() });
const check = run.check;

// ---------------------------------------------------------------------------------------------
// Measurements

interface TableStats {
  rows: Record<string, number>;
  bytes: Record<string, number>;
  writes: Record<string, { ins: number; upd: number; del: number }>;
}

/** Exact row counts, total relation size (with indexes and TOAST) and cumulative writes of every table. */
async function tableStats(s: Stack): Promise<TableStats> {
  const r = await sql<{ relname: string; ins: string; upd: string; del: string; bytes: string }>`
    select relname, n_tup_ins::text as ins, n_tup_upd::text as upd, n_tup_del::text as del,
           pg_total_relation_size(relid)::text as bytes
    from pg_stat_user_tables where schemaname = 'public' order by relname`.execute(s.db);
  const out: TableStats = { rows: {}, bytes: {}, writes: {} };
  for (const row of r.rows) {
    const c = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(row.relname)}`.execute(s.db);
    out.rows[row.relname] = Number(c.rows[0]!.n);
    out.bytes[row.relname] = Number(row.bytes);
    out.writes[row.relname] = { ins: Number(row.ins), upd: Number(row.upd), del: Number(row.del) };
  }
  return out;
}

interface TableDiff {
  rows: number;
  bytes: number;
  ins: number;
  upd: number;
  del: number;
}

function diffTables(a: TableStats, b: TableStats): Record<string, TableDiff> {
  const out: Record<string, TableDiff> = {};
  for (const t of Object.keys(b.rows)) {
    const d: TableDiff = {
      rows: b.rows[t]! - (a.rows[t] ?? 0),
      bytes: b.bytes[t]! - (a.bytes[t] ?? 0),
      ins: b.writes[t]!.ins - (a.writes[t]?.ins ?? 0),
      upd: b.writes[t]!.upd - (a.writes[t]?.upd ?? 0),
      del: b.writes[t]!.del - (a.writes[t]?.del ?? 0),
    };
    if (d.rows || d.ins || d.upd || d.del) out[t] = d;
  }
  return out;
}

interface HistoryStats {
  /** Runs per workflow type (closed continued-as-new runs included). */
  runs: Record<string, number>;
  workflows: Record<string, number>;
  events: Record<string, number>;
  /** Events by type, per workflow type. */
  eventTypes: Record<string, Record<string, number>>;
  /** Runs per (workflow type, status). */
  statuses: Record<string, number>;
  /** Sum of historyLength from visibility (list), for comparison. */
  visibilityEvents: number;
  /** Activity attempts beyond the first (ACTIVITY_TASK_STARTED attempt − 1), by activity type: retries. */
  retries: Record<string, number>;
  /** Activities scheduled, by task queue and activity type (`queue type`). */
  activities: Record<string, number>;
  readSeconds: number;
}

/** Every run on the task queue (workflow.list with `TaskQueue = …`), each history read (fetchHistory). */
async function historyStats(s: Stack, concurrency = 8): Promise<HistoryStats> {
  const t0 = now();
  const listed: Array<{ workflowId: string; runId: string; type: string; status: string; historyLength: number }> = [];
  for await (const wf of s.client.workflow.list({ query: `TaskQueue = '${s.config.TEMPORAL_TASK_QUEUE}'` })) {
    listed.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type, status: wf.status.name, historyLength: wf.historyLength });
  }
  const out: HistoryStats = { runs: {}, workflows: {}, events: {}, eventTypes: {}, statuses: {}, visibilityEvents: 0, retries: {}, activities: {}, readSeconds: 0 };
  const ids: Record<string, Set<string>> = {};
  for (const wf of listed) {
    out.runs[wf.type] = (out.runs[wf.type] ?? 0) + 1;
    (ids[wf.type] ??= new Set()).add(wf.workflowId);
    out.statuses[`${wf.type} ${wf.status}`] = (out.statuses[`${wf.type} ${wf.status}`] ?? 0) + 1;
    out.visibilityEvents += wf.historyLength;
  }
  for (const [k, v] of Object.entries(ids)) out.workflows[k] = v.size;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < listed.length) {
        check();
        const wf = listed[next++]!;
        const h = await s.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
        const events = h.events ?? [];
        out.events[wf.type] = (out.events[wf.type] ?? 0) + events.length;
        const types = (out.eventTypes[wf.type] ??= {});
        const scheduledType = new Map<string, string>();
        for (const e of events) {
          const n = eventTypeName(e.eventType);
          types[n] = (types[n] ?? 0) + 1;
          if (n === 'ACTIVITY_TASK_SCHEDULED') {
            const a = e.activityTaskScheduledEventAttributes;
            scheduledType.set(String(e.eventId), a?.activityType?.name ?? '?');
            const key = `${a?.taskQueue?.name ?? '?'} ${a?.activityType?.name ?? '?'}`;
            out.activities[key] = (out.activities[key] ?? 0) + 1;
          }
          if (n === 'ACTIVITY_TASK_STARTED' && (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) {
            const a = e.activityTaskStartedEventAttributes!;
            const name = `${wf.type}/${scheduledType.get(String(a.scheduledEventId)) ?? '?'}`;
            out.retries[name] = (out.retries[name] ?? 0) + (a.attempt ?? 1) - 1;
          }
        }
      }
    }),
  );
  for (const [k, v] of Object.entries(out.eventTypes)) out.eventTypes[k] = Object.fromEntries(Object.entries(v).sort((a, b) => b[1] - a[1]));
  out.readSeconds = Math.round((now() - t0) / 100) / 10;
  return out;
}

interface OpenWorkflows {
  running: number;
  runningConversations: number;
  /** Running conversations with TwHeldBroadcasts > 0 (visibility). */
  holding: number;
  runningBulkSends: number;
}

async function countWorkflows(s: Stack, query: string): Promise<number> {
  try {
    return (await s.client.workflow.count(query)).count;
  } catch {
    let n = 0;
    for await (const _ of s.client.workflow.list({ query })) n++;
    return n;
  }
}

/** Counts from visibility, read until two reads 1 s apart agree (visibility trails the histories). */
async function openWorkflows(s: Stack): Promise<OpenWorkflows> {
  const q = `TaskQueue = '${s.config.TEMPORAL_TASK_QUEUE}' AND ExecutionStatus = 'Running'`;
  const read = async (): Promise<OpenWorkflows> => ({
    running: await countWorkflows(s, q),
    runningConversations: await countWorkflows(s, `${q} AND WorkflowType = 'conversation'`),
    holding: await countWorkflows(s, `${q} AND WorkflowType = 'conversation' AND TwHeldBroadcasts > 0`),
    runningBulkSends: await countWorkflows(s, `${q} AND WorkflowType = 'bulkSend'`),
  });
  let last = await read();
  for (let i = 0; i < 10; i++) {
    await sleep(1000);
    const again = await read();
    if (JSON.stringify(again) === JSON.stringify(last)) return again;
    last = again;
  }
  return last;
}

async function actionCounts(s: Stack): Promise<ActionCounts | undefined> {
  try {
    const text = await fetchSettledMetrics(s.metricsUrl, s.config.TEMPORAL_NAMESPACE);
    return parseActionCounters(text, s.config.TEMPORAL_NAMESPACE);
  } catch {
    return undefined;
  }
}

async function broadcastCounts(s: Stack, bulkSendId: string): Promise<Record<string, number>> {
  const r = await sql<{ status: string; n: string }>`
    select status, count(*)::text as n from broadcasts where bulk_send_id = ${bulkSendId} group by status`.execute(s.db);
  return Object.fromEntries(r.rows.map((x) => [x.status, Number(x.n)]));
}

function memory() {
  const m = process.memoryUsage();
  const st = readStatus(process.pid);
  return {
    rssMiB: Math.round(m.rss / 2 ** 20),
    heapUsedMiB: Math.round(m.heapUsed / 2 ** 20),
    heapTotalMiB: Math.round(m.heapTotal / 2 ** 20),
    externalMiB: Math.round(m.external / 2 ** 20),
    arrayBuffersMiB: Math.round(m.arrayBuffers / 2 ** 20),
    hwmMiB: st.hwmKiB === undefined ? undefined : Math.round(st.hwmKiB / 1024),
  };
}

interface PhaseCost {
  history?: HistoryStats;
  tables: Record<string, TableDiff>;
  actions?: ActionCounts;
  open: OpenWorkflows;
}

/** After a phase: the machine settles (PostgreSQL flushes its statistics), then everything is read. */
async function phaseCost(s: Stack, tablesBefore: TableStats, actionsBefore: ActionCounts | undefined): Promise<PhaseCost & { tablesAfter: TableStats; actionsAfter?: ActionCounts }> {
  // PostgreSQL backends flush their cumulative statistics within 10 s of going idle.
  await sleep(11_000);
  check();
  const open = await openWorkflows(s);
  const actionsAfter = await actionCounts(s);
  const tablesAfter = await tableStats(s);
  let history: HistoryStats | undefined;
  if (params.history) {
    say('reading every workflow history on the task queue …');
    history = await historyStats(s);
    say(`read ${Object.values(history.runs).reduce((a, b) => a + b, 0)} histories in ${history.readSeconds} s`);
  }
  return {
    history,
    tables: diffTables(tablesBefore, tablesAfter),
    actions: actionsBefore && actionsAfter ? diffCounts(actionsBefore, actionsAfter) : undefined,
    open,
    tablesAfter,
    actionsAfter,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const runStarted = new Date();
  const machine = machineInfo();
  const wa = channelKind === 'whatsapp';
  // Others may commit or edit while we run: the code measured is what the workers bundled at start.
  const codeAtStart = gitState();
  say(
    `bulk-send: ${params.recipients} ${channelKind} recipients, then ${params.replies} replies at ${params.replyRate}/s; ` +
      `${machine.cores} cores; taskwire settings from the environment: ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`,
  );

  const s = await run.startStack({ logLevel: params.logLevel, env, ...stackFlags(params), say });
  const rateLimit = s.config[rateVar];
  const settings = {
    [rateVar]: rateLimit,
    CONVERSATION_IDLE_SECONDS: s.config.CONVERSATION_IDLE_SECONDS,
    BROADCAST_RETENTION_SECONDS: s.config.BROADCAST_RETENTION_SECONDS,
    WORKER_MAX_CACHED_WORKFLOWS: s.config.WORKER_MAX_CACHED_WORKFLOWS,
    CONVERSATION_CONTINUE_AS_NEW_EVENTS: s.config.CONVERSATION_CONTINUE_AS_NEW_EVENTS,
  };
  say(`settings: ${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(', ')}`);

  const webhooks = await createBenchChannel(s, channelKind, say);
  const { channelId } = webhooks;
  if (params.echo) {
    s.vk.setCallback({ url: `${s.apiUrl}/webhooks/vk`, secret: webhooks.secret });
    say('fake VK echoes every send as message_reply to /webhooks/vk');
  }

  const driver = await run.startDriver();
  const pids: CpuPids = { driverPid: driver.pid, temporalPid: s.temporalPid, postmasterPidFile: path.join(s.postgresDataDir, 'postmaster.pid') };
  sampler = startRssSampler({ taskwire: process.pid, temporal: s.temporalPid, driver: driver.pid }, 250);

  const peers = Array.from({ length: params.recipients }, (_, k) => (wa ? WA_PEER_BASE : VK_PEER_BASE) + k + 1);
  const body = {
    recipients: peers.map((p) => (wa ? { phone: `+${p}` } : { vkUserId: p })),
    ...(wa ? { template: { name: 'bench_mailing', language: 'ru' } } : { text: MAILING_TEXT }),
  };

  // ---- before ----
  const background = await waitForQuiet({ pids, cores: machine.cores, waitQuietS: params.waitQuietS, quietBelowPercent: params.quietBelowPercent, say, check });
  const speedBefore = await cpuSpeedIndex();
  await sleep(11_000); // pg statistics of the setup flushed
  const tables0 = await tableStats(s);
  const actions0 = await actionCounts(s);
  const mem0 = memory();
  const temporalRss0 = readStatus(s.temporalPid).rssKiB;
  say(`before: taskwire RSS ${mem0.rssMiB} MiB (heap ${mem0.heapUsedMiB} MiB), Temporal RSS ${MiB(temporalRss0)} MiB`);

  // ================================ bulk phase ================================
  const peakReset = resetPeak();
  const vkCalls0 = s.vk.calls.length;
  const graphCalls0 = s.graph.calls.length;
  const cpu1a = cpuSnapshot(pids);
  const elu1a = performance.eventLoopUtilization();
  const t0 = now();
  const post = await s.api<{ id: string; total: number }>('POST', `/api/channels/${channelId}/bulk-sends`, body);
  const tPosted = now();
  if (post.status !== 202) throw new Error(`bulk send not accepted: HTTP ${post.status} ${JSON.stringify(post.body).slice(0, 500)}`);
  const bulkSendId = post.body.id;
  say(`POST /bulk-sends → 202 {id: ${bulkSendId}, total: ${post.body.total}} in ${(tPosted - t0).toFixed(0)} ms`);

  let tDone: number | undefined;
  let tAllHeld: number | undefined;
  let job = { sent: 0, failed: 0, total: 0, status: 'running' };
  let held = 0;
  let lastProgress = t0;
  const progress: Array<{ s: number; sent: number; failed: number; held: number; rssMiB?: number }> = [];
  let getStatusMs: number[] = [];
  for (;;) {
    check();
    const g0 = now();
    const g = await s.api<typeof job>('GET', `/api/bulk-sends/${bulkSendId}`);
    const g1 = now();
    getStatusMs.push(g1 - g0);
    if (g.status !== 200) throw new Error(`GET /api/bulk-sends/${bulkSendId}: HTTP ${g.status} ${JSON.stringify(g.body)}`);
    job = g.body;
    if (job.status === 'done' && tDone === undefined) tDone = g1;
    if (tAllHeld === undefined) {
      held = (await broadcastCounts(s, bulkSendId)).held ?? 0;
      if (held >= job.sent && job.status === 'done') tAllHeld = now();
    }
    const t = now();
    if (t - lastProgress >= 10_000 || (tDone !== undefined && tAllHeld !== undefined)) {
      lastProgress = t;
      const rss = sampler.samples.at(-1)?.kib.taskwire;
      progress.push({ s: Math.round((t - t0) / 100) / 10, sent: job.sent, failed: job.failed, held, rssMiB: rss === undefined ? undefined : Math.round(rss / 1024) });
      say(
        `${((t - t0) / 1000).toFixed(0)} s: ${job.sent} sent, ${job.failed} failed of ${job.total} (${job.status}); ${held} held; ` +
          `taskwire RSS ${MiB(rss)} MiB, Temporal ${MiB(sampler.samples.at(-1)?.kib.temporal)} MiB`,
      );
    }
    if (tDone !== undefined && tAllHeld !== undefined) break;
    if (t - t0 > params.timeoutS * 1000) {
      say(`TIMEOUT: bulk phase not finished after ${params.timeoutS} s (${job.sent} sent, ${job.failed} failed, ${held} held)`);
      break;
    }
    await sleep(250);
  }
  const t1 = now();
  const cpu1 = cpuDiff(cpu1a, cpuSnapshot(pids), machine.cores);
  const elu1 = Math.round(performance.eventLoopUtilization(elu1a).utilization * 1000) / 10;
  const hwm1 = readStatus(process.pid).hwmKiB;
  const mem1 = memory();
  const peak1 = sampler.peak('taskwire', t0, t1);
  const peakTemporal1 = sampler.peak('temporal', t0, t1);
  const vkCalls1: Record<string, number> = {};
  for (const c of s.vk.calls.slice(vkCalls0)) vkCalls1[c.method] = (vkCalls1[c.method] ?? 0) + 1;
  const graphCalls1: Record<string, number> = {};
  for (const c of s.graph.calls.slice(graphCalls0)) graphCalls1[`${c.method} ${c.kind}`] = (graphCalls1[`${c.method} ${c.kind}`] ?? 0) + 1;
  const bulkComplete = tDone !== undefined && tAllHeld !== undefined;
  say(
    `bulk phase: done after ${tDone === undefined ? '-' : ((tDone - t0) / 1000).toFixed(1)} s, all held after ` +
      `${tAllHeld === undefined ? '-' : ((tAllHeld - t0) / 1000).toFixed(1)} s; settling 11 s, then reading the costs …`,
  );
  const cost1 = await phaseCost(s, tables0, actions0);
  const mem1settled = memory();
  const heldAfter = await broadcastCounts(s, bulkSendId);
  const heldN = heldAfter.held ?? 0;

  // ---- report helpers ----
  const N = params.recipients;
  const pct = (x?: number) => (x === undefined ? '?' : `${x.toFixed(0)} %`);
  const sec = (a?: number, b?: number) => (a === undefined || b === undefined ? '-' : `${((b - a) / 1000).toFixed(1)} s`);
  const cpuLine = (c: CpuUse) =>
    `CPU over ${c.wallSeconds} s (100 % = one core): taskwire node (API + workers) ${pct(c.nodePercent)}, temporal ${pct(c.temporalPercent)}, ` +
    `postgres ${pct(c.postgresPercent)}, load generator ${pct(c.driverPercent)}, other processes ${pct(c.othersPercent)}; machine busy ${pct(c.machineBusyPercent)} of ${machine.cores} cores`;
  const histLines = (h: HistoryStats | undefined, held: number, what = 'events per held message') => {
    if (!h) return ['Temporal history: not read (--no-history)'];
    const conv = h.events.conversation ?? 0;
    const bulk = h.events.bulkSend ?? 0;
    const all = Object.values(h.events).reduce((a, b) => a + b, 0);
    return [
      `Temporal history (every run on the task queue, all histories read): conversation ${conv} events in ${h.runs.conversation ?? 0} runs of ${h.workflows.conversation ?? 0} workflows, ` +
        `bulkSend ${bulk} events in ${h.runs.bulkSend ?? 0} runs` +
        (all !== conv + bulk ? `, other ${all - conv - bulk}` : '') +
        ` → ${held ? ((conv + bulk) / held).toFixed(2) : '-'} ${what} (conversation ${held ? (conv / held).toFixed(2) : '-'}, bulkSend ${held ? (bulk / held).toFixed(2) : '-'})`,
      `  runs by status: ${Object.entries(h.statuses).map(([k, v]) => `${k} ${v}`).join(', ')}; activity retries (attempts beyond the first): ` +
        `${Object.entries(h.retries).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
      ...Object.entries(h.eventTypes).map(([wf, types]) => `  ${wf} events: ${Object.entries(types).map(([k, v]) => `${k} ${v}`).join(', ')}`),
    ];
  };
  const tableLines = (d: Record<string, TableDiff>, per: number, perWhat: string) => {
    const order = Object.entries(d).sort((a, b) => b[1].rows - a[1].rows || b[1].ins + b[1].upd - (a[1].ins + a[1].upd));
    const totalRows = order.reduce((a, [, x]) => a + x.rows, 0);
    const totalBytes = order.reduce((a, [, x]) => a + x.bytes, 0);
    const totalWrites = order.reduce((a, [, x]) => a + x.ins + x.upd + x.del, 0);
    return [
      table([
        ['table', 'rows added', `per ${perWhat}`, 'inserted', 'updated', 'deleted', 'size added'],
        ...order.map(([t, x]) => [t, String(x.rows), (x.rows / per).toFixed(2), String(x.ins), String(x.upd), String(x.del), `${(x.bytes / 2 ** 20).toFixed(1)} MiB`]),
        ['total', String(totalRows), (totalRows / per).toFixed(2), '', '', '', `${(totalBytes / 2 ** 20).toFixed(1)} MiB`],
      ]),
      `  row writes (pg_stat n_tup_ins + n_tup_upd + n_tup_del): ${totalWrites} = ${(totalWrites / per).toFixed(2)} per ${perWhat}; ` +
        `on-disk size added ${(totalBytes / per).toFixed(0)} bytes per ${perWhat} (tables + indexes)`,
    ];
  };
  const openLine = (o: OpenWorkflows) =>
    `open (Running) workflows afterwards: ${o.running} on the task queue — ${o.runningConversations} conversations, ${o.holding} of them holding (TwHeldBroadcasts > 0), ${o.runningBulkSends} bulkSend`;
  const actionLine = (a: ActionCounts | undefined, per: number, perWhat: string) =>
    a ? `Temporal actions (server metric): ${total(a)} = ${(total(a) / per).toFixed(2)} per ${perWhat}: ${Object.entries(a).map(([k, v]) => `${k} ${v}`).join(', ')}` : 'Temporal actions: unavailable';

  // ---- bulk report (printed now: the reply phase may fail) ----
  const lines: string[] = [];
  lines.push(
    `bulk-send — ${N} ${channelKind} recipients, ${params.replies} replies at ${params.replyRate}/s; ${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}`,
  );
  lines.push(`settings: ${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(', ')}${params.echo ? ', fake VK echoes sends (message_reply)' : ''}${params.pgFast ? ', --pg-fast' : ''}`);
  lines.push('');
  lines.push(`== 1. bulk send (POST → GET status done) ==`);
  lines.push(
    `POST answered 202 in ${(tPosted - t0).toFixed(0)} ms; status done after ${sec(t0, tDone)} ` +
      `(${tDone ? ((job.sent + job.failed) / ((tDone - t0) / 1000)).toFixed(1) : '-'} recipients/s); all ${heldN} broadcasts held after ${sec(t0, tAllHeld)}` +
      (bulkComplete ? '' : ' — INCOMPLETE'),
  );
  lines.push(`result: ${job.sent} sent, ${job.failed} failed of ${job.total}; broadcasts by status: ${Object.entries(heldAfter).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const calls1 = wa ? graphCalls1 : vkCalls1;
  // The limit is the channel worker's maxTaskQueueActivitiesPerSecond: it counts activity tasks on
  // the channel queue (whether or not they call the channel's API), not API calls.
  const queue = channelTaskQueue(s.config.TEMPORAL_TASK_QUEUE, channelKind);
  const queued = Object.entries(cost1.history?.activities ?? {}).filter(([k]) => k.startsWith(`${queue} `));
  const queuedN = queued.reduce((a, [, v]) => a + v, 0);
  lines.push(`channel API calls: ${Object.entries(calls1).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  lines.push(
    cost1.history
      ? `activity tasks on the rate-limited queue ${queue}: ${queued.map(([k, v]) => `${k.slice(queue.length + 1)} ${v}`).join(', ')} ` +
          `= ${(queuedN / N).toFixed(2)} per recipient (limit ${rateLimit}/s ⇒ ≥ ${(queuedN / rateLimit).toFixed(0)} s)`
      : `activity tasks on the rate-limited queue ${queue}: not counted (--no-history); limit ${rateLimit}/s`,
  );
  lines.push(`progress (s: sent/held, taskwire RSS MiB): ${progress.map((p) => `${p.s}: ${p.sent}/${p.held} ${p.rssMiB ?? '?'}`).join(' · ')}`);
  const gs = summarize(getStatusMs);
  lines.push(`GET /api/bulk-sends/:id while running: ${gs.n} reads, p50 ${fmt(gs.p50, 1)} / p95 ${fmt(gs.p95, 1)} / max ${fmt(gs.max, 1)} ms`);
  lines.push('');
  lines.push(`== 2. memory (API + workers + fake channel APIs run in ONE Node process: "taskwire") ==`);
  lines.push(
    `taskwire peak RSS during the bulk phase: ${MiB(peak1?.kib)} MiB (250 ms samples; at ${peak1 ? ((peak1.at - t0) / 1000).toFixed(0) : '?'} s), ` +
      `kernel VmHWM ${peakReset ? `${MiB(hwm1)} MiB` : 'n/a'}; before ${mem0.rssMiB} MiB, at the end ${mem1.rssMiB} MiB, after settling ${mem1settled.rssMiB} MiB ` +
      `(V8 heap used ${mem0.heapUsedMiB} → ${mem1.heapUsedMiB} → ${mem1settled.heapUsedMiB} MiB, external ${mem0.externalMiB} → ${mem1.externalMiB} MiB; main isolate only)`,
  );
  lines.push(`Temporal dev server RSS: before ${MiB(temporalRss0)} MiB, peak ${MiB(peakTemporal1?.kib)} MiB during the bulk phase`);
  lines.push('');
  lines.push(`== 3. Temporal cost of the bulk phase (${heldN} held messages) ==`);
  lines.push(...histLines(cost1.history, heldN));
  lines.push(actionLine(cost1.actions, heldN || 1, 'held message'));
  lines.push('');
  lines.push(`== 4. database rows added by the bulk phase (per recipient, N = ${N}) ==`);
  lines.push(...tableLines(cost1.tables, N, 'recipient'));
  lines.push('');
  lines.push(`== 5. ${openLine(cost1.open)} ==`);
  lines.push(cpuLine(cpu1));
  lines.push(`taskwire main thread busy ${elu1} % (event loop utilisation) during the bulk phase`);
  console.log(`\n${lines.join('\n')}\n`);

  // ================================ idle (optional) ================================
  let costIdle: (PhaseCost & { tablesAfter: TableStats; actionsAfter?: ActionCounts }) | undefined;
  let idleMem: { peakKiB?: number; endMiB: number; waitedS: number } | undefined;
  if (params.afterIdle && tAllHeld !== undefined) {
    const until = tAllHeld + (s.config.CONVERSATION_IDLE_SECONDS + 20) * 1000;
    const i0 = now();
    const cpuI = cpuSnapshot(pids);
    say(`waiting ${((until - now()) / 1000).toFixed(0)} s until every conversation's idle timer (${s.config.CONVERSATION_IDLE_SECONDS} s) has fired …`);
    while (now() < until) {
      check();
      await sleep(Math.min(10_000, Math.max(0, until - now())));
      say(`  taskwire RSS ${MiB(sampler.samples.at(-1)?.kib.taskwire)} MiB`);
    }
    const cpuIdle = cpuDiff(cpuI, cpuSnapshot(pids), machine.cores);
    costIdle = await phaseCost(s, cost1.tablesAfter, cost1.actionsAfter);
    idleMem = { peakKiB: sampler.peak('taskwire', i0, now())?.kib, endMiB: memory().rssMiB, waitedS: Math.round((now() - i0) / 1000) };
    const idleLines = [
      '',
      `== 5b. after the idle timers fired (${s.config.CONVERSATION_IDLE_SECONDS} s after the last held message) ==`,
      ...histLines(costIdle.history, heldN, 'events per held message, cumulative'),
      ...(cost1.history && costIdle.history
        ? [`  added while idle: ${(costIdle.history.events.conversation ?? 0) - (cost1.history.events.conversation ?? 0)} conversation events`]
        : []),
      actionLine(costIdle.actions, heldN || 1, 'held message'),
      `database rows: ${Object.entries(costIdle.tables).map(([t, d]) => `${t} +${d.rows} (${d.ins} ins, ${d.upd} upd, ${d.del} del)`).join(', ') || 'no change'}`,
      openLine(costIdle.open),
      `taskwire RSS while idle: peak ${MiB(idleMem.peakKiB)} MiB, at the end ${idleMem.endMiB} MiB`,
      `${cpuLine(cpuIdle)} (the wait, with the idle timers firing)`,
    ];
    lines.push(...idleLines);
    console.log(idleLines.join('\n'));
  }

  // ================================ reply phase ================================
  let reply:
    | {
        r?: PhaseResult;
        error?: string;
        failedAt?: number;
        t0: number;
        tEnd: number;
        tAllAttached?: number;
        attachedN: number;
        latencyFromAnswer: Summary;
        latencyFromSent: Summary;
        webhookAnswer: Summary;
        sendLag: Summary;
        cpu: CpuUse;
        elu: number;
        peak?: { kib: number; at: number };
        peakTemporal?: { kib: number; at: number };
        hwmKiB?: number;
        cost?: PhaseCost;
        ordered?: number;
        apiAttached?: number;
        trend: Array<{ s: number; attached: number }>;
        mem: ReturnType<typeof memory>;
      }
    | undefined;
  if (params.replies > 0 && heldN > 0) {
    const replyPeers = new Set(peers.slice(0, params.replies).map(String));
    const target = Math.min(heldN, params.replies);
    say(`reply phase: ${params.replies} inbound messages, one per recipient, at ${params.replyRate}/s …`);
    const tables1 = (costIdle ?? cost1).tablesAfter;
    const actions1 = (costIdle ?? cost1).actionsAfter;
    resetPeak();
    const cpu2a = cpuSnapshot(pids);
    const elu2a = performance.eventLoopUtilization();
    const runTag = randomBytes(3).toString('hex');
    const r0 = now();
    const phase = driver.run({
      ...webhooks,
      tag: `r${runTag}`,
      messages: params.replies,
      people: params.replies,
      rate: params.replyRate,
      peerBase: wa ? WA_PEER_BASE : VK_PEER_BASE,
      idBase: 1_000_000,
      knownTaskIds: [],
      pollIntervalMs: 0,
      pollConcurrency: 1,
      timeoutS: params.timeoutS,
      progressEvery: 1e9,
      quiet: true,
      postOnly: true,
    });
    let posted: PhaseResult | undefined;
    let postError: Error | undefined;
    phase.then(
      (x) => (posted = x),
      (e: unknown) => (postError = e instanceof Error ? e : new Error(String(e))),
    );
    let tAllAttached: number | undefined;
    let attachedN = 0;
    let lastP = r0;
    let failedAt: number | undefined;
    const trend: Array<{ s: number; attached: number }> = [];
    for (;;) {
      check();
      const c = await broadcastCounts(s, bulkSendId);
      attachedN = c.attached ?? 0;
      const t = now();
      if (postError && failedAt === undefined) {
        failedAt = t;
        say(`reply phase FAILED after ${((t - r0) / 1000).toFixed(1)} s (${attachedN} attached): ${postError.message.split('\n')[0]}`);
        say('watching for 60 s more whether the broadcasts of the replies that were accepted still get attached …');
      }
      if (attachedN >= target && posted) {
        tAllAttached = t;
        break;
      }
      if (t - lastP >= 10_000) {
        lastP = t;
        trend.push({ s: Math.round((t - r0) / 100) / 10, attached: attachedN });
        say(`${((t - r0) / 1000).toFixed(0)} s: ${attachedN} attached, ${c.held ?? 0} still held; taskwire RSS ${MiB(sampler.samples.at(-1)?.kib.taskwire)} MiB`);
      }
      if (failedAt !== undefined && t - failedAt > 60_000) break;
      if (t - r0 > params.timeoutS * 1000) {
        say(`TIMEOUT: ${attachedN} of ${target} broadcasts attached after ${params.timeoutS} s`);
        break;
      }
      await sleep(250);
    }
    const r = posted;
    const r1 = now();
    const cpu2 = cpuDiff(cpu2a, cpuSnapshot(pids), machine.cores);
    const elu2 = Math.round(performance.eventLoopUtilization(elu2a).utilization * 1000) / 10;
    const hwm2 = readStatus(process.pid).hwmKiB;
    const mem2 = memory();
    trend.push({ s: Math.round((r1 - r0) / 100) / 10, attached: attachedN });

    const fromAnswer: number[] = [];
    const fromSent: number[] = [];
    let ordered: number | undefined;
    let apiAttached: number | undefined;
    let cost2: PhaseCost | undefined;
    if (r) {
      // Per recipient: webhook answered → broadcast row attached (updated_at, set in the attaching transaction).
      const rows = await sql<{ peer_id: string; updated_at: Date }>`
        select c.peer_id, b.updated_at from broadcasts b join conversations c on c.id = b.conversation_id
        where b.bulk_send_id = ${bulkSendId} and b.status = 'attached'`.execute(s.db);
      const attachedAt = new Map(rows.rows.map((x) => [x.peer_id, x.updated_at.getTime()]));
      for (const m of r.msgs) {
        const a = attachedAt.get(String(m.peer));
        if (a === undefined || !replyPeers.has(String(m.peer))) continue;
        if (m.answeredAt !== undefined) fromAnswer.push(a - m.answeredAt);
        if (m.sentAt !== undefined) fromSent.push(a - m.sentAt);
      }
      // Every attached broadcast is a `broadcast: true` comment placed before the reply in the reply's task.
      const o = await sql<{ n: string }>`
        select count(*)::text as n from broadcasts b
        join comments bc on bc.id = b.comment_id
        where b.bulk_send_id = ${bulkSendId} and b.status = 'attached' and bc.broadcast and bc.direction = 'outbound'
          and exists (select 1 from comments rc where rc.task_id = bc.task_id and rc.direction = 'inbound' and rc.id > bc.id)`.execute(s.db);
      ordered = Number(o.rows[0]!.n);
      // The same through the API: GET /api/broadcasts?status=attached&channelId=… (all pages).
      apiAttached = 0;
      let before: string | undefined;
      for (;;) {
        const g = await s.api<{ items: unknown[]; nextBefore?: string }>(
          'GET',
          `/api/broadcasts?status=attached&channelId=${channelId}&limit=1000${before ? `&before=${before}` : ''}`,
        );
        if (g.status !== 200) {
          say(`GET /api/broadcasts answered ${g.status}: ${JSON.stringify(g.body).slice(0, 300)}`);
          apiAttached = undefined;
          break;
        }
        apiAttached += g.body.items.length;
        if (!g.body.nextBefore) break;
        before = g.body.nextBefore;
      }
      say(`reply phase: all attached after ${tAllAttached === undefined ? '-' : ((tAllAttached - r0) / 1000).toFixed(1)} s; settling 11 s, then reading the costs …`);
      cost2 = await phaseCost(s, tables1, actions1);
    }
    const answered = (r?.msgs ?? []).filter((m) => m.answeredAt !== undefined && m.sentAt !== undefined);
    reply = {
      r,
      error: postError?.message.split('\n')[0],
      failedAt,
      t0: r0,
      tEnd: r1,
      tAllAttached,
      attachedN,
      latencyFromAnswer: summarize(fromAnswer),
      latencyFromSent: summarize(fromSent),
      webhookAnswer: summarize(answered.map((m) => m.answeredAt! - m.sentAt!)),
      sendLag: summarize((r?.msgs ?? []).filter((m) => m.sentAt !== undefined).map((m) => m.sentAt! - m.scheduledAt)),
      cpu: cpu2,
      elu: elu2,
      peak: sampler.peak('taskwire', r0, r1),
      peakTemporal: sampler.peak('temporal', r0, r1),
      hwmKiB: peakReset ? hwm2 : undefined,
      cost: cost2,
      ordered,
      apiAttached,
      trend,
      mem: mem2,
    };
  }
  const speedAfter = await cpuSpeedIndex();
  const memEnd = memory();

  // ---- reply report ----
  if (reply) {
    const x = reply;
    lines.push('');
    lines.push(`== 6. replies: ${params.replies} inbound webhooks (one per recipient) at ${params.replyRate}/s offered ==`);
    if (x.error || !x.r) {
      lines.push(`FAILED after ${sec(x.t0, x.failedAt)}: ${x.error ?? 'no result'}; ${x.attachedN} broadcasts attached by ${sec(x.t0, x.tEnd)}`);
    } else {
      const la = rounded(x.latencyFromAnswer, 0);
      const ls = rounded(x.latencyFromSent, 0);
      const wa2 = rounded(x.webhookAnswer, 1);
      const lag = rounded(x.sendLag, 1);
      const windowS = (x.r.lastAnsweredAt - x.r.startedAt) / 1000;
      lines.push(
        `accepted ${x.r.msgs.filter((m) => m.answeredAt !== undefined).length}/${params.replies} at ${(params.replies / windowS).toFixed(1)}/s over ${windowS.toFixed(1)} s; ` +
          `all ${x.attachedN} broadcasts attached ${sec(x.t0, x.tAllAttached)} after the phase began, ` +
          `${x.tAllAttached ? ((x.tAllAttached - x.r.lastAnsweredAt) / 1000).toFixed(1) : '-'} s after the last webhook answer`,
      );
      lines.push(
        table([
          ['ms', 'n', 'p50', 'p95', 'p99', 'max'],
          ['webhook answered → broadcast attached', String(la.n), fmt(la.p50), fmt(la.p95), fmt(la.p99), fmt(la.max)],
          ['webhook sent → broadcast attached', String(ls.n), fmt(ls.p50), fmt(ls.p95), fmt(ls.p99), fmt(ls.max)],
          ['webhook answer (POST → 200)', String(wa2.n), fmt(wa2.p50, 1), fmt(wa2.p95, 1), fmt(wa2.p99, 1), fmt(wa2.max, 1)],
          ['send lag vs schedule', String(lag.n), fmt(lag.p50, 1), fmt(lag.p95, 1), fmt(lag.p99, 1), fmt(lag.max, 1)],
        ]),
      );
      lines.push(
        `check: ${x.ordered}/${x.attachedN} attached broadcasts are broadcast comments before the reply in the reply's task; ` +
          `GET /api/broadcasts?status=attached lists ${x.apiAttached ?? '?'}`,
      );
    }
    lines.push(`progress (s: attached): ${x.trend.map((p) => `${p.s}: ${p.attached}`).join(' · ') || '-'}`);
    lines.push(
      `taskwire peak RSS during the replies: ${MiB(x.peak?.kib)} MiB (samples), VmHWM ${x.hwmKiB === undefined ? 'n/a' : `${MiB(x.hwmKiB)} MiB`}; at the end ${x.mem.rssMiB} MiB; ` +
        `Temporal peak ${MiB(x.peakTemporal?.kib)} MiB`,
    );
    if (x.cost) {
      lines.push(...histLines(x.cost.history, heldN, 'events per held message, cumulative after the replies'));
      // Since the last measurement: after the idle wait with --after-idle (its events are not the replies').
      const before = (costIdle ?? cost1).history;
      if (before && x.cost.history) {
        const d = (h: HistoryStats) => (h.events.conversation ?? 0) + (h.events.bulkSend ?? 0);
        const added = d(x.cost.history) - d(before);
        lines.push(`  added by the replies: ${added} events = ${(added / params.replies).toFixed(2)} per reply`);
      }
      lines.push(actionLine(x.cost.actions, params.replies, 'reply'));
      lines.push(`database rows added by the replies (per reply):`);
      lines.push(...tableLines(x.cost.tables, params.replies, 'reply'));
      lines.push(openLine(x.cost.open));
    }
    lines.push(cpuLine(x.cpu));
    lines.push(`taskwire main thread busy ${x.elu} %${x.r ? `; load generator event loop p99 ${x.r.driverEventLoop.p99} ms` : ''}`);
  }
  lines.push('');
  lines.push(`background before the run: other processes ${pct(background.othersPercent)} of one core; CPU speed index (sha256 MB/s) ${speedBefore} before, ${speedAfter} after`);
  lines.push(`taskwire RSS at the very end ${memEnd.rssMiB} MiB (V8 heap used ${memEnd.heapUsedMiB} MiB)`);
  const report = lines.join('\n');
  if (reply) console.log(`\n${report}\n`);

  const result = {
    benchmark: 'bulk-send',
    startedAt: runStarted.toISOString(),
    command: `npm run bench:bulk -- ${process.argv.slice(2).join(' ')}`.trim(),
    env,
    settings,
    machine,
    params,
    code: codeAtStart,
    codeAtEnd: gitState(),
    bulk: {
      bulkSendId,
      postMs: Math.round(tPosted - t0),
      doneSeconds: tDone === undefined ? null : Math.round(tDone - t0) / 1000,
      allHeldSeconds: tAllHeld === undefined ? null : Math.round(tAllHeld - t0) / 1000,
      complete: bulkComplete,
      job,
      broadcasts: heldAfter,
      channelCalls: calls1,
      progress,
      memory: { before: mem0, end: mem1, settled: mem1settled, peakRssKiB: peak1?.kib ?? null, vmHwmKiB: peakReset ? hwm1 : null, temporalPeakRssKiB: peakTemporal1?.kib ?? null },
      cpu: cpu1,
      mainThreadBusyPercent: elu1,
      history: cost1.history,
      actions: cost1.actions ?? null,
      tables: cost1.tables,
      open: cost1.open,
    },
    afterIdle: costIdle
      ? { history: costIdle.history ?? null, actions: costIdle.actions ?? null, tables: costIdle.tables, open: costIdle.open, memory: idleMem }
      : null,
    replies: reply
      ? {
          error: reply.error ?? null,
          allAttachedSeconds: reply.tAllAttached === undefined ? null : Math.round(reply.tAllAttached - reply.t0) / 1000,
          drainAfterLastAnswerSeconds: reply.tAllAttached === undefined || !reply.r ? null : Math.round(reply.tAllAttached - reply.r.lastAnsweredAt) / 1000,
          attached: reply.attachedN,
          orderedCheck: reply.ordered ?? null,
          apiAttached: reply.apiAttached ?? null,
          latencyFromAnswerMs: rounded(reply.latencyFromAnswer),
          latencyFromSentMs: rounded(reply.latencyFromSent),
          webhookAnswerMs: rounded(reply.webhookAnswer),
          sendLagMs: rounded(reply.sendLag),
          trend: reply.trend,
          memory: { peakRssKiB: reply.peak?.kib ?? null, vmHwmKiB: reply.hwmKiB ?? null, end: reply.mem, temporalPeakRssKiB: reply.peakTemporal?.kib ?? null },
          cpu: reply.cpu,
          mainThreadBusyPercent: reply.elu,
          driverEventLoop: reply.r?.driverEventLoop ?? null,
          history: reply.cost?.history ?? null,
          actions: reply.cost?.actions ?? null,
          tables: reply.cost?.tables ?? null,
          open: reply.cost?.open ?? null,
        }
      : null,
    backgroundCpuBeforeRun: background,
    cpuSpeedIndex: { before: speedBefore, after: speedAfter },
    rssSamples: sampler.samples.map((x) => ({ t: Math.round(x.t - t0), ...x.kib })),
    report,
  };
  await mkdir(params.outDir, { recursive: true });
  const file = path.join(params.outDir, `bulk-send-${runStarted.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`result written to ${path.relative(process.cwd(), file)}`);
  const ok = bulkComplete && (!reply || (!reply.error && reply.tAllAttached !== undefined && reply.ordered === reply.attachedN));
  return ok ? 0 : 1;
}

await run.finish(main);
