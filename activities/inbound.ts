import { replacedNote, storableDeep, storableText } from '../runtime/storable-text.js';
import { latestConversationTask, settingsOf, type Tx } from '../db/queries/conversations.js';
import { bulkSendOfSendKey, insertObserved, kindKeyOf, lockKind, lockOpenHolds, openHolds } from '../db/queries/broadcasts.js';
import { resolveDeadLetter } from '../db/queries/dead-letters.js';
import { DEFAULT_BROADCAST_POLICY, type BroadcastPolicy, type ConversationEvent, type HoldRef, type ObservedOutgoingEvent, type StoredFile } from '../workflows/shared/types.js';
import { commentBySourceKey, editCommentText, storedFiles, withFileNotes } from './comment-records.js';
import { conversationCtx, findCommentByExternalId, messageSourceKey, recordMessage, taskForNewMessage, type Ctx, type MessageToRecord } from './conversation-messages.js';
import { contactToEnsure, enrichAfterCommit, ensureContactRows, type EnsureContactInput, type EnsureContactResult } from './contacts.js';
import type { ActivityDeps } from './deps.js';
import { customerWaits, REAL_SLA_CLOCK, type SlaClockView } from './sla.js';
import type { DownloadedMedia } from './media.js';

export interface RecordEventsInput {
  channelId: string;
  peerId: string;
  /** The person's contact; absent with `contact`. */
  contactId?: string;
  /**
   * Version 6: the person's first events are recorded in the transaction that creates their contact
   * and conversation rows (one activity, one transaction); the contact is in the result.
   */
  contact?: Pick<EnsureContactInput, 'hint' | 'profileLater' | 'enrichInBackground'>;
  workflowId: string;
  events: Array<{ event: ConversationEvent; files: DownloadedMedia[] }>;
  /** Rules 22–24 (absent from histories recorded before broadcasts: the defaults apply). */
  broadcast?: BroadcastPolicy;
  /** Version 6: the run holds no messages (rules 22–24), so there are none to look for and lock. */
  holdsNothing?: boolean;
}

export interface ConversationRowRef {
  channelId: string;
  peerId: string;
  contactId: string;
  workflowId: string;
  broadcast?: BroadcastPolicy;
}

export interface SettleHoldsResult {
  holds: HoldRef[];
  taskId: string | null;
  /** Classified as not held: went to a task as usual. */
  recorded: number;
  /** Held for rule 24 (no active task, the option is on). */
  heldForReply: number;
  expired: number;
}

export interface RecordEventsResult {
  taskId: string | null;
  lastInboundAt: string | null;
  messagesAllowed: boolean | null;
  createdTaskIds: string[];
  reopenedTaskIds: string[];
  recorded: number;
  duplicates: number;
  /** Everything the conversation holds or is classifying after this batch (rules 22–24). */
  holds: HoldRef[];
  /** Held or waiting messages that this batch's reply brought into the task. */
  released: number;
  /** The response-time clock the batch's customer message started or found running (issue 13); null: none. */
  sla?: SlaClockView | null;
  /** The contact's name now (its profile may have come since the run last looked): the run's memo follows it. */
  contactName?: string;
  /** With `contact` in the input: the contact found or created. */
  contact?: EnsureContactResult;
}

