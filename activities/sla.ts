/**
 * Response-time targets (issue 13), the database side of a conversation's SLA clock
 * (workflows/shared/sla-clock.ts). A clock starts when a customer message waits for an answer:
 * its target (first or next response, business hours, escalation) is read from the channel's
 * `sla` setting and fixed in `tasks.sla`; it stops at an agent's notifying reply; when it runs out
 * the task is marked breached, the escalation employees are assigned and an internal comment says
 * how long the customer has waited. Each activity is one transaction, idempotent by the clock's
 * start.
 *
 * Times are the SLA clock's (`deps.slaClock`): the real clock, or in tests a scaled one, so a
 * weekend of business hours passes in seconds. The workflow only sleeps `dueInMs` (real time).
 */
import { sql } from 'kysely';
import type { Tx } from '../db/queries/conversations.js';
import type { TaskSla } from '../db/schema.js';
import { slaDueAt, type SlaSettings } from '../workflows/shared/sla-calendar.js';
import type { ActivityDeps } from './deps.js';

/** The SLA clock: `now()` in epoch ms of calendar time; `scale` calendar ms per real ms (1 in production). */
export interface SlaClock {
  now(): number;
  scale: number;
}
export const REAL_SLA_CLOCK: SlaClock = { now: () => Date.now(), scale: 1 };

/** Tests only: calendar time starts at `origin` now and runs `scale` times faster than real time. */
export function scaledSlaClock(origin: string | Date, scale: number): SlaClock {
  const realStart = Date.now();
  const calendarStart = new Date(origin).getTime();
  return { now: () => calendarStart + (Date.now() - realStart) * scale, scale };
}

/** What the workflow keeps of a clock (small): the task, the clock's start (its key) and its due time. */
export interface SlaClockView {
  taskId: string;
  startedAt: string;
  dueAt: string;
  /** Real milliseconds until it runs out (0: it has). */
  dueInMs: number;
  breached: boolean;
}

type StoredSla = TaskSla & { afterCommentId?: string };

export function slaActivities({ db, slaClock = REAL_SLA_CLOCK }: ActivityDeps) {
  /**
   * An agent's notifying reply reached the customer: the clock started at `startedAt` stops
   * (without `startedAt`: whichever clock of the task runs or ran out unanswered).
   */
  async function stopSlaClock(input: { taskId: string; workflowId: string; startedAt?: string }): Promise<void> {
    await db.transaction().execute(async (tx) => {
      const task = await lockedTask(tx, input.taskId, input.workflowId);
      if (!task?.sla || task.sla.answeredAt || (input.startedAt !== undefined && task.sla.startedAt !== input.startedAt)) return;
      const sla: StoredSla = { ...task.sla, answeredAt: new Date(slaClock.now()).toISOString() };
      await tx.updateTable('tasks').set({ sla: JSON.stringify(sla), updated_at: new Date() }).where('id', '=', task.id).execute();
    });
  }

  /**
   * The clock started at `startedAt` ran out (unless an agent answered meanwhile): breached at
   * its due time, the escalation employees assigned, an internal comment, a row for the counter.
   */
  async function breachSla(input: { taskId: string; workflowId: string; startedAt: string }): Promise<{ breached: boolean; dueInMs?: number }> {
    return db.transaction().execute(async (tx) => {
      const task = await lockedTask(tx, input.taskId, input.workflowId);
      const sla = task?.sla;
      if (!task || !sla || sla.startedAt !== input.startedAt || sla.answeredAt) return { breached: false };
      if (sla.breachedAt) return { breached: true };
      // The workflow's timer counts from its task's start: it may fire a moment early.
      const early = view(slaClock, task.id, sla).dueInMs;
      if (early > 0) return { breached: false, dueInMs: early };
      if (await answeredSince(tx, task.id, sla.afterCommentId)) {
        // An agent's reply reached the customer and its stop was not recorded (a run that ended).
        await tx.updateTable('tasks').set({ sla: JSON.stringify({ ...sla, answeredAt: new Date(slaClock.now()).toISOString() }), updated_at: new Date() }).where('id', '=', task.id).execute();
        return { breached: false };
      }
      const breached: StoredSla = { ...sla, breachedAt: sla.dueAt };
      const assignees = [...new Set([...(task.assignee_ids ?? []).map(String), ...sla.escalateToIds])];
      await tx.updateTable('tasks').set({ sla: JSON.stringify(breached), assignee_ids: JSON.stringify(assignees), updated_at: new Date() }).where('id', '=', task.id).execute();
      await tx.insertInto('sla_breaches').values({ task_id: task.id, clock_started_at: sla.startedAt, due_at: sla.dueAt }).onConflict((oc) => oc.doNothing()).execute();
      const names = sla.escalateToIds.length
        ? (await tx.selectFrom('employees').select('name').where('id', 'in', sla.escalateToIds).orderBy('id').execute()).map((e) => e.name)
        : [];
      await tx
        .insertInto('comments')
        .values({
          task_id: task.id,
          direction: 'internal',
          author_type: 'channel',
          author_id: task.channel_id,
          text: breachNote(sla, names),
          source_key: `sla:${task.id}:${sla.startedAt}`,
        })
        .onConflict((oc) => oc.column('source_key').doNothing())
        .execute();
      return { breached: true };
    });
  }

  return { stopSlaClock, breachSla };
}

