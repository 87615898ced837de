/**
 * Recording a conversation's messages (activities/inbound.ts): the rows a conversation's activity
 * works on, a message as a comment of the person's task (found, reopened or created) and a line
 * of the message log, once per channel message id. Runs inside the caller's transaction.
 */
import { copyHistory, latestConversationTask, settingsOf, type Tx } from '../db/queries/conversations.js';
import type { Channel, Task } from '../db/schema.js';
import type { StoredFile } from '../workflows/shared/types.js';
import { addLoggedComment, commentBySourceKey } from './comment-records.js';
import { createTask, taskForNewComment, type TaskTally } from './task-resolution.js';

/** The comment idempotency key of a channel message: the same message is one comment, ever. */
export function messageSourceKey(channelId: string, peerId: string, externalId: string): string {
  return `msg:${channelId}:${peerId}:${externalId}`;
}

/**
 * The channel, conversation and contact rows an activity of this conversation works on, read in
 * one round trip: this runs once per recorded batch, and every query costs the worker's main
 * thread a socket write and a result parse.
 */
export async function conversationCtx(tx: Tx, input: { channelId: string; peerId: string; contactId: string; workflowId: string }) {
  const row = await tx
    .selectFrom('channels as ch')
    .leftJoin('conversations as v', (join) => join.onRef('v.channel_id', '=', 'ch.id').on('v.peer_id', '=', input.peerId))
    .leftJoin('contacts as ct', (join) => join.on('ct.id', '=', input.contactId))
    .selectAll('ch')
    .select(['v.id as conversation_id', 'v.last_inbound_at as conversation_last_inbound_at', 'v.messages_allowed as conversation_messages_allowed', 'ct.name as contact_name'])
    .where('ch.id', '=', input.channelId)
    .executeTakeFirst();
  if (!row) throw new Error(`channel ${input.channelId} not found`);
  const { conversation_id, conversation_last_inbound_at, conversation_messages_allowed, contact_name, ...channel } = row;
  if (!conversation_id) throw new Error(`conversation row missing for ${input.workflowId}`); // retried: ensureContact writes it
  if (contact_name === null) throw new Error(`contact ${input.contactId} not found`);
  const conversation = { id: conversation_id, last_inbound_at: conversation_last_inbound_at, messages_allowed: conversation_messages_allowed };
  const ctx: Ctx = { tx, channel, peerId: input.peerId, conversationId: conversation.id, contactId: input.contactId, contactName: contact_name, workflowId: input.workflowId };
  return { ctx, conversation };
}

export interface Ctx {
  tx: Tx;
  channel: Channel;
  peerId: string;
  conversationId: string;
  contactId: string;
  contactName: string;
  workflowId: string;
  /**
   * Rows this transaction created (contacts.ts ensureContactRows), until its first event is recorded:
   * a new conversation has no task, comment or held message to look for, a new contact no history.
   */
  fresh?: { contact: boolean; conversation: boolean };
}

export interface MessageToRecord {
  externalId: string;
  direction: 'inbound' | 'outbound';
  text: string;
  files: StoredFile[];
  occurredAt: string;
  editedAt?: string;
  externalUrl?: string;
  replyToExternalId?: string;
  extra?: Record<string, unknown>;
  /** A broadcast message attached on the reply (rule 23). */
  broadcast?: boolean;
  /** The person's message opens the reply window: the conversation row's last_inbound_at follows, in the comment's statement. */
  opensWindow?: boolean;
}

export interface Tally extends TaskTally {
  taskId: string | null;
  recorded: number;
  duplicates: number;
}

