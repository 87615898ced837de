/**
 * Reads the histories of conversation workflows after a benchmark: event counts (the Temporal
 * cost), and for each inbound message the times of the events that handled it, so latency can
 * be split into its parts (workflow task queueing, the recordEvents activity, …).
 */
import type { Client } from '@temporalio/client';
// Default import: CommonJS built by protobufjs (see runtime/search-attributes.ts).
import proto from '@temporalio/proto';
import type { temporal } from '@temporalio/proto';

const ET = proto.temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface RunInfo {
  workflowId: string;
  runId: string;
  status: string;
  /** From visibility (may lag for running workflows). */
  visibilityHistoryLength: number;
  /** Counted in the fetched history. */
  events: number;
}

/** Event times (epoch ms) of the events that handled one signal (one inbound message). */
export interface SignalTrace {
  workflowId: string;
  /** The decoded signal argument (ConversationEvent). */
  event: Record<string, any>;
  signaledAt: number;
  /** First workflow task started after the signal. */
  wftStartedAt?: number;
  /** That workflow task completed. */
  wftCompletedAt?: number;
  contactScheduledAt?: number;
  contactStartedAt?: number;
  contactCompletedAt?: number;
  /**
   * Regular activity: ActivityTaskScheduled. Local activity (a `core_local_activity` marker): the
   * start of the workflow task it ran in (the marker's own schedule time is not usable).
   */
  recordScheduledAt?: number;
  /** Regular activities only. */
  recordStartedAt?: number;
  /** ActivityTaskCompleted, or the marker's `complete_time` (when the worker finished it). */
  recordCompletedAt?: number;
  /** recordEvents ran as a local activity (inside the workflow task). */
  recordLocal?: boolean;
  /** Number of signals handled by the same recordEvents activity. */
  batchSize?: number;
  recordAttempt?: number;
}

export interface HistoryAnalysis {
  runs: RunInfo[];
  workflows: number;
  totalEvents: number;
  eventTypes: Record<string, number>;
  activityTypes: Record<string, number>;
  signals: SignalTrace[];
  /** ActivityTaskStarted written together with completion (server defers it): start times then mean nothing. */
  activityStartDeferred: boolean;
}

export function eventTypeName(t: unknown): string {
  if (typeof t === 'string') return t.replace(/^EVENT_TYPE_/, '');
  const name = (ET as unknown as Record<number, string>)[Number(t)];
  return (name ?? `UNKNOWN_${String(t)}`).replace(/^EVENT_TYPE_/, '');
}

function ms(ts: temporal.api.history.v1.IHistoryEvent['eventTime']): number {
  if (!ts) return Number.NaN;
  const s = ts.seconds as unknown;
  const seconds = typeof s === 'number' ? s : s && typeof (s as { toNumber?: () => number }).toNumber === 'function' ? (s as { toNumber(): number }).toNumber() : Number(s ?? 0);
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}

function idOf(x: unknown): string {
  return x === null || x === undefined ? '' : String(x);
}

