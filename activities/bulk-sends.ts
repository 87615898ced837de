/**
 * Bulk send (contract: POST /api/channels/:id/bulk-sends): one message per recipient, sent through
 * the channel's rate-limited queue, never twice, and handed to the recipient's conversation as an
 * observed outgoing message that is a broadcast by origin (rules 22–23: held until the reply).
 */
import { ApplicationFailure, getClient, heartbeat } from '@temporalio/activity';
import { channelDefinition } from '../channels/index.js';
import { adapterFor, ChannelPermanentError } from '../channels/types.js';
import { conversationStartOptions } from '../channels/workflow-ids.js';
import { getChannelOrThrow } from '../db/queries/conversations.js';
import { purgeBroadcasts, readBulkProgress, type BulkProgress } from '../db/queries/broadcasts.js';
import { FailureType } from '../workflows/shared/errors.js';
import type { ConversationTiming, ObservedOutgoingEvent } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
export type { BulkProgress } from '../db/queries/broadcasts.js';
import { toActivityFailure } from './failures.js';
import { commentText, sendExactlyOnce } from './outbound.js';

/** How the recipients' conversations are started (from the API's configuration, via the workflow input). */
export interface ConversationStart {
  taskQueue: string;
  channelExternalId: string;
  timing: ConversationTiming;
}

