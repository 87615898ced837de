/**
 * Rules 22–24 over HTTP: bulk sends (every message a broadcast, no task until the reply) and the
 * list of broadcast messages with their state.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/common';
import { readBulkProgress } from '../../db/queries/broadcasts.js';
import { channelDefinition, channelDefinitions } from '../../channels/index.js';
import { channelKey } from '../../channels/workflow-ids.js';
import { getChannel } from '../../db/queries/channels.js';
import type { BroadcastStatus } from '../../db/schema.js';
import { bulkSend, type BulkSendInput } from '../../workflows/bulk-send.js';
import { bulkSendWorkflowId } from '../../workflows/shared/temporal.js';
import { requireRole } from '../auth.js';
import { conversationTiming, SIGNAL_DEADLINE_MS } from '../conversations.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, isTemporalUnreachable, notFound, parseId } from '../errors.js';
import { idempotencyKeyOf } from '../idempotency.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IdParams, IsoTime, jsonBody, jsonResponse, unionOf } from '../schemas.js';
import { recipientPeer } from '../recipients.js';

/** The most recipients one bulk send takes (the body limit, MAX_API_BODY_BYTES, applies too). */
export const MAX_BULK_RECIPIENTS = 100_000;

/** Any channel's recipient (`{vkUserId}`, `{phone}`, …); the channel's own kind is checked in the handler. */
const RecipientSchema = unionOf(channelDefinitions().map((d) => d.recipient.schema));

const BulkSendBody = z
  .object({
    recipients: z.array(RecipientSchema).min(1).max(MAX_BULK_RECIPIENTS),
    text: z.string().trim().min(1).max(4096).optional(),
    template: z
      .object({
        name: z.string().trim().min(1).max(512),
        language: z.string().trim().min(2).max(15).openapi({ example: 'ru' }),
        parameters: z.array(z.string().max(1024)).max(50).optional(),
      })
      .optional(),
  })
  .openapi('BulkSendRequest');

const BulkSendSchema = z
  .object({
    id: z.string(),
    total: z.number().int(),
    sent: z.number().int(),
    failed: z.number().int(),
    status: z.enum(['running', 'done']),
  })
  .openapi('BulkSend');

const BroadcastSchema = z
  .object({
    id: z.string(),
    channelId: z.string(),
    contactId: z.string(),
    text: z.string(),
    sentAt: IsoTime,
    expiresAt: IsoTime.nullable(),
    status: z.enum(['held', 'attached', 'expired']),
    bulkSendId: z.string().optional(),
    commentId: z.string().optional(),
  })
  .openapi('Broadcast');

