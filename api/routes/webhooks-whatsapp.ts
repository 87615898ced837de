/**
 * WhatsApp Cloud API webhook. One POST may carry several numbers, messages, echoes and statuses:
 * every one is handed over (messages and echoes to their conversation workflows, delivery
 * statuses straight to the database) before the answer is 200. If anything could not be
 * accepted the answer is 503 and Meta redelivers the whole POST; what was accepted the first
 * time is recognised and not recorded twice.
 *
 * Delivery statuses do not go through Temporal: they are 2–3 per outbound message, need no
 * ordering or decision (a monotonic, idempotent update), and a signal would cost a workflow
 * task and history events each. See docs/design.md.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { verifySignature } from '../../channels/whatsapp/signature.js';
import { parseWebhook, readWebhookJson, WhatsAppWebhookError } from '../../channels/whatsapp/webhook.js';
import { findChannelByExternalId, findWhatsAppChannelsByVerifyToken, mergeChannelSettings } from '../../db/queries/channels.js';
import { recordDeliveryReport } from '../../db/queries/deliveries.js';
import type { Channel } from '../../db/schema.js';
import { signalConversation } from '../conversations.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, errorBody, malformedJson, unauthorized } from '../errors.js';
import { metrics } from '../metrics.js';
import { errorResponses } from '../schemas.js';
import { secretsEqual } from '../auth.js';
import type { AuthGuard } from '../auth-throttle.js';
import { findUnstorable } from '../../runtime/storable-text.js';

const verifyRoute = createRoute({
  method: 'get',
  path: '/webhooks/whatsapp',
  tags: ['webhooks'],
  summary: 'WhatsApp webhook verification (hub.mode=subscribe, hub.verify_token, hub.challenge)',
  request: {
    query: z.object({ 'hub.mode': z.string().optional(), 'hub.verify_token': z.string().optional(), 'hub.challenge': z.string().optional() }),
  },
  responses: {
    200: { description: 'The challenge, as plain text', content: { 'text/plain': { schema: z.string() } } },
    ...errorResponses(403),
  },
});

const postRoute = createRoute({
  method: 'post',
  path: '/webhooks/whatsapp',
  tags: ['webhooks'],
  summary: 'WhatsApp Cloud API events (authenticated by X-Hub-Signature-256 over the raw body)',
  request: {
    headers: z.object({ 'x-hub-signature-256': z.string().openapi({ example: 'sha256=58ca9e…' }) }),
    body: { content: { 'application/json': { schema: z.object({ object: z.literal('whatsapp_business_account'), entry: z.array(z.unknown()) }) } }, required: true },
  },
  responses: {
    200: { description: 'Everything in the POST was durably accepted' },
    ...errorResponses(400, 401, 404, 413, 503),
  },
});

export function registerWhatsAppWebhookRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  app.openAPIRegistry.registerPath(verifyRoute);
  app.get('/webhooks/whatsapp', async (c) => {
    const url = new URL(c.req.url);
    const mode = url.searchParams.get('hub.mode');
    const token = url.searchParams.get('hub.verify_token') ?? '';
    const challenge = url.searchParams.get('hub.challenge') ?? '';
    if (mode === 'subscribe' && token) {
      // A verify token names no channel: one count per address for all of them.
      const attempt = guard.attempt(c, 'whatsapp-verify', 'webhook_secret');
      const blocked = attempt.blocked();
      if (blocked) return blocked;
      // A token PostgreSQL cannot take (NUL, a lone surrogate) matches no channel: never query with it.
      if (findUnstorable(token) === undefined) {
        const candidates = await findWhatsAppChannelsByVerifyToken(deps.db, token);
        const match = candidates.some((ch) => ch.credentials.kind === 'whatsapp' && secretsEqual(token, ch.credentials.verifyToken));
        if (match) return c.text(challenge, 200);
      }
      attempt.failed();
    }
    return c.json(errorBody('forbidden', 'verification failed: wrong mode or verify token'), 403);
  });

  app.openAPIRegistry.registerPath(postRoute);
  app.post('/webhooks/whatsapp', async (c) => {
    const signature = c.req.header('x-hub-signature-256');
    if (!signature) throw unauthorized('missing X-Hub-Signature-256');
    // The signature is over the exact bytes: never re-serialise before checking it.
    const raw = new Uint8Array(await c.req.arrayBuffer());
    let body: unknown;
    try {
      body = readWebhookJson(raw);
    } catch {
      throw malformedJson();
    }
    let parsed;
    try {
      parsed = parseWebhook(body, { receivedAt: new Date() });
    } catch (err) {
      if (err instanceof WhatsAppWebhookError) throw badRequest(err.field ?? 'body', err.message);
      throw err;
    }

    const channels = new Map<string, Channel>();
    for (const pnid of parsed.phoneNumberIds) {
      const ch = await findChannelByExternalId(deps.db, 'whatsapp', pnid);
      if (ch) channels.set(pnid, ch);
    }
    if (channels.size === 0) {
      metrics.webhookEvents.inc({ channel: 'whatsapp', result: 'unknown_channel' });
      throw new ApiError(404, 'unknown_channel', `no WhatsApp channel for phone number id ${parsed.phoneNumberIds.join(', ') || '(none)'}`);
    }
    // Counted per channel, like VK: a number misconfigured at Meta must not block the others.
    const attempts = [...channels.values()].map((ch) => ({ ch, attempt: guard.attempt(c, `whatsapp:${ch.id}`, 'webhook_secret') }));
    for (const { attempt } of attempts) {
      const blocked = attempt.blocked();
      if (blocked) {
        metrics.webhookEvents.inc({ channel: 'whatsapp', result: 'throttled' });
        return blocked;
      }
    }
    // Every number in the POST must accept the signature with its own app secret.
    for (const { ch, attempt } of attempts) {
      if (ch.credentials.kind !== 'whatsapp' || !verifySignature(raw, signature, ch.credentials.appSecret)) {
        attempt.failed();
        metrics.webhookEvents.inc({ channel: 'whatsapp', result: 'bad_signature' });
        deps.logger.warn({ channelId: ch.id }, 'WhatsApp webhook with a bad signature refused');
        throw unauthorized('bad X-Hub-Signature-256');
      }
    }

    // Signals to one conversation go one after another (their order is the order the person
    // wrote); different conversations in parallel.
    const perConversation = new Map<string, Array<() => Promise<void>>>();
    const statuses: Array<{ channel: Channel; item: Extract<(typeof parsed.items)[number], { type: 'status' }> }> = [];
    let ignored = 0;
    for (const item of parsed.items) {
      const ch = item.phoneNumberId ? channels.get(item.phoneNumberId) : undefined;
      if (!ch || !ch.active || item.type === 'ignored') {
        if (item.type === 'ignored' && item.detail) deps.logger.info({ reason: item.reason, detail: item.detail }, 'WhatsApp webhook item ignored');
        ignored++;
        continue;
      }
      if (item.type === 'status') statuses.push({ channel: ch, item });
      else if (mergeChannelSettings(ch.settings).receive.messages) {
        const key = `${ch.id}/${item.peerId}`;
        const queue = perConversation.get(key) ?? [];
        queue.push(() =>
          signalConversation(deps.temporal, deps.config, { channelId: ch.id, channelKind: 'whatsapp', channelExternalId: ch.external_id, peerId: item.peerId }, item.event),
        );
        perConversation.set(key, queue);
      } else ignored++;
    }

    const signals = [...perConversation.values()].map(async (queue) => {
      for (const send of queue) await send();
    });
    const signalled = [...perConversation.values()].reduce((n, q) => n + q.length, 0);
    const results = await Promise.allSettled([
      ...signals,
      statuses.length
        ? deps.db.transaction().execute(async (tx) => {
            for (const { channel, item } of statuses) await recordDeliveryReport(tx, channel.id, { ...item.status, sendKey: item.sendKey ?? item.status.sendKey });
          })
        : Promise.resolve(),
    ]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length) {
      metrics.webhookEvents.inc({ channel: 'whatsapp', result: 'unavailable' });
      deps.logger.error({ failures: failed.map((f) => String(f.reason)).slice(0, 3) }, 'WhatsApp webhook not fully accepted; Meta will retry');
      return c.json(errorBody('unavailable', 'not everything could be accepted; retry later'), 503);
    }
    metrics.webhookEvents.inc({ channel: 'whatsapp', result: 'accepted' }, signalled + statuses.length);
    if (ignored) metrics.webhookEvents.inc({ channel: 'whatsapp', result: 'ignored' }, ignored);
    return c.body(null, 200);
  });
}