export function bulkSendActivities({ db, adapters }: ActivityDeps) {
  /** The next recipients still to send, by id (ids only: the workflow's payloads stay small). */
  async function listBulkRecipients(input: { bulkSendId: string; afterId: string; limit: number }): Promise<string[]> {
    const rows = await db
      .selectFrom('bulk_send_recipients')
      .select('id')
      .where('bulk_send_id', '=', input.bulkSendId)
      .where('status', '=', 'pending')
      .where('id', '>', input.afterId)
      .orderBy('id')
      .limit(input.limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * Fetches the profiles of a page of recipients who are not contacts yet in one call (VK
   * users.get, 1,000 ids), so their conversations need no call of their own. Channels whose
   * profiles cost nothing (WhatsApp) skip this. Idempotent: fetched profiles are kept.
   */
  async function prefetchBulkProfiles(input: { bulkSendId: string; recipientIds: string[] }): Promise<number> {
    if (!input.recipientIds.length) return 0;
    const rows = await db
      .selectFrom('bulk_send_recipients as r')
      .innerJoin('channels as c', 'c.id', 'r.channel_id')
      .leftJoin('contact_identities as i', (j) => j.onRef('i.channel_kind', '=', 'c.kind').onRef('i.external_id', '=', 'r.peer_id'))
      .select(['r.id', 'r.peer_id', 'r.channel_id'])
      .where('r.id', 'in', input.recipientIds)
      .where('r.profile', 'is', null)
      .where('i.id', 'is', null)
      .execute();
    if (!rows.length) return 0;
    const channel = await getChannelOrThrow(db, rows[0]!.channel_id);
    const adapter = adapterFor(adapters, channel.kind);
    if (!adapter.fetchProfiles) return 0;
    let profiles: Awaited<ReturnType<NonNullable<typeof adapter.fetchProfiles>>>;
    try {
      profiles = await adapter.fetchProfiles(channel, rows.map((r) => r.peer_id));
    } catch (err) {
      // A refusal only costs the optimisation: each conversation then asks for its own profile.
      if (err instanceof ChannelPermanentError) return 0;
      throw toActivityFailure(err);
    }
    await db.transaction().execute(async (tx) => {
      for (const r of rows) {
        const p = profiles[r.peer_id];
        if (p) await tx.updateTable('bulk_send_recipients').set({ profile: JSON.stringify({ name: p.name, extra: p.extra }) }).where('id', '=', r.id).execute();
      }
    });
    return rows.length;
  }

  /**
   * Sends one recipient's message (idempotent by the recipient id: sent once, even across
   * crashes), then signals their conversation. A permanent refusal marks the recipient failed.
   */
  async function sendBulkMessage(input: { recipientId: string; conversation: ConversationStart }): Promise<'sent' | 'failed'> {
    const r = await db
      .selectFrom('bulk_send_recipients as r')
      .innerJoin('bulk_sends as b', 'b.id', 'r.bulk_send_id')
      .select(['r.id', 'r.status', 'r.peer_id', 'r.external_id', 'r.error', 'r.sent_at', 'r.channel_id', 'r.profile', 'b.id as bulk_send_id', 'b.text', 'b.template'])
      .where('r.id', '=', input.recipientId)
      .executeTakeFirst();
    if (!r) throw ApplicationFailure.nonRetryable('bulk send recipient not found', FailureType.NotFound, { what: 'recipient' });
    if (r.status === 'failed') return 'failed';
    const channel = await getChannelOrThrow(db, r.channel_id);
    let externalId = r.external_id;
    let sentAt = r.sent_at;
    if (r.status === 'pending') {
      if (!channel.active) return fail(r.id, { code: 'channel_inactive', message: 'the channel is deactivated' });
      const adapter = adapterFor(adapters, channel.kind);
      try {
        const sent = await sendExactlyOnce(db, {
          adapter,
          channelId: channel.id,
          row: { table: 'bulk_send_recipients', id: r.id, error: r.error },
          send: () =>
            adapter.send(channel, { peerId: r.peer_id, text: r.text, files: [], idempotencyKey: r.id, template: r.template ?? undefined }),
        });
        externalId = sent.externalId;
      } catch (err) {
        const cause = err instanceof ApplicationFailure ? err : undefined;
        if (cause?.nonRetryable) {
          const details = (cause.details?.[0] ?? {}) as { channelCode?: string | number };
          return fail(r.id, { code: details.channelCode ?? cause.type ?? 'refused', message: cause.message });
        }
        throw err;
      }
      // Whole seconds, like the channels' own message times (VK `date`, WhatsApp `timestamp`):
      // comments are ordered by time, and a reply in the same second must come after this message.
      sentAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      await db
        .updateTable('bulk_send_recipients')
        .set({ status: 'sent', external_id: externalId, sent_at: sentAt, error: null, updated_at: new Date() })
        .where('id', '=', r.id)
        .where('status', '=', 'pending')
        .execute();
    }

    heartbeat(); // still alive after the send's bookkeeping (heartbeatTimeout is short)
    // The conversation learns of the message (idempotent: the same keys as the channel's echo).
    const event: ObservedOutgoingEvent = {
      type: 'observed_outgoing',
      keys: [`bulk:${r.id}`, ...(channelDefinition(channel.kind).echoKeys?.(channel, externalId!) ?? [])],
      occurredAt: (sentAt ?? new Date()).toISOString(),
      externalId: externalId!,
      sendKey: r.id,
      text: commentText(r.text, r.template ?? undefined),
      media: [],
      ...(r.template ? { template: { name: r.template.name, language: r.template.language } } : {}),
      bulkSendId: r.bulk_send_id,
      ...(r.profile ? { profile: r.profile } : {}),
    };
    const start = conversationStartOptions(input.conversation.taskQueue, input.conversation.channelExternalId, {
      channelId: channel.id,
      channelKind: channel.kind,
      peerId: r.peer_id,
      timing: input.conversation.timing,
    }, { displayName: r.profile?.name });
    await getClient().workflow.signalWithStart('conversation', { ...start, signal: 'event', signalArgs: [event] });
    return 'sent';
  }

  async function fail(recipientId: string, error: { code: string | number; message: string }): Promise<'failed'> {
    await db
      .updateTable('bulk_send_recipients')
      .set({ status: 'failed', error: JSON.stringify(error), updated_at: new Date() })
      .where('id', '=', recipientId)
      .where('status', '=', 'pending')
      .execute();
    return 'failed';
  }

  /** The recipient's send ran out of attempts: marked failed, unless it was sent meanwhile. */
  async function failBulkRecipient(input: { recipientId: string; error: { code: string | number; message: string } }): Promise<'sent' | 'failed'> {
    await fail(input.recipientId, input.error);
    const row = await db.selectFrom('bulk_send_recipients').select('status').where('id', '=', input.recipientId).executeTakeFirst();
    return row?.status === 'sent' ? 'sent' : 'failed';
  }

  async function bulkSendProgress(input: { bulkSendId: string }): Promise<BulkProgress> {
    return readBulkProgress(db, input.bulkSendId);
  }

  async function finishBulkSend(input: { bulkSendId: string }): Promise<BulkProgress> {
    await db.updateTable('bulk_sends').set({ status: 'done', finished_at: new Date() }).where('id', '=', input.bulkSendId).where('status', '=', 'running').execute();
    return readBulkProgress(db, input.bulkSendId);
  }

  /** The Schedule's job: deletes expired broadcast rows (rule 23) and spent classification rows. */
  async function purgeExpiredBroadcasts(input: { windowSeconds: number }): Promise<{ expired: number; recorded: number }> {
    return purgeBroadcasts(db, input.windowSeconds, new Date());
  }

  return { listBulkRecipients, prefetchBulkProfiles, sendBulkMessage, failBulkRecipient, bulkSendProgress, finishBulkSend, purgeExpiredBroadcasts };
}
