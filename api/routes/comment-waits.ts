/**
 * Replies that wait (issue 13), the API side: `sendAt` and `whenWindowClosed` on a reply, the
 * channel's `undoSendSeconds`, and `POST /api/comments/{id}/cancel`. The conversation workflow
 * keeps the replies and decides (workflows/shared/waiting-replies.ts); a cancel is an update to it,
 * so a cancel racing the reply's timer is either cancelled (never sent) or `already_sent`.
 *
 * Scheduling is for private conversations: replies under publications go out at once.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { UpdateDefinition } from '@temporalio/common';
import type { Db } from '../../db/index.js';
import { getComment, taskTarget, type CommentWithAttachments } from '../../db/queries/tasks.js';
import type { Employee } from '../../db/schema.js';
import { cancelCommentUpdate } from '../../workflows/conversation.js';
import { isWaitingStatus, type PostCommentRequest } from '../../workflows/shared/types.js';
import type { UpdateProgress, UpdateRef } from '../conversations.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, forbidden, notFound, parseId } from '../errors.js';
import { answerRetriesHere, idempotencyKeyOf, replayOf, requestIdFor } from '../idempotency.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IdParams, jsonResponse } from '../schemas.js';
import { CommentSchema, serializeComment } from '../task-json.js';

/** `sendAt` at most this far ahead. */
export const MAX_SCHEDULE_DAYS = 30;
/** A `sendAt` this little in the past (clocks, latency) means "now"; earlier is refused. */
const PAST_GRACE_MS = 60_000;

/** The fields a reply takes (spread into the POST body schema). */
export const waitFields = {
  sendAt: z.iso.datetime({ offset: true }).optional().openapi({
    description: `Send the reply at this time (ISO, at most ${MAX_SCHEDULE_DAYS} days ahead) instead of now; answered 202 with deliveryStatus "scheduled". Private conversations only.`,
    example: '2026-12-02T09:00:00+03:00',
  }),
  whenWindowClosed: z.enum(['refuse', 'hold']).optional().openapi({
    description: 'Outside the reply window: "refuse" (default, 422) or "hold": kept (202, deliveryStatus "held") and sent right after the person\'s next message; ' +
      'expires after HELD_REPLY_RETENTION_SECONDS. A template given with it (WhatsApp) goes out at once to invite the answer.',
  }),
};

type Target = NonNullable<Awaited<ReturnType<typeof taskTarget>>>;

/** A comment still waiting to go out. */
export function isWaiting(c: Pick<CommentWithAttachments, 'delivery_status'>): boolean {
  return isWaitingStatus(c.delivery_status);
}

/**
 * How the reply waits, as the workflow takes it: `sendAt` (the later of the asked time and the
 * channel's undo period) and `whenWindowClosed`. Refuses what cannot be (400, 409).
 */
export function replyWait(
  t: Target,
  body: { notifyContact: boolean; sendAt?: string; whenWindowClosed?: 'refuse' | 'hold' },
  nowMs = Date.now(),
): Pick<PostCommentRequest, 'sendAt' | 'whenWindowClosed'> {
  if (!body.notifyContact) {
    if (body.sendAt) throw badRequest('sendAt', 'only a reply that notifies the contact (notifyContact: true) can be scheduled');
    return {};
  }
  let sendAtMs: number | undefined;
  if (body.sendAt) {
    if (t.kind !== 'conversation') throw new ApiError(409, 'not_supported', 'only replies in private conversations can be scheduled; this one goes out at once');
    sendAtMs = Date.parse(body.sendAt);
    if (sendAtMs > nowMs + MAX_SCHEDULE_DAYS * 86_400_000) throw badRequest('sendAt', `must be at most ${MAX_SCHEDULE_DAYS} days ahead`);
    if (sendAtMs < nowMs - PAST_GRACE_MS) throw badRequest('sendAt', 'is in the past');
  }
  if (t.kind !== 'conversation') return {};
  const undo = t.channelSettings.undoSendSeconds ?? 0;
  if (undo > 0) sendAtMs = Math.max(sendAtMs ?? 0, nowMs + undo * 1000);
  return {
    ...(sendAtMs !== undefined && sendAtMs > nowMs ? { sendAt: new Date(sendAtMs).toISOString() } : {}),
    ...(body.whenWindowClosed === 'hold' ? { whenWindowClosed: 'hold' as const } : {}),
  };
}

