/** Rule 15: an agent starts a WhatsApp conversation by phone number with an approved template. */
import { randomUUID } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { getChannel } from '../../db/queries/channels.js';
import { normalizePhone } from '../../db/queries/contacts.js';
import { findConversation } from '../../db/queries/conversations.js';
import { getComment } from '../../db/queries/tasks.js';
import { startConversationUpdate } from '../../workflows/conversation.js';
import { updateConversation } from '../conversations.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, notFound, parseId } from '../errors.js';
import { bearerSecurity, errorResponses, IdParams, jsonBody, jsonResponse } from '../schemas.js';
import { CommentSchema, serializeComment } from './tasks.js';

const TemplateSchema = z.object({
  name: z.string().trim().min(1).max(512),
  language: z.string().trim().min(2).max(15).openapi({ example: 'ru' }),
  parameters: z.array(z.string().max(1024)).max(50).optional(),
});

const route = createRoute({
  method: 'post',
  path: '/api/channels/{id}/conversations',
  tags: ['channels'],
  summary: 'Start a WhatsApp conversation with someone who never wrote: contact + task + template message (rule 15)',
  security: bearerSecurity,
  request: {
    params: IdParams,
    body: jsonBody(z.object({ phone: z.string().min(5).max(32).openapi({ example: '+7 916 123-45-67' }), template: TemplateSchema }).openapi('StartConversation')),
  },
  responses: {
    201: jsonResponse(z.object({ taskId: z.string(), contactId: z.string(), comment: CommentSchema }), 'The task, the contact and the sent template message'),
    ...errorResponses(400, 401, 404, 409, 422, 502, 503),
  },
});

export function registerFirstContactRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(route, async (c) => {
    const channelId = parseId(c.req.valid('param').id, 'channel');
    const body = c.req.valid('json');
    const channel = await getChannel(deps.db, channelId);
    if (!channel) throw notFound('channel', channelId);
    if (channel.kind !== 'whatsapp') throw new ApiError(409, 'not_supported', 'only WhatsApp conversations can be started by the company');
    if (!channel.active) throw new ApiError(422, 'channel_inactive', 'the channel is deactivated');
    const peerId = normalizePhone(body.phone);
    if (!/^[1-9]\d{6,14}$/.test(peerId)) throw badRequest('phone', 'must be an international number (country code, 7–15 digits)');

    const conv = await findConversation(deps.db, channel.id, peerId);
    const key = c.req.header('idempotency-key');
    const requestId = key ? `start:${c.get('employee').id}:${key}` : `start:${randomUUID()}`;
    const r = await updateConversation(
      deps.temporal,
      deps.config,
      { channelId: channel.id, channelKind: 'whatsapp', channelExternalId: channel.external_id, peerId },
      { contactId: conv?.contact_id, lastInboundAt: conv?.last_inbound_at?.toISOString(), messagesAllowed: conv?.messages_allowed ?? undefined },
      startConversationUpdate,
      [{ requestId, authorEmployeeId: c.get('employee').id, template: body.template }],
      requestId,
    );
    const comment = await getComment(deps.db, r.commentId);
    return c.json({ taskId: r.taskId, contactId: r.contactId, comment: serializeComment(comment!) }, 201);
  });
}
