import { activityInfo, ApplicationFailure, heartbeat, log } from '@temporalio/activity';
import { adapterFor, ChannelTransientError, type ChannelAdapter, type SendResult } from '../channels/types.js';
import { getChannelOrThrow, insertAttachments, logMessage, type Tx } from '../db/queries/conversations.js';
import { editCommentText } from './comment-records.js';
import { applyDeliveryReports, lockChannelMessage, refreshCommentStatus } from '../db/queries/deliveries.js';
import { FailureType } from '../workflows/shared/errors.js';
import type { ChannelCapabilities, PostCommentRequest, PublicationRef, StoredFile } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
import { notFound, notSupported, toActivityFailure } from './failures.js';

/**
 * The agent's request as the workflow received it, plus where it belongs. `wait`: a reply that
 * waits (issue 13) is written without deliveries; they are written when it goes out.
 */
export type CreateAgentCommentInput = PostCommentRequest & {
  workflowId: string;
  channelId: string;
  wait?: { status: 'scheduled' | 'held'; until: string };
};

/** What one delivery (one channel message) carries; kept on the delivery row. */
export interface DeliveryContent {
  text: string;
  files: StoredFile[];
  template?: PostCommentRequest['template'];
  replyToExternalId?: string;
}

/**
 * Splits a reply into channel messages: texts longer than the channel allows are cut at a line
 * or word boundary; files go up to the channel's per-message count; the text travels with the
 * first files when it fits as their caption, else in messages of its own before them.
 */
export function planDeliveries(
  limits: Pick<ChannelCapabilities, 'maxTextLength' | 'filesPerMessage' | 'maxCaptionLength'>,
  text: string,
  files: StoredFile[],
): DeliveryContent[] {
  const perMessage = Math.max(1, limits.filesPerMessage);
  const fileGroups: StoredFile[][] = [];
  for (let i = 0; i < files.length; i += perMessage) fileGroups.push(files.slice(i, i + perMessage));
  if (fileGroups.length && text.length <= limits.maxCaptionLength) {
    return fileGroups.map((group, i) => ({ text: i === 0 ? text : '', files: group }));
  }
  const parts: DeliveryContent[] = splitText(text, limits.maxTextLength).map((t) => ({ text: t, files: [] }));
  if (fileGroups.length && !text) parts.length = 0;
  return [...parts, ...fileGroups.map((group) => ({ text: '', files: group }))];
}

export function splitText(text: string, max: number): string[] {
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    // Never between the two halves of a surrogate pair (an emoji): a lone half cannot be stored or sent.
    if (cut > 1 && /[\uD800-\uDBFF]/.test(rest.charAt(cut - 1))) cut--;
    chunks.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^[\n ]/, '');
  }
  chunks.push(rest);
  return chunks;
}

/** What a message shows in a task: its text, or the template's name when it has no text of its own. */
export function commentText(text: string, template?: { name: string }): string {
  return template && !text ? `[template ${template.name}]` : text;
}

/** Edit request ids remembered on a comment (a retried edit is not applied twice). */
const MAX_APPLIED_EDITS = 50;
/** How long a retried WhatsApp send waits for the first attempt's status before sending again. */
const FIRST_ATTEMPT_WAIT_MS = 10_000;

export interface ExactlyOnceSend {
  adapter: ChannelAdapter;
  channelId: string;
  /**
   * The message's row (a delivery or bulk recipient): its id is the idempotency value; its
   * `error` notes that the channel answered an attempt (a rate limit: nothing was sent then), so
   * the retry need not look for the first attempt's status.
   */
  row: { table: 'deliveries' | 'bulk_send_recipients'; id: string; error: unknown };
  send(): Promise<SendResult>;
}