/** An agent changes (edits, cancels) only its own comments; the owner and admins any. */
export function requireMayChange(me: Pick<Employee, 'id' | 'role'>, comment: Pick<CommentWithAttachments, 'author_type' | 'author_id'>, verb: string): void {
  if (me.role === 'agent' && !(comment.author_type === 'employee' && String(comment.author_id) === String(me.id))) {
    throw forbidden(`only the author of a comment, an owner or an admin may ${verb} it`);
  }
}

const cancelRoute = createRoute({
  method: 'post', path: '/api/comments/{id}/cancel', tags: ['tasks'], security: bearerSecurity,
  summary: 'Cancel a reply that waits (scheduled, or held for a closed window): it is never sent',
  description: '200 with `deliveryStatus: "cancelled"` while the reply waits (or when it was cancelled already); 409 `already_sent` once it went out. ' +
    'A cancel racing the reply\'s time ends in exactly one of the two. Same permission as editing the comment.',
  request: { params: IdParams, headers: idempotencyHeader },
  responses: {
    200: jsonResponse(z.object({ comment: CommentSchema }), 'The cancelled reply'),
    202: jsonResponse(
      z.object({ comment: CommentSchema.optional(), idempotencyKey: z.string() }).openapi('PendingCancel'),
      'Accepted, not finished within REPLY_WAIT_SECONDS (the conversation is behind): retry with the same Idempotency-Key to see the outcome',
    ),
    ...errorResponses(401, 403, 404, 409, 503),
  },
});

/** What the task routes lend the cancel route: the task's workflow and how an action's outcome is awaited. */
export interface CommentActions {
  target(taskId: string): Promise<Target>;
  runUpdate<Ret, Args extends [unknown, ...unknown[]]>(
    t: Target, update: UpdateDefinition<Ret, Args>, args: Args, requestId: string, deadline: number, retry: UpdateRef | undefined,
  ): Promise<UpdateProgress<Ret>>;
  commentOutcome<R>(
    progress: UpdateProgress<R>, find: (p: UpdateProgress<R>) => Promise<CommentWithAttachments | undefined>,
  ): Promise<{ done: boolean; comment?: CommentWithAttachments; retryState: Record<string, unknown> }>;
  replyDeadline(): number;
  retryRef: (replay: ReturnType<typeof replayOf>) => UpdateRef | undefined;
}

export function registerCancelRoute(app: OpenAPIHono<AppEnv>, db: Db, actions: CommentActions): void {
  app.openapi(cancelRoute, async (c) => {
    const commentId = parseId(c.req.valid('param').id, 'comment');
    const existing = await getComment(db, commentId);
    if (!existing) throw notFound('comment', commentId);
    const me = c.get('employee');
    requireMayChange(me, existing, 'cancel');
    if (!existing.notify_contact || existing.author_type !== 'employee') throw new ApiError(409, 'not_supported', 'only a reply to the contact can be cancelled');
    const t = await actions.target(existing.task_id);
    // Only conversation replies wait: any other reply went out when it was posted.
    if (t.kind !== 'conversation') throw new ApiError(409, 'already_sent', 'the reply was sent when it was posted');
    const requestId = requestIdFor(c, 'cancel');
    const progress = await actions.runUpdate(t, cancelCommentUpdate, [{ requestId, commentId, employeeId: me.id }], requestId, actions.replyDeadline(), actions.retryRef(replayOf(c)));
    const out = await actions.commentOutcome(progress, () => getComment(db, commentId));
    answerRetriesHere(c, out.retryState);
    if (out.done) return c.json({ comment: serializeComment(out.comment!) }, 200);
    return c.json({ ...(out.comment ? { comment: serializeComment(out.comment) } : {}), idempotencyKey: idempotencyKeyOf(c) }, 202);
  });
}