function decodeFirstPayload(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown {
  const data = payloads?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
}

export async function analyzeConversationHistories(
  client: Client,
  opts: { includeWorkflowId: (id: string) => boolean; concurrency?: number },
): Promise<HistoryAnalysis> {
  const listed: Array<{ workflowId: string; runId: string; status: string; historyLength: number }> = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'conversation'` })) {
    if (!opts.includeWorkflowId(wf.workflowId)) continue;
    listed.push({ workflowId: wf.workflowId, runId: wf.runId, status: wf.status.name, historyLength: wf.historyLength });
  }

  const runs: RunInfo[] = [];
  const eventTypes: Record<string, number> = {};
  const activityTypes: Record<string, number> = {};
  const signals: SignalTrace[] = [];
  let startedWithCompletion = 0;
  let activitiesCompleted = 0;

  let next = 0;
  const worker = async () => {
    while (next < listed.length) {
      const wf = listed[next++]!;
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      const events = history.events ?? [];
      runs.push({ workflowId: wf.workflowId, runId: wf.runId, status: wf.status, visibilityHistoryLength: wf.historyLength, events: events.length });
      const r = traceRun(wf.workflowId, events);
      for (const e of events) {
        const n = eventTypeName(e.eventType);
        eventTypes[n] = (eventTypes[n] ?? 0) + 1;
      }
      for (const [k, v] of Object.entries(r.activityTypes)) activityTypes[k] = (activityTypes[k] ?? 0) + v;
      signals.push(...r.signals);
      startedWithCompletion += r.startedWithCompletion;
      activitiesCompleted += r.activitiesCompleted;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));

  return {
    runs,
    workflows: new Set(runs.map((r) => r.workflowId)).size,
    totalEvents: runs.reduce((a, r) => a + r.events, 0),
    eventTypes: Object.fromEntries(Object.entries(eventTypes).sort((a, b) => b[1] - a[1])),
    activityTypes,
    signals,
    activityStartDeferred: activitiesCompleted > 0 && startedWithCompletion === activitiesCompleted,
  };
}

function traceRun(workflowId: string, events: HistoryEvent[]) {
  const signals: Array<SignalTrace & { eventId: number }> = [];
  const activityTypes: Record<string, number> = {};
  const scheduled = new Map<string, { type: string; at: number; signals: SignalTrace[] }>();
  let startedWithCompletion = 0;
  let activitiesCompleted = 0;
  const startedAt = new Map<string, { at: number; attempt: number }>();
  let awaitingWftCompletion: SignalTrace[] = [];
  const wftStartedAtById = new Map<string, number>();
  const wftStartedAtByCompletedId = new Map<string, number>();

  for (const e of events) {
    const type = eventTypeName(e.eventType);
    const at = ms(e.eventTime);
    const eventId = Number(idOf(e.eventId));
    switch (type) {
      case 'WORKFLOW_EXECUTION_SIGNALED': {
        const arg = decodeFirstPayload(e.workflowExecutionSignaledEventAttributes?.input);
        signals.push({ workflowId, event: (arg ?? {}) as Record<string, any>, signaledAt: at, eventId });
        break;
      }
      case 'WORKFLOW_TASK_STARTED': {
        wftStartedAtById.set(String(eventId), at);
        for (const s of signals) {
          if (s.wftStartedAt === undefined) {
            s.wftStartedAt = at;
            awaitingWftCompletion.push(s);
          }
        }
        break;
      }
      case 'WORKFLOW_TASK_COMPLETED': {
        const started = wftStartedAtById.get(idOf(e.workflowTaskCompletedEventAttributes?.startedEventId));
        if (started !== undefined) wftStartedAtByCompletedId.set(String(eventId), started);
        for (const s of awaitingWftCompletion) s.wftCompletedAt = at;
        awaitingWftCompletion = [];
        break;
      }
      case 'WORKFLOW_TASK_FAILED':
      case 'WORKFLOW_TASK_TIMED_OUT': {
        // Not completed: the signals wait for the next workflow task.
        for (const s of awaitingWftCompletion) {
          s.wftStartedAt = undefined;
        }
        awaitingWftCompletion = [];
        break;
      }
      case 'ACTIVITY_TASK_SCHEDULED': {
        const name = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
        activityTypes[name] = (activityTypes[name] ?? 0) + 1;
        const covered: SignalTrace[] = [];
        for (const s of signals) {
          if (s.eventId > eventId) continue;
          if (name === 'recordEvents' && s.recordScheduledAt === undefined) {
            s.recordScheduledAt = at;
            covered.push(s);
          }
          if (name === 'ensureContact' && s.contactScheduledAt === undefined && s.recordScheduledAt === undefined) {
            s.contactScheduledAt = at;
            covered.push(s);
          }
        }
        scheduled.set(String(eventId), { type: name, at, signals: covered });
        if (name === 'recordEvents') for (const s of covered) s.batchSize = covered.length;
        break;
      }
      case 'MARKER_RECORDED': {
        const attrs = e.markerRecordedEventAttributes;
        if (attrs?.markerName !== 'core_local_activity') break;
        const data = decodeFirstPayload(attrs.details?.data) as
          | { activity_type?: string; complete_time?: { seconds?: number; nanos?: number } }
          | undefined;
        const name = data?.activity_type ?? '?';
        activityTypes[`${name} (local)`] = (activityTypes[`${name} (local)`] ?? 0) + 1;
        if (name !== 'recordEvents') break;
        const ct = data?.complete_time;
        const completedAt = ct ? (ct.seconds ?? 0) * 1000 + (ct.nanos ?? 0) / 1e6 : at;
        const wftStart = wftStartedAtByCompletedId.get(idOf(attrs.workflowTaskCompletedEventId));
        const covered = signals.filter((s) => s.eventId < eventId && s.recordCompletedAt === undefined);
        for (const s of covered) {
          s.recordLocal = true;
          s.recordScheduledAt = wftStart;
          s.recordCompletedAt = completedAt;
          s.batchSize = covered.length;
        }
        break;
      }
      case 'ACTIVITY_TASK_STARTED': {
        const a = e.activityTaskStartedEventAttributes;
        startedAt.set(idOf(a?.scheduledEventId), { at, attempt: a?.attempt ?? 1 });
        break;
      }
      case 'ACTIVITY_TASK_COMPLETED': {
        const key = idOf(e.activityTaskCompletedEventAttributes?.scheduledEventId);
        const sch = scheduled.get(key);
        const st = startedAt.get(key);
        activitiesCompleted++;
        if (st && Math.abs(st.at - at) < 0.001) startedWithCompletion++;
        if (!sch) break;
        for (const s of sch.signals) {
          if (sch.type === 'recordEvents') {
            s.recordStartedAt = st?.at;
            s.recordCompletedAt = at;
            s.recordAttempt = st?.attempt;
          } else if (sch.type === 'ensureContact') {
            s.contactStartedAt = st?.at;
            s.contactCompletedAt = at;
          }
        }
        break;
      }
      default:
        break;
    }
  }
  return {
    signals: signals.map(({ eventId: _eventId, ...rest }) => rest),
    activityTypes,
    startedWithCompletion,
    activitiesCompleted,
  };
}