export function inboundActivities({ db, slaClock = REAL_SLA_CLOCK, profilesPending }: ActivityDeps) {
  /**
   * Records a batch of a conversation's events in order, in one transaction: contact's task
   * found, reopened or created (rules 4–8), comments and attachments written, message log kept.
   * Idempotent: every comment has a unique source key derived from the channel's message id.
   */
  async function recordEvents(raw: RecordEventsInput): Promise<RecordEventsResult> {
    const input = { ...raw, events: raw.events.map(storableEvent) };
    const recorded = await db.transaction().execute(async (tx) => {
      const { ctx, conversation, contact } = input.contact
        ? await newConversationCtx(tx, { ...input, ...input.contact })
        : { ...(await conversationCtx(tx, { ...input, contactId: input.contactId! })), contact: undefined };
      const { channel } = ctx;
      const result: RecordEventsResult = {
        taskId: null,
        lastInboundAt: conversation.last_inbound_at?.toISOString() ?? null,
        messagesAllowed: conversation.messages_allowed,
        createdTaskIds: [],
        reopenedTaskIds: [],
        recorded: 0,
        duplicates: 0,
        holds: [],
        released: 0,
        contactName: ctx.contactName,
        ...(contact ? { contact } : {}),
      };
      const policy = input.broadcast ?? DEFAULT_BROADCAST_POLICY;
      const now = new Date();
      // Classification locks (channel, kind) pairs: take them all up front, in one order.
      const observed = input.events.flatMap(({ event }) => (event.type === 'observed_outgoing' && !event.bulkSendId ? [kindKeyOf(event)] : []));
      for (const kindKey of [...new Set(observed)].sort()) await lockKind(tx, channel.id, kindKey);

      // True while the conversation is known to hold nothing: its run says so (it knows what it holds,
      // since only its own recordEvents adds held messages), its row was created in this transaction,
      // or a reply released every hold (all of them locked) and nothing was held after it. The
      // database is then not asked again.
      let nothingHeld = input.holdsNothing === true || ctx.fresh?.conversation === true;
      let waitingTaskId: string | null = null;
      /** The conversation row lacks a change of this batch (see below the loop). */
      let rowBehind = false;
      for (const [i, { event, files }] of input.events.entries()) {
        // What a conversation created in this transaction lacks is known only before its first event.
        if (i > 0) ctx.fresh = undefined;
        if (event.retryOf) await resolveDeadLetter(tx, event.retryOf);
        switch (event.type) {
          case 'inbound': {
            // Rule 23: the reply brings what the conversation holds into the task, before it.
            if (!nothingHeld) result.released += await releaseHolds(ctx, result, event.occurredAt);
            nothingHeld = true;
            const r = await recordMessage(ctx, result, {
              externalId: event.externalId,
              direction: 'inbound',
              text: withFileNotes(event.text, files),
              files: storedFiles(files),
              occurredAt: event.occurredAt,
              externalUrl: event.externalUrl,
              replyToExternalId: event.replyToExternalId,
              opensWindow: true,
            });
            if (r && (!result.lastInboundAt || event.occurredAt > result.lastInboundAt)) result.lastInboundAt = event.occurredAt;
            if (r) waitingTaskId = result.taskId;
            break;
          }
          case 'inbound_edit': {
            const key = messageSourceKey(channel.id, input.peerId, event.externalId);
            const existing = await commentBySourceKey(tx, key);
            if (existing) {
              if (!existing.edited_at || existing.edited_at.toISOString() < event.editedAt) {
                const text = withFileNotes(event.text, files);
                await editCommentText(tx, existing.id, { text, editedAt: event.editedAt, by: { type: existing.author_type, id: existing.author_id } });
                await tx.updateTable('message_log').set({ text }).where('source_key', '=', key).execute();
              }
              result.recorded++;
            } else {
              // The edit arrived before (or instead of) the original: it carries the whole message.
              await recordMessage(ctx, result, {
                externalId: event.externalId,
                direction: 'inbound',
                text: withFileNotes(event.text, files),
                files: storedFiles(files),
                occurredAt: event.occurredAt,
                editedAt: event.editedAt,
              });
            }
            break;
          }
          case 'observed_outgoing': {
            nothingHeld = false;
            if (await isOwnSend(tx, channel.id, event.sendKey, event.externalId)) {
              result.duplicates++;
              break;
            }
            // One path for everything sent from outside a task (rule 22): stored, classified, and
            // held or recorded later by the conversation (settleHolds), never straight to a task.
            if (await holdObserved(ctx, event, files, policy, now)) result.recorded++;
            else result.duplicates++;
            break;
          }
          case 'reaction': {
            const target = await findCommentByExternalId(tx, conversation.id, event.targetExternalId);
            if (target) {
              // Shown on the comment it reacts to: the person's current reaction (none = removed).
              const extra = (target.extra ?? {}) as Record<string, unknown>;
              const reactions = ((extra.reactions as Array<{ by: string; emoji: string }> | undefined) ?? []).filter((r) => r.by !== 'contact');
              if (event.emoji) reactions.push({ by: 'contact', emoji: event.emoji });
              await tx.updateTable('comments').set({ extra: JSON.stringify({ ...extra, reactions }) }).where('id', '=', target.id).execute();
              result.recorded++;
            } else if (event.emoji) {
              // The message is not in taskwire (older, or sent elsewhere): a short comment says it.
              await recordMessage(ctx, result, {
                externalId: event.externalId,
                direction: 'inbound',
                text: `${event.emoji} (reaction to a message that is not in this task)`,
                files: [],
                occurredAt: event.occurredAt,
              });
            }
            break;
          }
          case 'permission': {
            rowBehind = true;
            result.messagesAllowed = event.allowed;
            // Allowing messages is the person inviting the company to write: it opens the
            // reply window like a message of theirs would (rule 14).
            if (event.allowed && (!result.lastInboundAt || event.occurredAt > result.lastInboundAt)) result.lastInboundAt = event.occurredAt;
            result.recorded++;
            break;
          }
        }
      }

      // A recorded message moved last_inbound_at in its own statement (opensWindow); the row is
      // written here only for what did not (a permission: messages_allowed, and the window it opens).
      if (rowBehind) {
        await tx
          .updateTable('conversations')
          .set({
            last_inbound_at: result.lastInboundAt,
            messages_allowed: result.messagesAllowed,
            updated_at: new Date(),
          })
          .where('id', '=', conversation.id)
          .execute();
      }
      if (!result.taskId) result.taskId = (await latestConversationTask(tx, conversation.id))?.id ?? null;
      if (waitingTaskId) result.sla = await customerWaits(tx, slaClock, { taskId: waitingTaskId, workflowId: input.workflowId, settings: channel.settings.sla });
      // Only this conversation's own recordEvents adds rows (observed outgoing messages, above).
      result.holds = nothingHeld ? [] : await openHolds(tx, conversation.id);
      return result;
    });
    if (raw.contact) enrichAfterCommit(profilesPending, { ...raw, ...raw.contact }, recorded.contact);
    return recorded;
  }

  /** A conversation's rows when its first events are recorded: contact, identity and conversation found or created (rule 4). */
  async function newConversationCtx(tx: Tx, input: EnsureContactInput) {
    const { channel, identity, profile } = await contactToEnsure(tx, input);
    if (!identity && !profile) throw new Error('recordEvents creates only contacts whose profile costs no channel call'); // a workflow bug
    const { fresh, ...contact } = await ensureContactRows(tx, channel, input, identity, profile);
    const ctx: Ctx = {
      tx,
      channel,
      peerId: input.peerId,
      conversationId: contact.conversationId,
      contactId: contact.contactId,
      contactName: contact.displayName,
      workflowId: input.workflowId,
      fresh,
    };
    const conversation = { id: contact.conversationId, last_inbound_at: contact.lastInboundAt ? new Date(contact.lastInboundAt) : null, messages_allowed: contact.messagesAllowed };
    return { ctx, conversation, contact };
  }

  /**
   * The conversation's deadline came (its one timer): messages whose classification window ended
   * are recorded as usual, or held for rule 24; held messages whose retention ended expire.
   */
  async function settleHolds(input: ConversationRowRef): Promise<SettleHoldsResult> {
    const policy = input.broadcast ?? DEFAULT_BROADCAST_POLICY;
    return db.transaction().execute(async (tx) => {
      const { ctx } = await conversationCtx(tx, input);
      const result: SettleHoldsResult = { holds: [], taskId: null, recorded: 0, heldForReply: 0, expired: 0 };
      const rows = await lockOpenHolds(tx, ctx.conversationId);
      const now = new Date();
      const onlyOnReply = settingsOf(ctx.channel).outgoingTasksOnlyOnReply;
      let active = onlyOnReply && (await latestConversationTask(tx, ctx.conversationId))?.status === 'open';
      for (const row of rows) {
        if (row.status === 'pending' && row.decide_at <= now) {
          if (onlyOnReply && !active) {
            // Rule 24: no active task and the option is on: held like a broadcast, until the reply.
            await tx
              .updateTable('broadcasts')
              .set({ status: 'held', expires_at: new Date(row.sent_at.getTime() + policy.retentionSeconds * 1000), updated_at: now })
              .where('id', '=', row.id)
              .execute();
            result.heldForReply++;
          } else {
            const tally = { createdTaskIds: [], reopenedTaskIds: [], taskId: null as string | null, recorded: 0, duplicates: 0 };
            const commentId = await recordMessage(ctx, tally, heldMessage(row));
            await tx.updateTable('broadcasts').set({ status: 'recorded', comment_id: commentId, updated_at: now }).where('id', '=', row.id).execute();
            result.taskId = tally.taskId ?? result.taskId;
            result.recorded++;
            active = true; // recording opened (or found) the task
          }
        } else if (row.status === 'held' && row.expires_at && row.expires_at <= now) {
          // Rule 23: unanswered for the retention period: dropped, nothing reaches a task.
          await tx.updateTable('broadcasts').set({ status: 'expired', updated_at: now }).where('id', '=', row.id).execute();
          result.expired++;
        }
      }
      result.holds = await openHolds(tx, ctx.conversationId);
      return result;
    });
  }

  /**
   * Rule 15: the task a conversation started by the company belongs to — the person's open task,
   * else reopened or new by the same rules as for their messages. The contact is the creator.
   */
  async function openConversationTask(input: { channelId: string; peerId: string; contactId: string; workflowId: string }): Promise<{ taskId: string }> {
    return db.transaction().execute(async (tx) => {
      const { ctx } = await conversationCtx(tx, input);
      const task = await taskForNewMessage(ctx, { createdTaskIds: [], reopenedTaskIds: [] });
      return { taskId: task.id };
    });
  }

  return { recordEvents, openConversationTask, settleHolds };
}

