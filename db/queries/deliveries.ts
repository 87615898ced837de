/**
 * Delivery states (rule 12). Reports are stored as received; a delivery's state is the furthest
 * reported one (sent < delivered < read; failed is final), so arrival order never matters, and a
 * comment shows the least advanced state of its messages (failed if any failed).
 */
import { sql } from 'kysely';
import type { DeliveryStatusReport } from '../../channels/types.js';
import type { DeliveryStatus } from '../schema.js';
import type { DbOrTx, Tx } from './conversations.js';

const RANK: Record<DeliveryStatus, number> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

export function furthest(states: DeliveryStatus[]): DeliveryStatus {
  return states.reduce<DeliveryStatus>((best, s) => (RANK[s] > RANK[best] ? s : best), 'pending');
}

/**
 * Serialises everything about one channel message for the rest of the transaction: a status
 * report and our own send recording its id can otherwise miss each other (each transaction
 * not yet seeing the other's row).
 */
export async function lockChannelMessage(tx: Tx, channelId: string, externalId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`${channelId}/${externalId}`}, 0))`.execute(tx);
}

/** Stores one report (idempotent) and applies it if the message is known. Returns whether it was known. */
export async function recordDeliveryReport(tx: Tx, channelId: string, report: DeliveryStatusReport): Promise<boolean> {
  await lockChannelMessage(tx, channelId, report.externalId);
  await tx
    .insertInto('delivery_reports')
    .values({
      channel_id: channelId,
      external_id: report.externalId,
      status: report.status,
      send_key: report.sendKey ?? null,
      error: report.error ? JSON.stringify(report.error) : null,
      occurred_at: report.occurredAt,
    })
    .onConflict((oc) => oc.columns(['channel_id', 'external_id', 'status']).doNothing())
    .execute();
  return applyDeliveryReports(tx, channelId, report.externalId);
}

/** Brings the delivery with this channel message id (and its comment) up to its reports. */
export async function applyDeliveryReports(tx: DbOrTx, channelId: string, externalId: string): Promise<boolean> {
  const delivery = await tx
    .selectFrom('deliveries')
    .select(['id', 'comment_id', 'status'])
    .where('channel_id', '=', channelId)
    .where('external_id', '=', externalId)
    .forUpdate()
    .executeTakeFirst();
  if (!delivery) return false;
  const reports = await tx
    .selectFrom('delivery_reports')
    .select(['status', 'error'])
    .where('channel_id', '=', channelId)
    .where('external_id', '=', externalId)
    .execute();
  const next = furthest([delivery.status, ...reports.map((r) => r.status)]);
  if (next !== delivery.status) {
    const failure = reports.find((r) => r.status === 'failed')?.error ?? null;
    await tx
      .updateTable('deliveries')
      .set({ status: next, error: next === 'failed' && failure ? JSON.stringify(failure) : undefined, updated_at: new Date() })
      .where('id', '=', delivery.id)
      .execute();
  }
  await refreshCommentStatus(tx, delivery.comment_id);
  return true;
}

/** A comment's state: failed if any of its messages failed, else the least advanced one. */
export async function refreshCommentStatus(tx: DbOrTx, commentId: string): Promise<void> {
  const parts = await tx.selectFrom('deliveries').select(['status', 'error']).where('comment_id', '=', commentId).execute();
  if (!parts.length) return;
  const failed = parts.find((p) => p.status === 'failed');
  const status: DeliveryStatus = failed
    ? 'failed'
    : parts.reduce<DeliveryStatus>((least, p) => (RANK[p.status] < RANK[least] ? p.status : least), 'read');
  await tx
    .updateTable('comments')
    .set({ delivery_status: status, ...(failed?.error ? { delivery_error: JSON.stringify(failed.error) } : {}) })
    .where('id', '=', commentId)
    .where((eb) => eb.or([eb('delivery_status', 'is', null), eb('delivery_status', '!=', status)]))
    .execute();
}