/**
 * Sends one channel message in an activity, never twice where the channel allows it. Heartbeats
 * let Temporal notice a dead worker within seconds (heartbeatTimeout) and retry elsewhere. How a
 * retry after an attempt of unknown outcome avoids a second message is the channel's
 * `retriedSends`: VK de-duplicates the repeated idempotency value itself; WhatsApp's value travels
 * as callback data, and the retry first looks (briefly waits) for a status report of the first
 * attempt — if one arrived, that message is adopted instead of sending again; Telegram offers
 * neither, so the message is sent again (the window of a possible double is one HTTP exchange,
 * README "Telegram") and the retry is logged.
 */
export async function sendExactlyOnce(db: ActivityDeps['db'], o: ExactlyOnceSend): Promise<SendResult> {
  const beat = setInterval(() => heartbeat(), 1000);
  try {
    heartbeat();
    const previousAnswered = (o.row.error as { answered?: boolean } | null)?.answered === true;
    if (activityInfo().attempt > 1 && !previousAnswered) {
      const retried = o.adapter.capabilities.retriedSends;
      if (retried === 'adopt_delivery_report') {
        const externalId = await firstAttemptReport(db, o.channelId, o.row.id, FIRST_ATTEMPT_WAIT_MS);
        if (externalId) return { externalId };
      } else if (retried === 'sent_again') {
        log.warn('sending again after an attempt of unknown outcome: the person may get this message twice', { channelId: o.channelId, [o.row.table]: o.row.id });
      }
    }
    return await o.send();
  } catch (err) {
    if (err instanceof ChannelTransientError && typeof err.channelCode === 'number') {
      const error = JSON.stringify({ code: err.channelCode, message: err.message, answered: true });
      await db.updateTable(o.row.table).set({ error }).where('id', '=', o.row.id).execute();
    }
    throw toActivityFailure(err);
  } finally {
    clearInterval(beat);
  }
}