/** Stores an observed outgoing message for classification; false if it was seen before. */
async function holdObserved(ctx: Ctx, event: ObservedOutgoingEvent, files: DownloadedMedia[], policy: BroadcastPolicy, now: Date): Promise<boolean> {
  const sourceKey = messageSourceKey(ctx.channel.id, ctx.peerId, event.externalId);
  // Recorded before broadcasts existed, or by an earlier attempt: the same message, once.
  if (await commentBySourceKey(ctx.tx, sourceKey)) return false;
  const bulkSendId = event.bulkSendId ?? (await bulkSendOfSendKey(ctx.tx, ctx.channel.id, event.sendKey));
  const extra: Record<string, unknown> = {};
  if (event.senderRef) extra.senderRef = event.senderRef;
  if (event.template) extra.template = event.template;
  return insertObserved(
    ctx.tx,
    {
      channelId: ctx.channel.id,
      conversationId: ctx.conversationId,
      contactId: ctx.contactId,
      externalId: event.externalId,
      sourceKey,
      kindKey: kindKeyOf(event),
      text: withFileNotes(event.text, files),
      files: storedFiles(files),
      extra: Object.keys(extra).length ? extra : undefined,
      sentAt: new Date(event.occurredAt),
      bulkSendId,
    },
    policy,
    now,
  );
}

