/**
 * Response-time targets (issue 13), the conversation's side: one SLA clock at a time. A customer
 * message that waits for an answer starts it (recording the message fixes the target and the due
 * time: activities/sla.ts); an agent's notifying reply stops it; when it runs out the task is marked breached. One
 * durable timer per clock (not per message), checked by the conversation's main loop with its
 * other timers; the run does not end while a clock runs (it continues as new to wait, as it does
 * for held messages). Shows `TwSlaDueAt` while the clock runs and `TwSlaBreached`. Workflow code:
 * deterministic; only ids and times are kept (carried across continue-as-new).
 */
import { log, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { SlaClockView } from '../../activities/sla.js';
import { failureSummary, untilDatabaseAnswers } from './retry.js';
import type { ActivityClock } from './task-thread.js';
import { SA } from './temporal.js';
import type { ThreadActivities } from './thread-activities.js';

/** The running (or run-out, unanswered) clock: its key is the task and its start. */
export interface SlaClockRef {
  taskId: string;
  startedAt: string;
  dueAt: string;
  /** When the workflow's timer fires (workflow time, epoch ms). */
  fireAtMs: number;
  breached: boolean;
}

/** After a failed breach (not the database being down), look again this much later. */
const BREACH_RETRY_MS = 10 * 60_000;

export interface SlaClockOptions {
  db: Pick<ThreadActivities['db'], 'stopSlaClock' | 'breachSla'>;
  /** The run's activity clock: it does not end while a stop is being recorded. */
  clock: ActivityClock;
  carried?: SlaClockRef;
  /** The clock stopped or ran out: the run may not have to wait any more. */
  settled(): void;
}

export type SlaClock = ReturnType<typeof slaClock>;

export function slaClock(o: SlaClockOptions) {
  let clock = o.carried;
  let timerFor: number | undefined;
  /** This run knows the task's clock (carried, or told by recordEvents); else the database may hold one that ran out. */
  let known = clock !== undefined;
  const sa = workflowInfo().typedSearchAttributes;
  const shown: { dueAt?: string; breached?: boolean } = { dueAt: sa.get(SA.slaDueAt)?.toISOString(), breached: sa.get(SA.slaBreached) };
  const workflowId = workflowInfo().workflowId;

  const api = {
    /** The timer fired: `check()` it. */
    due: false,
    /** A clock runs that has not run out: the run waits for it. */
    waiting: (): boolean => clock !== undefined && !clock.breached,
    carry: (): SlaClockRef | undefined => clock,

    /**
     * A customer message waits for an answer: recording it started a clock, or found one running
     * (recordEvents' `sla`; null: the channel sets no target). A clock that started after an
     * agent's reply is a new one.
     */
    adopt(v: SlaClockView | null): void {
      known = true;
      if (!v) return;
      if (!clock || clock.taskId !== v.taskId || clock.startedAt !== v.startedAt) {
        clock = { taskId: v.taskId, startedAt: v.startedAt, dueAt: v.dueAt, fireAtMs: Date.now() + v.dueInMs, breached: v.breached };
        arm();
      }
      show();
    },

    /**
     * An agent's notifying reply in `taskId` reached the customer: the clock stops (recorded in the
     * background; the run waits for it). A run that does not know the task's clock (a fresh run
     * after one ran out) stops whichever the database holds, once.
     */
    answered(taskId: string | undefined): void {
      const stopped = clock ?? (!known && taskId ? { taskId, startedAt: undefined } : undefined);
      known = true;
      if (!stopped) return;
      clock = undefined;
      show();
      o.settled();
      o.clock.backgroundInFlight = (o.clock.backgroundInFlight ?? 0) + 1;
      void untilDatabaseAnswers(() => o.db.stopSlaClock({ taskId: stopped.taskId, workflowId, startedAt: stopped.startedAt }))
        .then((r) => {
          if (!r.ok) log.error('the stop of the response-time clock could not be recorded', failureSummary(r.failure));
        })
        .finally(() => void o.clock.backgroundInFlight!--);
    },

    /** The timer fired: the clock ran out unless it stopped meanwhile. */
    async check(): Promise<void> {
      api.due = false;
      const c = clock;
      if (!c || c.breached || Date.now() < c.fireAtMs) return;
      const r = await untilDatabaseAnswers(() => o.db.breachSla({ taskId: c.taskId, workflowId, startedAt: c.startedAt }));
      if (clock !== c) return; // answered while the breach was being recorded
      if (!r.ok) {
        log.error('the breach of the response-time clock could not be recorded; trying again later', { ...failureSummary(r.failure), retryInMs: BREACH_RETRY_MS });
        c.fireAtMs = Date.now() + BREACH_RETRY_MS;
        arm();
        return;
      }
      if (r.value.dueInMs) {
        c.fireAtMs = Date.now() + r.value.dueInMs; // the timer fired a moment early
        arm();
        return;
      }
      if (r.value.breached) c.breached = true;
      else clock = undefined; // an agent had answered
      show();
      o.settled();
    },
  };

  function arm(): void {
    const c = clock;
    if (!c || c.breached || timerFor === c.fireAtMs) return;
    timerFor = c.fireAtMs;
    void sleep(Math.max(1, c.fireAtMs - Date.now()), { summary: `response time: due at ${c.dueAt}` }).then(() => {
      if (timerFor === c.fireAtMs) timerFor = undefined;
      api.due = true;
    });
  }

  /** TwSlaDueAt while a clock runs; TwSlaBreached once one ran out (false again when the next starts). */
  function show(): void {
    const dueAt = clock && !clock.breached ? clock.dueAt : undefined;
    const breached = clock ? clock.breached : shown.breached;
    const changes: Parameters<typeof upsertSearchAttributes>[0] = [];
    if (dueAt !== shown.dueAt) changes.push({ key: SA.slaDueAt, value: dueAt ? new Date(dueAt) : null });
    if (breached !== undefined && breached !== shown.breached) changes.push({ key: SA.slaBreached, value: breached });
    if (changes.length === 0) return;
    upsertSearchAttributes(changes);
    Object.assign(shown, { dueAt, breached });
  }

  arm(); // a clock carried over continue-as-new
  return api;
}
