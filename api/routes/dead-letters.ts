/**
 * Dead letters over HTTP (issue 10): events set aside after bounded retries, listed and handed
 * back to their workflow by an owner or admin once the cause is fixed.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { getChannel } from '../../db/queries/channels.js';
import { getDeadLetter, listDeadLetters, markDeadLetterRetrying, restoreDeadLetter } from '../../db/queries/dead-letters.js';
import type { DeadLetter } from '../../db/schema.js';
import type { ChannelKind, ConversationEvent, LeadEvent, PublicationCommentEvent, PublicationRef } from '../../workflows/shared/types.js';
import { requireRole } from '../auth.js';
import { signalConversation, signalPublication, startLead } from '../conversations.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, notFound, parseId } from '../errors.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IdParams, IsoTime, jsonResponse } from '../schemas.js';

const Id = z.string().regex(/^[1-9]\d{0,17}$/);

const DeadLetterSchema = z
  .object({
    id: z.string(),
    channelId: z.string(),
    conversation: z.string().openapi({ description: 'The Temporal workflow id the event belongs to', example: 'conversation/vk-218000001/552301' }),
    workflowType: z.enum(['conversation', 'publication', 'lead']),
    reason: z.string().openapi({ example: 'the event could not be recorded' }),
    error: z.object({ type: z.string().nullable(), message: z.string() }),
    status: z.enum(['dead', 'retrying', 'resolved']).openapi({ description: '`dead`: set aside; `retrying`: handed back, not recorded yet; `resolved`: recorded after a retry' }),
    failures: z.number().int(),
    retries: z.number().int(),
    receivedAt: IsoTime,
    createdAt: IsoTime,
    updatedAt: IsoTime,
    resolvedAt: IsoTime.nullable(),
  })
  .openapi('DeadLetter');

const listRoute = createRoute({
  method: 'get',
  path: '/api/dead-letters',
  tags: ['dead letters'],
  summary: 'Events set aside after bounded retries (owner/admin), newest first',
  description: 'An event that could not be recorded is kept here and its conversation goes on with the next one. `before` (an id) pages further back.',
  security: bearerSecurity,
  middleware: [requireRole('owner', 'admin')] as const,
  request: {
    query: z.object({
      status: z.enum(['dead', 'retrying', 'resolved']).optional(),
      channelId: Id.optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      before: Id.optional(),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ items: z.array(DeadLetterSchema), nextBefore: z.string().optional() }), 'Dead letters'),
    ...errorResponses(400, 401, 403, 503),
  },
});

const retryRoute = createRoute({
  method: 'post',
  path: '/api/dead-letters/{id}/retry',
  tags: ['dead letters'],
  summary: 'Hand a dead letter back to its workflow (owner/admin), once its cause is fixed',
  description:
    'The event is queued again in its conversation (or publication, or lead) and recorded like a new one; the dead letter becomes `resolved` when it is. ' +
    'If it fails again it is `dead` again with the new error. Retrying a letter that is already retrying hands it back once more; recording is idempotent.',
  security: bearerSecurity,
  middleware: [requireRole('owner', 'admin')] as const,
  request: { params: IdParams, headers: idempotencyHeader },
  responses: {
    202: jsonResponse(z.object({ deadLetter: DeadLetterSchema }), 'Handed back; poll GET /api/dead-letters for the outcome'),
    ...errorResponses(401, 403, 404, 409, 503),
  },
});

function serialize(d: DeadLetter): z.infer<typeof DeadLetterSchema> {
  return {
    id: String(d.id),
    channelId: String(d.channel_id),
    conversation: d.workflow_id,
    workflowType: d.workflow_type,
    reason: d.reason,
    error: d.error,
    status: d.status,
    failures: d.failures,
    retries: d.retries,
    receivedAt: d.received_at.toISOString(),
    createdAt: d.created_at.toISOString(),
    updatedAt: d.updated_at.toISOString(),
    resolvedAt: d.resolved_at?.toISOString() ?? null,
  };
}

export function registerDeadLetterRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db } = deps;

  /** Queues the event again in its workflow, under a key the workflow has not seen. */
  async function handBack(d: DeadLetter, ch: { channelId: string; channelKind: ChannelKind; channelExternalId: string }): Promise<void> {
    const event = JSON.parse(d.event) as Record<string, unknown>;
    const id = String(d.id);
    if (d.target.type === 'lead') {
      await startLead(deps.temporal, deps.config, ch, { ...(event as unknown as LeadEvent), retryOf: id });
      return;
    }
    const again = { ...event, keys: [`dead-letter:${id}:${d.retries}`], retryOf: id };
    if (d.target.type === 'conversation') {
      await signalConversation(deps.temporal, deps.config, { ...ch, peerId: d.target.peerId }, again as unknown as ConversationEvent);
    } else {
      await signalPublication(deps.temporal, deps.config, ch, d.target.ref as PublicationRef, again as unknown as PublicationCommentEvent);
    }
  }

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid('query');
    const rows = await listDeadLetters(db, { status: q.status, channelId: q.channelId, beforeId: q.before, limit: q.limit });
    const nextBefore = rows.length === q.limit ? String(rows[rows.length - 1]!.id) : undefined;
    return c.json({ items: rows.map(serialize), ...(nextBefore ? { nextBefore } : {}) }, 200);
  });

  app.openapi(retryRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'dead letter');
    const existing = await getDeadLetter(db, id);
    if (!existing) throw notFound('dead letter', id);
    const channel = await getChannel(db, existing.channel_id);
    if (!channel) throw notFound('channel', existing.channel_id);
    const ch = { channelId: String(channel.id), channelKind: channel.kind as ChannelKind, channelExternalId: channel.external_id };

    // Marked first, then handed back: a retry that fails at once sets it `dead` again after this.
    const marked = await markDeadLetterRetrying(db, id);
    if (!marked) throw new ApiError(409, 'already_resolved', 'this dead letter was recorded already');
    try {
      await handBack(marked, ch);
    } catch (err) {
      // Temporal did not take it: nothing will happen, so the letter is dead again (503 follows).
      await restoreDeadLetter(db, id).catch(() => undefined);
      throw err;
    }
    return c.json({ deadLetter: serialize(marked) }, 202);
  });
}
