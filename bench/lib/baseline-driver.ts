/**
 * The raw-Temporal baseline, in one Node process of its own (forked by lib/baseline.ts): a client
 * that signal-with-starts messages into `people` workflows on an open-loop schedule (message i at
 * start + i/rate to workflow i mod people), and a worker that runs those workflows
 * (lib/baseline-workflow.ts), each draining its queue with a no-op local activity. The activity
 * notes when each message got there; "latency" is signal-with-start answered → local activity ran,
 * the counterpart of taskwire's "webhook ok → recordEvents done". All times are epoch ms.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { servePhases } from './phase-process.js';
import { readStatus } from './rss.js';
import { BASELINE_SIGNAL, type BaselineActivities } from './baseline-workflow.js';

export interface BaselinePhaseOptions {
  /** The baseline's own Temporal dev server (host:port). */
  address: string;
  namespace: string;
  taskQueue: string;
  /** As taskwire's worker (WORKER_MAX_CACHED_WORKFLOWS). */
  maxCachedWorkflows: number;
  tag: string;
  messages: number;
  people: number;
  rate: number;
  timeoutS: number;
  progressEvery: number;
  quiet?: boolean;
}

export interface BaselineMsg {
  i: number;
  person: number;
  /** n-th message of its workflow (0 = the signal-with-start that creates it). */
  seq: number;
  scheduledAt: number;
  sentAt?: number;
  answeredAt?: number;
  /** When the no-op local activity ran with it. */
  doneAt?: number;
}

export interface BaselinePhaseResult {
  tag: string;
  msgs: BaselineMsg[];
  startedAt: number;
  lastAnsweredAt: number;
  allDoneAt?: number;
  complete: boolean;
  eventLoop: { p50: number; p99: number; max: number };
  /** Share of the phase this process's main thread (client + worker) was busy. */
  mainThreadBusyPercent: number;
  /** Workflows in the worker's cache after the phase, and this process's RSS then. */
  cachedWorkflows: number;
  rssKiB?: number;
}

const now = () => performance.timeOrigin + performance.now();
const say = (line: string) => console.log(`[bench] baseline: ${line}`);

let current: { tag: string; msgs: BaselineMsg[]; done: number } | undefined;
let started: Promise<{ client: Client; worker: Worker }> | undefined;
let workerError: Error | undefined;

const activities: BaselineActivities = {
  async noop(tag, ids) {
    const t = now();
    if (current?.tag !== tag) return;
    for (const i of ids) {
      const m = current.msgs[i];
      if (m && m.doneAt === undefined) {
        m.doneAt = t;
        current.done++;
      }
    }
  },
};

function start(o: BaselinePhaseOptions): Promise<{ client: Client; worker: Worker }> {
  return (started ??= (async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const worker = await Worker.create({
      connection: await NativeConnection.connect({ address: o.address }),
      namespace: o.namespace,
      taskQueue: o.taskQueue,
      workflowsPath: fileURLToPath(new URL('./baseline-workflow.ts', import.meta.url)),
      activities,
      maxCachedWorkflows: o.maxCachedWorkflows,
    });
    worker.run().catch((err: Error) => (workerError = err));
    const client = new Client({ connection: await Connection.connect({ address: o.address }), namespace: o.namespace });
    return { client, worker };
  })());
}

export async function runBaselinePhase(o: BaselinePhaseOptions): Promise<BaselinePhaseResult> {
  const { client, worker } = await start(o);
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const eluBefore = performance.eventLoopUtilization();

  const startedAt = now() + 100;
  const msgs: BaselineMsg[] = Array.from({ length: o.messages }, (_, i) => ({
    i,
    person: i % o.people,
    seq: Math.floor(i / o.people),
    scheduledAt: startedAt + (i * 1000) / o.rate,
  }));
  const phase = (current = { tag: o.tag, msgs, done: 0 });
  let answered = 0;
  let lastAnsweredAt = -Infinity;
  let failure: Error | undefined;

  const fire = (m: BaselineMsg) => {
    m.sentAt = now();
    client.workflow
      .signalWithStart('baselineConversation', {
        taskQueue: o.taskQueue,
        workflowId: `baseline-${o.tag}-${m.person}`,
        args: [o.tag],
        signal: BASELINE_SIGNAL,
        signalArgs: [m.i],
      })
      .then(() => {
        m.answeredAt = lastAnsweredAt = now();
        answered++;
        if (!o.quiet && answered % o.progressEvery === 0) say(`${answered}/${o.messages} signalled, ${phase.done} done`);
      })
      .catch((err: Error) => (failure ??= new Error(`signal-with-start of message ${m.i} failed: ${err.message}`, { cause: err })));
  };
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    if (failure) return;
    const t = now();
    while (next < msgs.length && msgs[next]!.scheduledAt <= t) fire(msgs[next++]!);
    if (next < msgs.length) timer = setTimeout(pump, Math.max(0, msgs[next]!.scheduledAt - now()));
  };
  timer = setTimeout(pump, Math.max(0, startedAt - now()));

  let complete = false;
  try {
    for (;;) {
      if (failure) throw failure;
      if (workerError) throw new Error(`the baseline worker failed: ${workerError.message}`);
      if (answered === msgs.length && phase.done === msgs.length) {
        complete = true;
        break;
      }
      const t = now();
      if (answered === msgs.length && t - lastAnsweredAt > o.timeoutS * 1000) {
        say(`timeout: ${msgs.length - phase.done} messages not done ${o.timeoutS} s after the last signal`);
        break;
      }
      if (next === msgs.length && answered < msgs.length && t - msgs[msgs.length - 1]!.scheduledAt > (o.timeoutS + 30) * 1000) {
        throw new Error(`${msgs.length - answered} signals still unanswered ${o.timeoutS + 30} s after the last was sent`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    clearTimeout(timer);
    eld.disable();
  }
  const mainThreadBusyPercent = Math.round(performance.eventLoopUtilization(eluBefore).utilization * 1000) / 10;
  const r1 = (ns: number) => Math.round(ns / 1e5) / 10;
  return {
    tag: o.tag,
    msgs,
    startedAt,
    lastAnsweredAt,
    allDoneAt: complete ? Math.max(...msgs.map((m) => m.doneAt!)) : undefined,
    complete,
    eventLoop: { p50: r1(eld.percentile(50)), p99: r1(eld.percentile(99)), max: r1(eld.max) },
    mainThreadBusyPercent,
    cachedWorkflows: worker.getStatus().numCachedWorkflows,
    rssKiB: readStatus(process.pid).rssKiB,
  };
}

// ---- child process entry (lib/baseline.ts forks this file) ----

servePhases('baseline', runBaselinePhase);
