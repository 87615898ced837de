/**
 * Rule 15: an agent starts a conversation with someone who never wrote, with an approved template,
 * on channels whose capabilities allow it (WhatsApp: by phone number, the channel's recipient).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { channelDefinition, channelDefinitions } from '../../channels/index.js';
import { getChannel } from '../../db/queries/channels.js';
import { findConversation } from '../../db/queries/conversations.js';
import { getComment, getCommentBySourceKey, type CommentWithAttachments } from '../../db/queries/tasks.js';
import { startConversationUpdate } from '../../workflows/conversation.js';
import type { StartConversationResult } from '../../workflows/shared/types.js';
import { attachUpdate, readAfterChange, rowAfterUpdate, updateConversation, type UpdateProgress } from '../conversations.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, notFound, parseId } from '../errors.js';
import { recipientPeer } from '../recipients.js';
import { answerRetriesHere, idempotencyKeyOf, replayOf, requestIdFor } from '../idempotency.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IdParams, jsonBody, jsonResponse, unionOf } from '../schemas.js';
import { CommentSchema, serializeComment } from '../task-json.js';
import { retryRef } from './tasks.js';

const TemplateSchema = z.object({
  name: z.string().trim().min(1).max(512),
  language: z.string().trim().min(2).max(15).openapi({ example: 'ru' }),
  parameters: z.array(z.string().max(1024)).max(50).optional(),
});

/** The recipient fields of the channels the company may write first on (WhatsApp `{phone}`), with the template. */
const firstContactChannels = channelDefinitions().filter((d) => d.capabilities.companyWritesFirst);
// Not strict (unlike a bulk-send recipient): the contract's body always took unknown fields and ignored them.
const StartConversationBody = unionOf(firstContactChannels.map((d) => z.object({ ...d.recipient.schema.shape, template: TemplateSchema }))).openapi('StartConversation');

const route = createRoute({
  method: 'post',
  path: '/api/channels/{id}/conversations',
  tags: ['channels'],
  summary: `Start a conversation with someone who never wrote (${firstContactChannels.map((d) => d.label).join(', ')}): contact + task + template message (rule 15)`,
  description:
    'Waits up to REPLY_WAIT_SECONDS for Meta to accept the template message: 201 then, 202 (`pending`) when the send is still going on. ' +
    '503: nothing was done, or the conversation has not taken the request yet (`details.reason: "not_accepted"`) — retry with the same Idempotency-Key.',
  security: bearerSecurity,
  request: {
    params: IdParams,
    headers: idempotencyHeader,
    body: jsonBody(StartConversationBody),
  },
  responses: {
    201: jsonResponse(z.object({ taskId: z.string(), contactId: z.string(), comment: CommentSchema }), 'The task, the contact and the sent template message'),
    202: jsonResponse(
      z
        .object({
          taskId: z.string().optional(),
          contactId: z.string().optional(),
          comment: CommentSchema.optional(),
          idempotencyKey: z.string().openapi({ description: 'Retry with it to see the outcome' }),
        })
        .openapi('PendingConversation'),
      'Accepted, the template message not sent within REPLY_WAIT_SECONDS: the send goes on and its outcome shows on the comment. ' +
        'The ids and the comment are absent when the conversation has not written them yet (it will); retry with the same Idempotency-Key to get them',
    ),
    ...errorResponses(400, 401, 404, 409, 422, 502, 503),
  },
});

export function registerFirstContactRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db, config, temporal } = deps;
  const replyDeadline = () => Date.now() + config.REPLY_WAIT_SECONDS * 1000;

  /** The task and contact of a first-contact comment (its task is the conversation's). */
  async function idsOf(comment: CommentWithAttachments): Promise<{ taskId: string; contactId?: string }> {
    const task = await db.selectFrom('tasks').select(['id', 'contact_id']).where('id', '=', comment.task_id).executeTakeFirst();
    return { taskId: comment.task_id, ...(task?.contact_id ? { contactId: task.contact_id } : {}) };
  }

  app.openapi(route, async (c) => {
    const channelId = parseId(c.req.valid('param').id, 'channel');
    const replay = replayOf(c);
    if (replay && !retryRef(replay) && typeof replay.state.commentId === 'string') {
      // A retry of a finished start: the comment as it is now.
      const comment = await getComment(db, replay.state.commentId);
      if (comment) {
        answerRetriesHere(c, replay.state);
        const { taskId, contactId } = replay.state as { taskId: string; contactId: string };
        return c.json({ taskId, contactId, comment: serializeComment(comment) }, 201);
      }
    }
    const body = c.req.valid('json');
    const channel = await getChannel(db, channelId);
    if (!channel) throw notFound('channel', channelId);
    const def = channelDefinition(channel.kind);
    if (!def.capabilities.companyWritesFirst) throw new ApiError(409, 'not_supported', `${def.label} conversations cannot be started by the company`);
    if (!channel.active) throw new ApiError(422, 'channel_inactive', 'the channel is deactivated');
    const { template, ...recipient } = body as { template: z.infer<typeof TemplateSchema> };
    const peerId = recipientPeer(def, recipient);

    const requestId = requestIdFor(c, 'start');
    const deadline = replyDeadline();
    const retry = retryRef(replay);
    let progress: UpdateProgress<StartConversationResult> | undefined = retry ? await attachUpdate(temporal, retry, deadline) : undefined;
    if (!progress) {
      const conv = await findConversation(db, channel.id, peerId);
      progress = await updateConversation(
        temporal,
        config,
        { channelId: channel.id, channelKind: channel.kind, channelExternalId: channel.external_id, peerId },
        { contactId: conv?.contact_id, lastInboundAt: conv?.last_inbound_at?.toISOString(), messagesAllowed: conv?.messages_allowed ?? undefined },
        startConversationUpdate,
        [{ requestId, authorEmployeeId: c.get('employee').id, template }],
        requestId,
        deadline,
      );
    }

    // Finished: the comment by its id. Still sending: the comment the conversation wrote for this request.
    const find = (p: UpdateProgress<StartConversationResult>) => (p.state === 'completed' ? getComment(db, p.result.commentId) : getCommentBySourceKey(db, `req:${requestId}`));
    const { row: comment, progress: now } = await rowAfterUpdate(temporal, deps.logger, progress, find, replyDeadline());
    if (now.state === 'completed' && comment) {
      const { taskId, contactId } = now.result;
      answerRetriesHere(c, { taskId, contactId, commentId: comment.id });
      return c.json({ taskId, contactId, comment: serializeComment(comment) }, 201);
    }
    answerRetriesHere(c, { update: now.ref });
    const ids =
      now.state === 'completed' ? { taskId: now.result.taskId, contactId: now.result.contactId } : comment ? await readAfterChange(deps.logger, () => idsOf(comment)) : undefined;
    return c.json({ ...ids, ...(comment ? { comment: serializeComment(comment) } : {}), idempotencyKey: idempotencyKeyOf(c) }, 202);
  });
}
