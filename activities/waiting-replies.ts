/**
 * Replies that wait (issue 13): the database side of scheduled and held replies. The conversation
 * workflow decides (workflows/shared/waiting-replies.ts); these write what it decided, one
 * transaction each, idempotent by the comment id: a reply leaves `scheduled` / `held` once.
 */
import { isWaitingStatus, WAITING_STATUSES, type StoredFile } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
import { notFound } from './failures.js';
import { commentText, insertDeliveries } from './outbound.js';

export type WaitEnd = 'cancelled' | 'expired' | 'held' | 'failed';

export function waitingReplyActivities({ db, adapters }: ActivityDeps) {
  /**
   * The reply goes out now: its deliveries are written from what it says now (a PATCH while it
   * waited changed that) and it becomes `pending`. Run again, it returns the deliveries still pending.
   */
  async function releaseWaitingReply(input: { commentId: string; workflowId: string }): Promise<{ pendingDeliveryIds: string[] }> {
    return db.transaction().execute(async (tx) => {
      const c = await tx
        .selectFrom('comments as c')
        .innerJoin('tasks as t', 't.id', 'c.task_id')
        .select(['c.id', 'c.text', 'c.extra', 'c.delivery_status', 'c.reply_to_comment_id', 't.workflow_id', 't.channel_id'])
        .where('c.id', '=', input.commentId)
        .forUpdate()
        .executeTakeFirst();
      if (!c || c.workflow_id !== input.workflowId) throw notFound('comment');
      if (!isWaitingStatus(c.delivery_status)) {
        const pending = await tx.selectFrom('deliveries').select('id').where('comment_id', '=', c.id).where('status', '=', 'pending').orderBy('part').execute();
        return { pendingDeliveryIds: pending.map((d) => d.id) };
      }
      const template = (c.extra as { template?: { name: string; language: string; parameters?: string[] } } | null)?.template;
      const atts = await tx.selectFrom('attachments').select(['sha256', 'filename', 'mime_type', 'size']).where('comment_id', '=', c.id).orderBy('id').execute();
      const files: StoredFile[] = atts.map((a) => ({ sha256: a.sha256, filename: a.filename, mimeType: a.mime_type, size: Number(a.size) }));
      const replyTo = c.reply_to_comment_id
        ? await tx.selectFrom('comments').select('external_id').where('id', '=', c.reply_to_comment_id).executeTakeFirst()
        : undefined;
      const pendingDeliveryIds = await insertDeliveries(tx, adapters, {
        commentId: c.id,
        channelId: c.channel_id,
        // A template reply without text of its own shows the template's name; it sends none.
        text: template && c.text === commentText('', template) ? '' : c.text,
        files,
        template,
        replyToExternalId: replyTo?.external_id ?? undefined,
      });
      await tx.updateTable('comments').set({ delivery_status: 'pending', held_until: null }).where('id', '=', c.id).execute();
      return { pendingDeliveryIds };
    });
  }

  /**
   * A reply's wait ends without a send (cancelled, expired, failed), or a scheduled one becomes
   * held. Returns whether it was still waiting (only a waiting reply changes).
   */
  async function settleWaitingReply(input: {
    commentId: string;
    workflowId: string;
    status: WaitEnd;
    heldUntil?: string;
    error?: { code: string; message: string };
  }): Promise<boolean> {
    const task = await db.selectFrom('comments as c').innerJoin('tasks as t', 't.id', 'c.task_id').select('t.workflow_id').where('c.id', '=', input.commentId).executeTakeFirst();
    if (!task || task.workflow_id !== input.workflowId) throw notFound('comment');
    const r = await db
      .updateTable('comments')
      .set({
        delivery_status: input.status,
        ...(input.status === 'held' ? { held_until: input.heldUntil ?? null } : {}),
        ...(input.error ? { delivery_error: JSON.stringify(input.error) } : {}),
      })
      .where('id', '=', input.commentId)
      .where('delivery_status', 'in', [...WAITING_STATUSES])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** What became of a reply (its delivery status), for a cancel that came after the decision. */
  async function waitingReplyStatus(input: { commentId: string; workflowId: string }): Promise<string | null> {
    const c = await db
      .selectFrom('comments as c')
      .innerJoin('tasks as t', 't.id', 'c.task_id')
      .select(['c.delivery_status', 't.workflow_id'])
      .where('c.id', '=', input.commentId)
      .executeTakeFirst();
    if (!c || c.workflow_id !== input.workflowId) throw notFound('comment');
    return c.delivery_status;
  }

  return { releaseWaitingReply, settleWaitingReply, waitingReplyStatus };
}
