/**
 * Rules 22–24 in the database: observed outgoing messages are stored here first, classified by
 * counting messages of the same kind on the channel, and held until the recipient replies.
 *
 * Concurrency: many conversations classify at once. Every insert of a message that is not yet
 * known to be a broadcast takes a transaction-scoped advisory lock on (channel, kind) before it
 * counts, so two conversations cannot both count 3 and miss that together they are 4. A message
 * that leaves `pending` (recorded as usual, or held for rule 24) is locked with FOR UPDATE by its
 * conversation first; a concurrent detection re-checks `status` after the row lock and skips it.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { messageKind } from '../../workflows/shared/message-kind.js';
import type { BroadcastPolicy, HoldRef } from '../../workflows/shared/types.js';
import type { StoredFile } from '../../workflows/shared/types.js';
import type { DbOrTx, Tx } from './conversations.js';

/** md5 of the "same kind" key: short and indexable; equal keys, equal hashes. */
export function kindKeyOf(message: { text: string; template?: { name: string; language: string } }): string {
  return createHash('md5').update(messageKind(message)).digest('hex');
}

/** Locks (channel, kind) for the rest of the transaction. Callers lock several kinds in sorted order. */
export async function lockKind(tx: Tx, channelId: string, kindKey: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`broadcast/${channelId}/${kindKey}`}, 0))`.execute(tx);
}

export interface ObservedMessageRow {
  channelId: string;
  conversationId: string;
  contactId: string;
  externalId: string;
  sourceKey: string;
  kindKey: string;
  text: string;
  files: StoredFile[];
  extra?: Record<string, unknown>;
  sentAt: Date;
  /** Sent by taskwire's bulk send: a broadcast by origin, held at once. */
  bulkSendId?: string;
}

/**
 * Stores an observed outgoing message and classifies it. Returns false for a message stored
 * before (a redelivery). The caller holds the (channel, kind) lock unless it is a bulk message.
 */
export async function insertObserved(tx: Tx, m: ObservedMessageRow, policy: BroadcastPolicy, now: Date): Promise<boolean> {
  const retentionMs = policy.retentionSeconds * 1000;
  const inserted = await tx
    .insertInto('broadcasts')
    .values({
      channel_id: m.channelId,
      conversation_id: m.conversationId,
      contact_id: m.contactId,
      external_id: m.externalId,
      source_key: m.sourceKey,
      kind_key: m.kindKey,
      is_broadcast: m.bulkSendId !== undefined,
      status: m.bulkSendId !== undefined ? 'held' : 'pending',
      bulk_send_id: m.bulkSendId ?? null,
      text: m.text,
      files: JSON.stringify(m.files),
      extra: m.extra ? JSON.stringify(m.extra) : null,
      sent_at: m.sentAt,
      // The first messages of a mailing look like any other until more of them arrive: a message
      // waits one window before it is recorded as usual.
      decide_at: new Date(Math.max(now.getTime(), m.sentAt.getTime()) + policy.windowSeconds * 1000),
      expires_at: m.bulkSendId !== undefined ? new Date(m.sentAt.getTime() + retentionMs) : null,
    })
    .onConflict((oc) => oc.column('source_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return false;
  if (m.bulkSendId === undefined) await detect(tx, m.channelId, m.kindKey, m.sentAt, policy);
  return true;
}

/**
 * Rule 22: more than `threshold` messages of one kind within `windowSeconds` are a broadcast, all
 * of them. Looks for such a window around the message just stored (sent at `t`) and marks every
 * message in it. Bounded work: each count stops at threshold + 1 rows, and the exact sliding
 * check only runs when both half-windows are below the threshold (so at most 2 × threshold rows).
 */
async function detect(tx: Tx, channelId: string, kindKey: string, t: Date, policy: BroadcastPolicy): Promise<void> {
  const W = policy.windowSeconds * 1000;
  const T = policy.threshold;
  const at = (ms: number) => new Date(ms);
  const countIn = async (from: Date, to: Date) => {
    const r = await sql<{ n: string }>`
      select count(*) as n from (
        select 1 from broadcasts
        where channel_id = ${channelId} and kind_key = ${kindKey} and sent_at >= ${from} and sent_at <= ${to}
        limit ${T + 1}) s`.execute(tx);
    return Number(r.rows[0]!.n);
  };
  let window: [Date, Date] | undefined;
  if ((await countIn(at(t.getTime() - W), t)) > T) window = [at(t.getTime() - W), t];
  else if ((await countIn(t, at(t.getTime() + W))) > T) window = [t, at(t.getTime() + W)];
  else {
    const times = (
      await tx
        .selectFrom('broadcasts')
        .select('sent_at')
        .where('channel_id', '=', channelId)
        .where('kind_key', '=', kindKey)
        .where('sent_at', '>=', at(t.getTime() - W))
        .where('sent_at', '<=', at(t.getTime() + W))
        .orderBy('sent_at')
        .execute()
    ).map((r) => r.sent_at.getTime());
    for (let i = 0, j = 0; i < times.length && times[i]! <= t.getTime(); i++) {
      while (j + 1 < times.length && times[j + 1]! - times[i]! <= W) j++;
      if (j - i + 1 > T && times[j]! >= t.getTime()) {
        window = [at(times[i]!), at(times[i]! + W)];
        break;
      }
    }
  }
  if (!window) return;
  await sql`
    update broadcasts
    set is_broadcast = true, status = 'held', expires_at = sent_at + make_interval(secs => ${policy.retentionSeconds}), updated_at = now()
    where channel_id = ${channelId} and kind_key = ${kindKey} and sent_at >= ${window[0]} and sent_at <= ${window[1]}
      and not is_broadcast and status in ('pending', 'held')`.execute(tx);
}

/** A conversation's held and pending messages, in send order, locked for the rest of the transaction. */
export async function lockOpenHolds(tx: Tx, conversationId: string) {
  return tx
    .selectFrom('broadcasts')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where('status', 'in', ['pending', 'held'])
    .orderBy('sent_at')
    .orderBy('id')
    .forUpdate()
    .execute();
}

/** What a conversation holds or has waiting for classification, oldest first (ids and deadlines only). */
export async function openHolds(db: DbOrTx, conversationId: string): Promise<HoldRef[]> {
  const rows = await db
    .selectFrom('broadcasts')
    .select(['id', 'status', 'decide_at', 'expires_at'])
    .where('conversation_id', '=', conversationId)
    .where('status', 'in', ['pending', 'held'])
    .orderBy('sent_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    held: r.status === 'held',
    checkAt: (r.status === 'held' ? r.expires_at! : r.decide_at).toISOString(),
  }));
}

/** The bulk-send recipient whose message this is, when the channel echoes our idempotency value (VK random_id). */
export async function bulkSendOfSendKey(db: DbOrTx, channelId: string, sendKey: string | undefined): Promise<string | undefined> {
  if (!sendKey || !/^\d{1,18}$/.test(sendKey)) return undefined;
  const r = await db
    .selectFrom('bulk_send_recipients')
    .select('bulk_send_id')
    .where('id', '=', sendKey)
    .where('channel_id', '=', channelId)
    .executeTakeFirst();
  return r?.bulk_send_id;
}

/** The Schedule's purge: expired messages, and classification rows no window can count any more. */
export async function purgeBroadcasts(db: DbOrTx, windowSeconds: number, now: Date): Promise<{ expired: number; recorded: number }> {
  const expired = await db.deleteFrom('broadcasts').where('status', '=', 'expired').executeTakeFirst();
  const recorded = await db
    .deleteFrom('broadcasts')
    .where('status', '=', 'recorded')
    .where('sent_at', '<', new Date(now.getTime() - 2 * windowSeconds * 1000))
    .executeTakeFirst();
  return { expired: Number(expired.numDeletedRows), recorded: Number(recorded.numDeletedRows) };
}

export interface BulkProgress {
  total: number;
  sent: number;
  failed: number;
  pending: number;
}

export async function readBulkProgress(db: DbOrTx, bulkSendId: string): Promise<BulkProgress> {
  const rows = await db
    .selectFrom('bulk_send_recipients')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('bulk_send_id', '=', bulkSendId)
    .groupBy('status')
    .execute();
  const n = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return { total: n('pending') + n('sent') + n('failed'), sent: n('sent'), failed: n('failed'), pending: n('pending') };
}

