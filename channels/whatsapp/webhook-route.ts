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
import { z } from '@hono/zod-openapi';
import { secretsEqual } from '../../api/auth.js';
import { errorBody, unauthorized } from '../../api/errors.js';
import { webhookRoute } from '../../api/route-specs.js';
import { jsonBody, textResponse } from '../../api/schemas.js';
import type { Channel } from '../../db/schema.js';
import { findUnstorable } from '../../runtime/storable-text.js';
import type { DeliveryStatusReport, WebhookContext } from '../types.js';
import { verifySignature } from './signature.js';
import { parseWebhook, readWebhookJson, WhatsAppWebhookError } from './webhook.js';

export const WHATSAPP_WEBHOOK_PATH = '/webhooks/whatsapp';

const verifyRoute = webhookRoute({
  method: 'get',
  path: WHATSAPP_WEBHOOK_PATH,
  summary: 'WhatsApp webhook verification (hub.mode=subscribe, hub.verify_token, hub.challenge)',
  request: {
    query: z.object({ 'hub.mode': z.string().optional(), 'hub.verify_token': z.string().optional(), 'hub.challenge': z.string().optional() }),
  },
  ok: textResponse('The challenge, as plain text'),
  errors: [403],
});

const postRoute = webhookRoute({
  method: 'post',
  path: WHATSAPP_WEBHOOK_PATH,
  summary: 'WhatsApp Cloud API events (authenticated by X-Hub-Signature-256 over the raw body)',
  request: {
    headers: z.object({ 'x-hub-signature-256': z.string().openapi({ example: 'sha256=58ca9e…' }) }),
    body: jsonBody(z.object({ object: z.literal('whatsapp_business_account'), entry: z.array(z.unknown()) })),
  },
  ok: { description: 'Everything in the POST was durably accepted' },
  errors: [400, 401, 404, 413, 503],
});

export function registerWhatsAppWebhookRoutes(ctx: WebhookContext): void {
  ctx.app.openAPIRegistry.registerPath(verifyRoute);
  ctx.app.get(WHATSAPP_WEBHOOK_PATH, async (c) => {
    const url = new URL(c.req.url);
    const mode = url.searchParams.get('hub.mode');
    const token = url.searchParams.get('hub.verify_token') ?? '';
    const challenge = url.searchParams.get('hub.challenge') ?? '';
    if (mode === 'subscribe' && token) {
      // A verify token names no channel: one count per address for all of them.
      const attempt = ctx.attempt(c, 'whatsapp-verify');
      const blocked = attempt.blocked();
      if (blocked) return blocked;
      // A token PostgreSQL cannot take (NUL, a lone surrogate) matches no channel: never query with it.
      if (findUnstorable(token) === undefined) {
        const candidates = await ctx.channelsByCredential('verifyToken', token);
        if (candidates.some((ch) => secretsEqual(token, ch.credentials.verifyToken ?? ''))) return c.text(challenge, 200);
      }
      attempt.failed();
    }
    return c.json(errorBody('forbidden', 'verification failed: wrong mode or verify token'), 403);
  });

  ctx.app.openAPIRegistry.registerPath(postRoute);
  ctx.app.post(WHATSAPP_WEBHOOK_PATH, async (c) => {
    const signature = c.req.header('x-hub-signature-256');
    if (!signature) throw unauthorized('missing X-Hub-Signature-256');
    // The signature is over the exact bytes: never re-serialise before checking it.
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const parsed = await ctx.parseBody(async () => readWebhookJson(raw), (body) => parseWebhook(body, { receivedAt: new Date() }), WhatsAppWebhookError);

    const channels = await ctx.channelsByExternalId(parsed.phoneNumberIds);
    if (channels.size === 0) ctx.unknownChannel(`no WhatsApp channel for phone number id ${parsed.phoneNumberIds.join(', ') || '(none)'}`);
    // Every number in the POST must accept the signature with its own app secret.
    const refused = ctx.authenticate(c, [...channels.values()], (ch) => !!ch.credentials.appSecret && verifySignature(raw, signature, ch.credentials.appSecret), {
      status: 401,
      message: 'bad X-Hub-Signature-256',
      result: 'bad_signature',
    });
    if (refused) return refused;

    // Signals to one conversation go one after another (their order is the order the person
    // wrote); different conversations in parallel.
    const perConversation = new Map<string, Array<Extract<(typeof parsed.items)[number], { type: 'conversation' }> & { channel: Channel }>>();
    const reports: Array<{ channel: Channel; report: DeliveryStatusReport }> = [];
    let ignored = 0;
    for (const item of parsed.items) {
      const ch = item.phoneNumberId ? channels.get(item.phoneNumberId) : undefined;
      if (!ch || !ch.active || item.type === 'ignored') {
        if (item.type === 'ignored' && item.detail) ctx.logger.info({ reason: item.reason, detail: item.detail }, 'WhatsApp webhook item ignored');
        ignored++;
      } else if (item.type === 'status') reports.push({ channel: ch, report: { ...item.status, sendKey: item.sendKey ?? item.status.sendKey } });
      else if (ctx.receives(ch, 'messages')) {
        const key = `${ch.id}/${item.peerId}`;
        perConversation.set(key, [...(perConversation.get(key) ?? []), { ...item, channel: ch }]);
      } else ignored++;
    }

    const unavailable = await ctx.handOver(
      c,
      async (to) => {
        const results = await Promise.allSettled([
          ...[...perConversation.values()].map(async (queue) => {
            for (const item of queue) await to.conversation(item.channel, item.peerId, item.event);
          }),
          reports.length ? to.deliveryReports(reports) : Promise.resolve(),
        ]);
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed.length) throw new Error(failed.map((f) => String(f.reason)).slice(0, 3).join('; '));
        return [...perConversation.values()].reduce((n, q) => n + q.length, 0) + reports.length;
      },
      { message: 'not everything could be accepted; retry later', log: {} },
    );
    if (unavailable) return unavailable;
    if (ignored) ctx.count('ignored', ignored);
    return c.body(null, 200);
  });
}