type HeldRow = { external_id: string; text: string; files: StoredFile[]; sent_at: Date; is_broadcast: boolean; extra: Record<string, unknown> | null };

function heldMessage(row: HeldRow, notAfter?: string): MessageToRecord {
  const sentAt = row.sent_at.toISOString();
  return {
    externalId: row.external_id,
    direction: 'outbound',
    text: row.text,
    files: row.files,
    // Before the reply that releases it, even if the channel's clock put the reply earlier.
    occurredAt: notAfter && notAfter < sentAt ? notAfter : sentAt,
    broadcast: row.is_broadcast,
    extra: row.extra ?? undefined,
  };
}

/** Rule 23: everything held or waiting goes into the reply's task, in the order it was sent. */
async function releaseHolds(ctx: Ctx, result: RecordEventsResult, replyAt: string): Promise<number> {
  const rows = await lockOpenHolds(ctx.tx, ctx.conversationId);
  for (const row of rows) {
    const commentId = await recordMessage(ctx, result, heldMessage(row, new Date(replyAt).toISOString()));
    await ctx.tx.updateTable('broadcasts').set({ status: 'attached', comment_id: commentId, updated_at: new Date() }).where('id', '=', row.id).execute();
  }
  return rows.length;
}

/** Our own agent sends come back as observed outgoing events (VK message_reply): recognise them. */
async function isOwnSend(tx: Tx, channelId: string, sendKey: string | undefined, externalId: string): Promise<boolean> {
  let q = tx.selectFrom('deliveries').select('id').where('channel_id', '=', channelId);
  q = sendKey && /^\d+$/.test(sendKey)
    ? q.where((eb) => eb.or([eb('id', '=', sendKey), eb('external_id', '=', externalId)]))
    : q.where('external_id', '=', externalId);
  return (await q.executeTakeFirst()) !== undefined;
}

/**
 * An event whose strings PostgreSQL can store (NUL and lone surrogates replaced, runtime/storable-text.ts);
 * its text says so. Without this one such message failed its batch on every retry and blocked the
 * conversation behind it.
 */
function storableEvent<E extends RecordEventsInput['events'][number]>(item: E): E {
  const { value, replaced } = storableDeep(item);
  if (replaced === 0) return item;
  const original = (item.event as { text?: unknown }).text;
  const inText = typeof original === 'string' ? storableText(original).replaced : 0;
  const event = value.event as { text?: unknown };
  if (inText > 0 && typeof event.text === 'string') event.text = `${event.text}\n${replacedNote(inText)}`;
  return value;
}