/**
 * A customer message waits for an answer in the task (called by recordEvents, in its
 * transaction): the task's clock that runs (or ran out unanswered) goes on; else a new one starts
 * with the channel's target — first response until an agent answered the task, next response
 * after — or none when the channel sets no such target.
 */
export async function customerWaits(tx: Tx, slaClock: SlaClock, input: { taskId: string; workflowId: string; settings: SlaSettings | null | undefined }): Promise<SlaClockView | null> {
  // No targets: nothing to do (a clock started before they were removed runs on in its workflow).
  if (!input.settings?.firstResponseSeconds && !input.settings?.nextResponseSeconds) return null;
  const task = await lockedTask(tx, input.taskId, input.workflowId);
  if (!task) return null;
  if (task.sla && !task.sla.answeredAt && !(await answeredSince(tx, task.id, task.sla.afterCommentId))) return view(slaClock, task.id, task.sla);
  const settings = input.settings;
  const kind = (await answeredSince(tx, task.id, undefined)) ? 'next' : 'first';
  const seconds = kind === 'first' ? settings?.firstResponseSeconds : settings?.nextResponseSeconds;
  if (!seconds) return null;
  const now = slaClock.now();
  const last = await tx.selectFrom('comments').select(sql<string>`max(id)`.as('id')).where('task_id', '=', task.id).executeTakeFirst();
  const sla: StoredSla = {
    kind,
    startedAt: new Date(now).toISOString(),
    dueAt: new Date(slaDueAt(now, seconds, settings?.businessHours)).toISOString(),
    targetSeconds: seconds,
    businessHours: Boolean(settings?.businessHours),
    escalateToIds: settings?.escalateToIds ?? [],
    ...(last?.id ? { afterCommentId: String(last.id) } : {}),
  };
  await tx.updateTable('tasks').set({ sla: JSON.stringify(sla), updated_at: new Date() }).where('id', '=', task.id).execute();
  return view(slaClock, task.id, sla);
}

function view(slaClock: SlaClock, taskId: string, sla: StoredSla): SlaClockView {
  return {
    taskId,
    startedAt: sla.startedAt,
    dueAt: sla.dueAt,
    dueInMs: Math.max(0, Math.ceil((Date.parse(sla.dueAt) - slaClock.now()) / slaClock.scale)),
    breached: Boolean(sla.breachedAt),
  };
}

async function lockedTask(tx: Tx, taskId: string, workflowId: string) {
  const task = await tx.selectFrom('tasks').select(['id', 'channel_id', 'assignee_ids', 'sla', 'workflow_id']).where('id', '=', taskId).forUpdate().executeTakeFirst();
  return task && task.workflow_id === workflowId ? { ...task, sla: task.sla as StoredSla | null } : undefined;
}

/** Whether an agent's notifying reply reached the customer (after comment `afterId`). */
async function answeredSince(tx: Tx, taskId: string, afterId: string | undefined): Promise<boolean> {
  let q = tx
    .selectFrom('comments')
    .select('id')
    .where('task_id', '=', taskId)
    .where('author_type', '=', 'employee')
    .where('notify_contact', '=', true)
    .where('delivery_status', 'in', ['sent', 'delivered', 'read']);
  if (afterId) q = q.where('id', '>', afterId);
  return Boolean(await q.limit(1).executeTakeFirst());
}

/** "2 d 14 h 30 min" */
export function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `${Math.max(1, Math.round(ms / 1000))} s`;
  const [d, h, m] = [Math.floor(minutes / 1440), Math.floor((minutes % 1440) / 60), minutes % 60];
  return [d && `${d} d`, h && `${h} h`, m && `${m} min`].filter(Boolean).join(' ');
}

function breachNote(sla: TaskSla, escalatedTo: string[]): string {
  const waited = formatDuration(Date.parse(sla.dueAt) - Date.parse(sla.startedAt));
  const target = `${formatDuration(sla.targetSeconds * 1000)}${sla.businessHours ? ' of business hours' : ''}`;
  return [
    `[taskwire: response time exceeded — the customer has waited ${waited} for an answer (since ${sla.startedAt}); the ${sla.kind}-response target is ${target}.`,
    escalatedTo.length ? ` Escalated to ${escalatedTo.join(', ')}.]` : ']',
  ].join('');
}