/** Returns the comment id, or null when the message was already recorded (a redelivery after the run's memory). */
export async function recordMessage(ctx: Ctx, result: Tally, m: MessageToRecord): Promise<string | null> {
  const { tx } = ctx;
  const sourceKey = messageSourceKey(ctx.channel.id, ctx.peerId, m.externalId);
  const seen = await latestTaskUnlessRecorded(ctx, sourceKey);
  if (seen.recorded) {
    result.duplicates++;
    return null;
  }
  const task = await taskForNewMessage(ctx, result, seen);
  const replyTo = m.replyToExternalId ? await findCommentByExternalId(tx, ctx.conversationId, m.replyToExternalId) : undefined;
  const commentId = await addLoggedComment(
    tx,
    {
      taskId: task.id,
      direction: m.direction,
      authorId: m.direction === 'inbound' ? ctx.contactId : ctx.channel.id,
      text: m.text,
      files: m.files,
      externalId: m.externalId,
      externalUrl: m.externalUrl,
      sourceKey,
      createdAt: m.occurredAt,
      editedAt: m.editedAt,
      replyToCommentId: replyTo?.id,
      extra: m.extra,
      broadcast: m.broadcast,
    },
    { contactId: ctx.contactId, channelId: ctx.channel.id, occurredAt: m.occurredAt, ...(m.opensWindow ? { opensWindowOf: ctx.conversationId } : {}) },
  );
  result.taskId = task.id;
  result.recorded++;
  return commentId;
}

/**
 * Whether a comment was recorded under `sourceKey` already, and if not the conversation's latest
 * task: one round trip for both (this runs for every message). A comment of the conversation is
 * always in one of its tasks, so without a task there is nothing to find.
 */
async function latestTaskUnlessRecorded(ctx: Ctx, sourceKey: string): Promise<{ recorded: true } | { recorded: false; latest: Task | undefined }> {
  if (ctx.fresh?.conversation) return { recorded: false, latest: undefined };
  const row = await ctx.tx
    .selectFrom('tasks')
    .selectAll()
    .select((eb) => eb.exists(eb.selectFrom('comments').select('id').where('source_key', '=', sourceKey)).as('already_recorded'))
    .where('conversation_id', '=', ctx.conversationId)
    .where('kind', '=', 'conversation')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return (await commentBySourceKey(ctx.tx, sourceKey)) ? { recorded: true } : { recorded: false, latest: undefined };
  const { already_recorded, ...latest } = row;
  return already_recorded ? { recorded: true } : { recorded: false, latest };
}

/** Rules 4–8: the person's active task; else reopen the last one, or a new one with the option (history copied, rule 8). */
export async function taskForNewMessage(ctx: Ctx, tally: TaskTally, read?: { latest: Task | undefined }): Promise<Task> {
  const latest = read ? read.latest : await latestConversationTask(ctx.tx, ctx.conversationId);
  return taskForNewComment(
    ctx.tx,
    ctx.channel,
    latest,
    async () => {
      const task = await createTask(ctx.tx, ctx.channel, {
        kind: 'conversation',
        title: `${ctx.contactName} — ${ctx.channel.name}`,
        workflowId: ctx.workflowId,
        contactId: ctx.contactId,
        conversationId: ctx.conversationId,
        createdBy: 'contact',
      });
      if (!ctx.fresh?.contact) await copyHistory(ctx.tx, task.id, ctx.contactId, settingsOf(ctx.channel).historyMessages);
      return task;
    },
    tally,
  );
}

/** A comment of this conversation by the channel's message id: theirs, ours, or a part of ours. */
export async function findCommentByExternalId(tx: Tx, conversationId: string, externalId: string) {
  const direct = await tx
    .selectFrom('comments as c')
    .innerJoin('tasks as t', 't.id', 'c.task_id')
    .select(['c.id', 'c.extra'])
    .where('t.conversation_id', '=', conversationId)
    .where('c.external_id', '=', externalId)
    .orderBy('c.id', 'desc')
    .executeTakeFirst();
  if (direct) return direct;
  return tx
    .selectFrom('deliveries as d')
    .innerJoin('comments as c', 'c.id', 'd.comment_id')
    .innerJoin('tasks as t', 't.id', 'c.task_id')
    .select(['c.id', 'c.extra'])
    .where('t.conversation_id', '=', conversationId)
    .where('d.external_id', '=', externalId)
    .executeTakeFirst();
}