const createBulkSendRoute = createRoute({
  method: 'post',
  path: '/api/channels/{id}/bulk-sends',
  tags: ['broadcasts'],
  summary: 'Send one message to many people (owner/admin); every message is a held broadcast (rules 22–23)',
  description:
    `Recipients are ${channelDefinitions().map((d) => `\`${d.recipient.shape}\` for ${d.label}`).join(', ')}; duplicates are sent once. ` +
    'Channels with approved templates (WhatsApp) need a `template` for people outside the reply window (they fail otherwise). ' +
    'The job runs as the Temporal workflow `bulk-send/<task queue>/<id>` through the channel\'s rate-limited queue; nobody gets the message twice, even across restarts. ' +
    'A request repeated with the same `Idempotency-Key` returns the first job (and starts it if Temporal did not confirm its start the first time). ' +
    '503 with `details.bulkSendId`: the job is recorded but Temporal did not confirm its start — retry with the same Idempotency-Key (the `Idempotency-Key` header of the answer when you sent none): it is started once, never twice.',
  security: bearerSecurity,
  middleware: [requireRole('owner', 'admin')] as const,
  request: { params: IdParams, headers: idempotencyHeader, body: jsonBody(BulkSendBody) },
  responses: {
    202: jsonResponse(z.object({ id: z.string(), total: z.number().int() }), 'The job is accepted; follow it with GET /api/bulk-sends/{id}'),
    ...errorResponses(400, 401, 403, 404, 413, 415, 422, 503),
  },
});

const getBulkSendRoute = createRoute({
  method: 'get',
  path: '/api/bulk-sends/{id}',
  tags: ['broadcasts'],
  summary: 'Progress of a bulk send',
  security: bearerSecurity,
  request: { params: IdParams },
  responses: { 200: jsonResponse(BulkSendSchema, 'Counts so far'), ...errorResponses(401, 404, 503) },
});

const listBroadcastsRoute = createRoute({
  method: 'get',
  path: '/api/broadcasts',
  tags: ['broadcasts'],
  summary: 'Broadcast messages: held until the reply, attached to a task, or expired (rules 22–23)',
  description: 'Newest first. `before` (an id) pages further back.',
  security: bearerSecurity,
  request: {
    query: z.object({
      channelId: z.string().regex(/^[1-9]\d{0,17}$/).optional(),
      status: z.enum(['held', 'attached', 'expired']).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      before: z.string().regex(/^[1-9]\d{0,17}$/).optional(),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ items: z.array(BroadcastSchema), nextBefore: z.string().optional() }), 'Broadcast messages'),
    ...errorResponses(400, 401, 503),
  },
});

export function registerBroadcastRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  /** true / false when Temporal says; undefined when it cannot be asked. */
  async function workflowExists(workflowId: string): Promise<boolean | undefined> {
    try {
      await deps.temporal.withDeadline(Date.now() + 2_000, () => deps.temporal.workflow.getHandle(workflowId).describe());
      return true;
    } catch (err) {
      return err instanceof WorkflowNotFoundError ? false : undefined;
    }
  }

  /** Deletes a job whose workflow was never started (a few tries: the database may blink). */
  async function forgetJob(id: string): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await deps.db.transaction().execute(async (tx) => {
          await tx.deleteFrom('bulk_send_recipients').where('bulk_send_id', '=', id).execute();
          await tx.deleteFrom('bulk_sends').where('id', '=', id).execute();
        });
        return true;
      } catch (err) {
        deps.logger.warn({ err, bulkSendId: id }, 'bulk send: could not delete the job that was not started');
        await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
      }
    }
    return false;
  }

  app.openapi(createBulkSendRoute, async (c) => {
    const channelId = parseId(c.req.valid('param').id, 'channel');
    const body = c.req.valid('json');
    const channel = await getChannel(deps.db, channelId);
    if (!channel) throw notFound('channel', channelId);
    if (!channel.active) throw new ApiError(422, 'channel_inactive', 'the channel is deactivated');
    if (!body.text && !body.template) throw badRequest('text', 'give text or template');
    if (body.text && body.template) throw badRequest('template', 'give text or template, not both');
    const def = channelDefinition(channel.kind);
    if (body.template && !def.capabilities.templates) throw badRequest('template', `${def.label} has no template messages`);

    const peers = new Set(body.recipients.map((r, i) => recipientPeer(def, r, `recipients.${i}`)));

    // The job is found again by its request: a retry whose first attempt recorded the job but could
    // not answer (crash, Temporal) starts that job instead of a second one.
    const requestKey = `${c.get('employee').id}:${idempotencyKeyOf(c)}`;
    const job = await deps.db.transaction().execute(async (tx) => {
      const existing = await tx.selectFrom('bulk_sends').select(['id', 'total']).where('request_key', '=', requestKey).executeTakeFirst();
      if (existing) return { ...existing, fresh: false };
      const row = await tx
        .insertInto('bulk_sends')
        .values({
          channel_id: channel.id,
          created_by: c.get('employee').id,
          text: body.text ?? '',
          template: body.template ? JSON.stringify(body.template) : null,
          total: peers.size,
          status: 'running',
          request_key: requestKey,
        })
        .returning(['id', 'total'])
        .executeTakeFirstOrThrow();
      const all = [...peers];
      for (let i = 0; i < all.length; i += 1000) {
        await tx
          .insertInto('bulk_send_recipients')
          .values(all.slice(i, i + 1000).map((peer) => ({ bulk_send_id: row.id, channel_id: channel.id, peer_id: peer, status: 'pending' as const })))
          .execute();
      }
      return { ...row, fresh: true };
    });

    const input: BulkSendInput = {
      bulkSendId: job.id,
      channelKind: channel.kind,
      total: job.total,
      conversation: {
        taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
        channelExternalId: channel.external_id,
        timing: conversationTiming(deps.config, channel.kind),
      },
    };
    const workflowId = bulkSendWorkflowId(deps.config.TEMPORAL_TASK_QUEUE, job.id);
    try {
      await deps.temporal.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
        deps.temporal.workflow.start(bulkSend, {
          workflowId,
          taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          staticSummary: `bulk send ${job.id}: ${job.total} recipient(s) on ${channelKey(channel.kind, channel.external_id)}`,
        }),
      );
    } catch (err) {
      // Nothing may be sent without the answer saying so, and no job may be left that never runs.
      const exists = await workflowExists(workflowId);
      if (exists) return c.json({ id: job.id, total: job.total }, 202);
      // Surely not started: nothing was sent, and nothing is left behind.
      if ((exists === false || isTemporalUnreachable(err)) && (await forgetJob(job.id))) throw err;
      deps.logger.warn({ err, bulkSendId: job.id }, 'bulk send recorded, its start not confirmed');
      throw new ApiError(503, 'unavailable', `bulk send ${job.id} is recorded but Temporal did not confirm its start: retry with the same Idempotency-Key — it is started once, never twice`, {
        bulkSendId: job.id,
        idempotencyKey: idempotencyKeyOf(c),
      });
    }
    return c.json({ id: job.id, total: job.total }, 202);
  });

  app.openapi(getBulkSendRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'bulk send');
    const job = await deps.db.selectFrom('bulk_sends').select(['id', 'status']).where('id', '=', id).executeTakeFirst();
    if (!job) throw notFound('bulk send', id);
    const p = await readBulkProgress(deps.db, id);
    return c.json({ id: job.id, total: p.total, sent: p.sent, failed: p.failed, status: job.status }, 200);
  });

  app.openapi(listBroadcastsRoute, async (c) => {
    const q = c.req.valid('query');
    let query = deps.db
      .selectFrom('broadcasts')
      .select(['id', 'channel_id', 'contact_id', 'text', 'sent_at', 'expires_at', 'status', 'bulk_send_id', 'comment_id'])
      .where('is_broadcast', '=', true)
      .where('status', 'in', q.status ? [q.status] : (['held', 'attached', 'expired'] satisfies BroadcastStatus[]))
      .orderBy('id', 'desc')
      .limit(q.limit);
    if (q.channelId) query = query.where('channel_id', '=', q.channelId);
    if (q.before) query = query.where('id', '<', q.before);
    const rows = await query.execute();
    return c.json(
      {
        items: rows.map((r) => ({
          id: r.id,
          channelId: r.channel_id,
          contactId: r.contact_id,
          text: r.text,
          sentAt: r.sent_at.toISOString(),
          expiresAt: r.expires_at?.toISOString() ?? null,
          status: r.status as 'held' | 'attached' | 'expired',
          ...(r.bulk_send_id ? { bulkSendId: r.bulk_send_id } : {}),
          ...(r.comment_id ? { commentId: r.comment_id } : {}),
        })),
        ...(rows.length === q.limit ? { nextBefore: rows[rows.length - 1]!.id } : {}),
      },
      200,
    );
  });
}