/** The channel message id of an earlier attempt, from its status reports, if any. */
async function firstAttemptReport(db: ActivityDeps['db'], channelId: string, key: string, waitMs: number): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = await db.selectFrom('delivery_reports').select('external_id').where('channel_id', '=', channelId).where('send_key', '=', key).executeTakeFirst();
    if (r) return r.external_id;
    if (Date.now() >= deadline) return undefined;
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** One pending delivery per channel message of a reply (planDeliveries); returns their ids in order. */
export async function insertDeliveries(
  tx: Tx,
  adapters: ActivityDeps['adapters'],
  r: { commentId: string; channelId: string; text: string; files: StoredFile[]; template?: PostCommentRequest['template']; replyToExternalId?: string },
): Promise<string[]> {
  const channel = await getChannelOrThrow(tx, r.channelId);
  const parts = r.template
    ? [{ text: r.text, files: [] as StoredFile[], template: r.template }]
    : planDeliveries(adapterFor(adapters, channel.kind).capabilities, r.text, r.files);
  const rows = await tx
    .insertInto('deliveries')
    .values(
      parts.map((p, i) => ({
        comment_id: r.commentId,
        part: i,
        channel_id: channel.id,
        status: 'pending' as const,
        extra: JSON.stringify({ ...p, replyToExternalId: i === 0 ? r.replyToExternalId : undefined } satisfies DeliveryContent),
      })),
    )
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

export function outboundActivities({ db, files, adapters }: ActivityDeps) {
  /**
   * Writes an agent's comment (and, when it notifies the contact, one pending delivery per
   * channel message) in one transaction. Idempotent by the request id.
   */
  async function createAgentComment(input: CreateAgentCommentInput): Promise<{ commentId: string; pendingDeliveryIds: string[] }> {
    const sourceKey = `req:${input.requestId}`;
    return db.transaction().execute(async (tx) => {
      const existing = await tx.selectFrom('comments').select('id').where('source_key', '=', sourceKey).executeTakeFirst();
      if (existing) {
        const pending = await tx.selectFrom('deliveries').select('id').where('comment_id', '=', existing.id).where('status', '=', 'pending').orderBy('part').execute();
        return { commentId: existing.id, pendingDeliveryIds: pending.map((d) => d.id) };
      }
      const task = await tx.selectFrom('tasks').select(['id', 'workflow_id', 'kind']).where('id', '=', input.taskId).executeTakeFirst();
      if (!task || task.workflow_id !== input.workflowId) throw notFound('task');
      let replyToExternalId: string | undefined;
      if (input.replyToCommentId) {
        const target = await tx.selectFrom('comments').select(['external_id', 'task_id']).where('id', '=', input.replyToCommentId).executeTakeFirst();
        if (!target || target.task_id !== task.id) {
          throw ApplicationFailure.nonRetryable('replyToCommentId is not a comment of this task', FailureType.InvalidRequest, { field: 'replyToCommentId' });
        }
        replyToExternalId = target.external_id ?? undefined;
      }
      if (!replyToExternalId && task.kind === 'publication' && input.notifyContact) {
        // Rule 19: with one commenter, the reply answers their last comment.
        const authors = await tx
          .selectFrom('comments')
          .select(['author_id', 'external_id'])
          .where('task_id', '=', task.id)
          .where('direction', '=', 'inbound')
          .where('deleted_at', 'is', null)
          .orderBy('id', 'desc')
          .execute();
        if (new Set(authors.map((a) => a.author_id)).size === 1) replyToExternalId = authors[0]!.external_id ?? undefined;
        if (!replyToExternalId) {
          throw ApplicationFailure.nonRetryable('say which comment to answer (replyToCommentId): several people commented', FailureType.InvalidRequest, { field: 'replyToCommentId' });
        }
      }
      const text = commentText(input.text, input.template);
      const comment = await tx
        .insertInto('comments')
        .values({
          task_id: task.id,
          direction: input.notifyContact ? 'outbound' : 'internal',
          author_type: 'employee',
          author_id: input.authorEmployeeId,
          text,
          notify_contact: input.notifyContact,
          delivery_status: input.notifyContact ? (input.wait?.status ?? 'pending') : null,
          ...(input.wait?.status === 'scheduled' ? { scheduled_for: input.wait.until } : {}),
          ...(input.wait?.status === 'held' ? { held_until: input.wait.until } : {}),
          source_key: sourceKey,
          reply_to_comment_id: input.replyToCommentId ?? null,
          extra: input.template ? JSON.stringify({ template: input.template }) : null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await insertAttachments(tx, comment.id, input.files);
      if (!input.notifyContact || input.wait) return { commentId: comment.id, pendingDeliveryIds: [] };
      const pendingDeliveryIds = await insertDeliveries(tx, adapters, {
        commentId: comment.id, channelId: input.channelId, text: input.text, files: input.files, template: input.template, replyToExternalId,
      });
      return { commentId: comment.id, pendingDeliveryIds };
    });
  }

  /**
   * Sends one channel message. Never twice: the delivery id is the channel's idempotency value
   * (VK random_id), so a retry after a crash mid-call is recognised by the channel; a delivery
   * already marked sent is not sent again. Channels without such a key (WhatsApp) get the
   * delivery id as callback data instead: before a retry, the first attempt's status report is
   * looked for (and briefly waited for), and if it arrived the message is adopted, not re-sent.
   */
  async function deliverPart(input: { deliveryId: string }): Promise<{ externalId: string }> {
    const d = await db
      .selectFrom('deliveries as d')
      .innerJoin('comments as c', 'c.id', 'd.comment_id')
      .innerJoin('tasks as t', 't.id', 'c.task_id')
      .leftJoin('conversations as v', 'v.id', 't.conversation_id')
      .select(['d.id', 'd.status', 'd.external_id', 'd.extra', 'd.error', 'd.comment_id', 'd.channel_id', 'v.peer_id', 'v.contact_id', 't.kind as task_kind', 't.publication', 'c.text as comment_text'])
      .where('d.id', '=', input.deliveryId)
      .executeTakeFirst();
    if (!d) throw notFound('delivery');
    if (d.status !== 'pending' && d.external_id) return { externalId: d.external_id };
    const channel = await getChannelOrThrow(db, d.channel_id);
    if (!channel.active) throw ApplicationFailure.nonRetryable('the channel is deactivated', FailureType.ChannelInactive, {});
    const content = (d.extra ?? { text: '', files: [] }) as unknown as DeliveryContent;
    const loaded = await Promise.all(content.files.map(async (f) => ({ ...f, bytes: await files.get(f.sha256) })));

    const adapter = adapterFor(adapters, channel.kind);
    const sent = await sendExactlyOnce(db, {
      adapter,
      channelId: channel.id,
      row: { table: 'deliveries', id: d.id, error: d.error },
      send: async () => {
        if (d.task_kind === 'publication') {
          // Rule 19: a reply under a wall comment, posted as the community (guid = idempotency).
          const pub = d.publication as { type: PublicationRef['kind']; ownerId: number; itemId: number } | null;
          if (!adapter.publications || !pub || !content.replyToExternalId) {
            throw ApplicationFailure.nonRetryable('this publication cannot be answered from here', FailureType.NotSupported, { reason: 'reply_in_vk' });
          }
          return adapter.publications.reply(channel, { kind: pub.type, ownerId: pub.ownerId, itemId: pub.itemId }, {
            replyToCommentId: content.replyToExternalId,
            text: content.text,
            files: loaded,
            idempotencyKey: `taskwire-${d.id}`,
          });
        }
        return adapter.send(channel, {
          peerId: d.peer_id!,
          text: content.text,
          files: loaded,
          idempotencyKey: d.id,
          replyToExternalId: content.replyToExternalId,
          template: content.template,
        });
      },
    });
    const result = sent;

    await db.transaction().execute(async (tx) => {
      await lockChannelMessage(tx, channel.id, result.externalId);
      await tx
        .updateTable('deliveries')
        .set({ status: 'sent', external_id: result.externalId, extra: JSON.stringify({ ...content, channel: result.extra ?? {} }), updated_at: new Date() })
        .where('id', '=', d.id)
        .where('status', '=', 'pending')
        .execute();
      // Statuses the channel reported before we knew the message id apply now; the comment
      // shows the least advanced state of its messages.
      await applyDeliveryReports(tx, channel.id, result.externalId);
      const remaining = await tx.selectFrom('deliveries').select('id').where('comment_id', '=', d.comment_id).where('status', '=', 'pending').executeTakeFirst();
      if (remaining) return;
      const first = await tx.selectFrom('deliveries').select('external_id').where('comment_id', '=', d.comment_id).orderBy('part').executeTakeFirstOrThrow();
      const comment = await tx
        .updateTable('comments')
        .set({ external_id: first.external_id })
        .where('id', '=', d.comment_id)
        .where('external_id', 'is', null)
        .returning(['id', 'text', 'created_at'])
        .executeTakeFirst();
      if (comment && d.contact_id) {
        const atts = await tx.selectFrom('attachments').select(['sha256', 'filename', 'mime_type', 'size']).where('comment_id', '=', comment.id).execute();
        await logMessage(tx, {
          contactId: d.contact_id,
          channelId: channel.id,
          direction: 'outbound',
          commentId: comment.id,
          text: comment.text,
          files: atts.map((a) => ({ sha256: a.sha256, filename: a.filename, mimeType: a.mime_type, size: Number(a.size) })),
          sourceKey: `out:${comment.id}`,
          occurredAt: comment.created_at,
        });
      }
    });
    return { externalId: result.externalId };
  }

  /** The channel refused or retries ran out: the comment shows why (rule 12). */
  async function markCommentFailed(input: { commentId: string; code: string | number; message: string }): Promise<void> {
    await db.transaction().execute(async (tx) => {
      const error = JSON.stringify({ code: input.code, message: input.message });
      await tx.updateTable('deliveries').set({ status: 'failed', error, updated_at: new Date() }).where('comment_id', '=', input.commentId).where('status', '=', 'pending').execute();
      await refreshCommentStatus(tx, input.commentId);
    });
  }

  /**
   * Rule 13: an agent edits their comment. Internal comments and failed sends change only here;
   * a sent private message is edited in the channel first (its refusal changes nothing here).
   */
  /**
   * Edits an agent comment (and a sent VK private reply in VK). Idempotent by the request id: an
   * edit retried after its conversation's run ended (which forgot the request) is not applied twice.
   */
  async function editComment(input: { commentId: string; workflowId: string; text: string; editorEmployeeId: string; requestId?: string }): Promise<void> {
    const c = await db
      .selectFrom('comments as c')
      .innerJoin('tasks as t', 't.id', 'c.task_id')
      .leftJoin('conversations as v', 'v.id', 't.conversation_id')
      .select(['c.id', 'c.direction', 'c.author_type', 'c.text', 'c.extra', 't.workflow_id', 't.channel_id', 't.kind as task_kind', 'v.peer_id'])
      .where('c.id', '=', input.commentId)
      .executeTakeFirst();
    if (!c || c.workflow_id !== input.workflowId) throw notFound('comment');
    if (c.author_type !== 'employee') throw notSupported('not_an_agent_comment', 'only comments written by agents can be edited');
    const appliedEdits = (((c.extra as Record<string, unknown> | null)?.appliedEdits as string[] | undefined) ?? []);
    if (input.requestId && appliedEdits.includes(input.requestId)) return;

    if (c.direction === 'outbound') {
      const channel = await getChannelOrThrow(db, c.channel_id);
      const adapter = adapterFor(adapters, channel.kind);
      const deliveries = await db.selectFrom('deliveries').selectAll().where('comment_id', '=', c.id).orderBy('part').execute();
      const sent = deliveries.filter((d) => d.external_id);
      if (sent.length > 0) {
        if (!adapter.capabilities.canEdit) throw notSupported('edit_not_supported', `${channel.kind} messages cannot be edited once sent`);
        if (c.task_kind !== 'conversation') throw notSupported('edit_not_supported', 'replies under publications cannot be edited through the API (rule 13)');
        if (deliveries.length > 1) throw notSupported('edit_not_supported', 'a reply sent as several messages cannot be edited');
        const d = sent[0]!;
        const content = (d.extra ?? {}) as Record<string, unknown>;
        if (adapter.capabilities.maxTextLength < input.text.length) {
          throw ApplicationFailure.nonRetryable(`text is longer than ${adapter.capabilities.maxTextLength} characters`, FailureType.InvalidRequest, { field: 'text' });
        }
        try {
          await adapter.edit(channel, {
            peerId: c.peer_id!,
            externalId: d.external_id!,
            extra: (content.channel as Record<string, unknown>) ?? null,
            text: input.text,
          });
        } catch (err) {
          throw toActivityFailure(err);
        }
      }
    }
    await db.transaction().execute(async (tx) => {
      // The last requests applied, so a retried request is recognised (bounded).
      const extra = input.requestId
        ? { extra: JSON.stringify({ ...((c.extra as Record<string, unknown> | null) ?? {}), appliedEdits: [...appliedEdits, input.requestId].slice(-MAX_APPLIED_EDITS) }) }
        : {};
      await editCommentText(tx, c.id, { text: input.text, editedAt: new Date().toISOString(), by: { type: 'employee', id: input.editorEmployeeId }, set: extra });
      await tx.updateTable('message_log').set({ text: input.text }).where('comment_id', '=', c.id).execute();
    });
  }

  return { createAgentComment, deliverPart, markCommentFailed, editComment };
}
