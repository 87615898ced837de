/** Dead letters (issue 10): events set aside after bounded retries; one row per event. */
import { sql } from 'kysely';
import type { Db } from '../index.js';
import type { DeadLetter, DeadLetterStatus, DeadLetterTarget, DeadLetterWorkflowType } from '../schema.js';
import type { DbOrTx } from './conversations.js';

export interface NewDeadLetter {
  channelId: string;
  workflowId: string;
  workflowType: DeadLetterWorkflowType;
  target: DeadLetterTarget;
  /** The event as JSON text. */
  event: string;
  eventKey: string;
  reason: string;
  error: { type: string | null; message: string };
  receivedAt: string;
  /** The dead letter this event was a retry of: that row is updated, no new one is made. */
  retryOf?: string;
}

/** Sets an event aside, or counts one more failure of an event set aside before. Idempotent by (workflow, event key). */
export async function upsertDeadLetter(db: DbOrTx, d: NewDeadLetter): Promise<{ id: string; failures: number }> {
  const now = new Date();
  if (d.retryOf) {
    const row = await db
      .updateTable('dead_letters')
      .set({ status: 'dead', reason: d.reason, error: JSON.stringify(d.error), failures: sql`failures + 1`, updated_at: now })
      .where('id', '=', d.retryOf)
      .returning(['id', 'failures'])
      .executeTakeFirst();
    if (row) return row;
  }
  return db
    .insertInto('dead_letters')
    .values({
      channel_id: d.channelId,
      workflow_id: d.workflowId,
      workflow_type: d.workflowType,
      target: JSON.stringify(d.target),
      event: d.event,
      event_key: d.eventKey,
      reason: d.reason,
      error: JSON.stringify(d.error),
      status: 'dead',
      received_at: d.receivedAt,
    })
    .onConflict((oc) =>
      oc.constraint('dead_letters_event_key').doUpdateSet({
        status: 'dead',
        reason: d.reason,
        error: JSON.stringify(d.error),
        failures: sql`dead_letters.failures + 1`,
        updated_at: now,
      }),
    )
    .returning(['id', 'failures'])
    .executeTakeFirstOrThrow();
}

/** A retried event went through: its dead letter is resolved (in the transaction that recorded it). */
export async function resolveDeadLetter(db: DbOrTx, id: string): Promise<void> {
  await db
    .updateTable('dead_letters')
    .set({ status: 'resolved', resolved_at: new Date(), updated_at: new Date() })
    .where('id', '=', id)
    .where('status', '<>', 'resolved')
    .execute();
}

/** Marks a dead letter as handed back to its workflow; undefined when there is none. */
export async function markDeadLetterRetrying(db: DbOrTx, id: string): Promise<DeadLetter | undefined> {
  return db
    .updateTable('dead_letters')
    .set({ status: 'retrying', retries: sql`retries + 1`, updated_at: new Date() })
    .where('id', '=', id)
    .where('status', '<>', 'resolved')
    .returningAll()
    .executeTakeFirst();
}

/** Hand-back failed (Temporal did not take it): dead again. */
export async function restoreDeadLetter(db: DbOrTx, id: string): Promise<void> {
  await db.updateTable('dead_letters').set({ status: 'dead', updated_at: new Date() }).where('id', '=', id).where('status', '=', 'retrying').execute();
}

export function getDeadLetter(db: DbOrTx, id: string): Promise<DeadLetter | undefined> {
  return db.selectFrom('dead_letters').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listDeadLetters(
  db: DbOrTx,
  q: { status?: DeadLetterStatus; channelId?: string; beforeId?: string; limit: number },
): Promise<DeadLetter[]> {
  let query = db.selectFrom('dead_letters').selectAll().orderBy('id', 'desc').limit(q.limit);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.channelId) query = query.where('channel_id', '=', q.channelId);
  if (q.beforeId) query = query.where('id', '<', q.beforeId);
  return query.execute();
}

/** Dead letters by status, for /metrics. */
export async function countDeadLetters(db: Db): Promise<Record<DeadLetterStatus, number>> {
  const rows = await db.selectFrom('dead_letters').select(['status', db.fn.countAll<string>().as('n')]).groupBy('status').execute();
  const out: Record<DeadLetterStatus, number> = { dead: 0, retrying: 0, resolved: 0 };
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}
