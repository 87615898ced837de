/**
 * Channel webhooks. They answer fast: verify, hand the event to Temporal, answer. `ok` means
 * Temporal durably accepted the signal; when it can't be reached the answer is 503 and the
 * channel retries (the workflow de-duplicates the redelivery).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { findChannelByExternalId, mergeChannelSettings } from '../../db/queries/channels.js';
import { parseVkCallback, VkCallbackError } from '../../channels/vk/callback.js';
import type { Channel } from '../../db/schema.js';
import { signalConversation, signalPublication, startLead } from '../conversations.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, errorBody, malformedJson } from '../errors.js';
import { secretsEqual } from '../auth.js';
import type { AuthGuard } from '../auth-throttle.js';
import { metrics } from '../metrics.js';
import { registerWhatsAppWebhookRoutes } from './webhooks-whatsapp.js';
import { errorResponses } from '../schemas.js';


const vkRoute = createRoute({
  method: 'post',
  path: '/webhooks/vk',
  tags: ['webhooks'],
  summary: 'VK Callback API (authenticated by the channel secret in the body)',
  request: { body: { content: { 'application/json': { schema: z.object({ type: z.string(), group_id: z.number() }).passthrough() } }, required: true } },
  responses: {
    200: { description: '`ok`, or the confirmation string for `confirmation`', content: { 'text/plain': { schema: z.string() } } },
    ...errorResponses(400, 403, 404, 413, 503),
  },
});

/** `guard` limits wrong secrets / signatures per client address and channel (api/auth-throttle.ts). */
export function registerWebhookRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  registerVkWebhookRoutes(app, deps, guard);
  registerWhatsAppWebhookRoutes(app, deps, guard);
}

function registerVkWebhookRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  // Registered with app.post (not app.openapi) so the raw body is parsed here: VK's Content-Type
  // is not guaranteed, and a bad body must be a 400 in the contract's shape.
  app.openAPIRegistry.registerPath(vkRoute);
  app.post('/webhooks/vk', async (c) => {
    const raw = await c.req.text();
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw malformedJson();
    }
    let parsed;
    try {
      parsed = parseVkCallback(body, { receivedAt: new Date() });
    } catch (err) {
      if (err instanceof VkCallbackError) throw badRequest(err.field ?? 'body', err.message);
      throw err;
    }

    const channel = await findChannelByExternalId(deps.db, 'vk', String(parsed.groupId));
    if (!channel) {
      metrics.webhookEvents.inc({ channel: 'vk', result: 'unknown_channel' });
      throw new ApiError(404, 'unknown_channel', `no VK channel for group ${parsed.groupId}`);
    }
    // Counted per channel: a channel misconfigured at VK must not block the others' deliveries.
    const attempt = guard.attempt(c, `vk:${channel.id}`, 'webhook_secret');
    const blocked = attempt.blocked();
    if (blocked) {
      metrics.webhookEvents.inc({ channel: 'vk', result: 'throttled' });
      return blocked;
    }
    const creds = channel.credentials;
    if (creds.kind !== 'vk' || !secretsEqual(parsed.secret, creds.secret)) {
      attempt.failed();
      metrics.webhookEvents.inc({ channel: 'vk', result: 'bad_secret' });
      deps.logger.warn({ channelId: channel.id }, 'VK webhook with a wrong secret refused');
      throw new ApiError(403, 'forbidden', 'wrong secret');
    }
    if (parsed.type === 'confirmation') {
      return c.text(creds.confirmationCode, 200);
    }
    if (!channel.active || parsed.type === 'ignored' || !receives(channel, parsed.receiveKind)) {
      metrics.webhookEvents.inc({ channel: 'vk', result: 'ignored' });
      return c.text('ok', 200);
    }
    const ch = { channelId: channel.id, channelKind: 'vk' as const, channelExternalId: channel.external_id };
    try {
      if (parsed.type === 'conversation') await signalConversation(deps.temporal, deps.config, { ...ch, peerId: parsed.peerId }, parsed.event);
      else if (parsed.type === 'publication') await signalPublication(deps.temporal, deps.config, ch, parsed.publication, parsed.event);
      else await startLead(deps.temporal, deps.config, ch, parsed.lead);
    } catch (err) {
      metrics.webhookEvents.inc({ channel: 'vk', result: 'unavailable' });
      deps.logger.error({ err: errText(err), channelId: channel.id, eventId: parsed.eventId }, 'VK event not accepted by Temporal; VK will retry');
      // Whatever the reason, nothing was accepted: 503 makes VK deliver the event again.
      return c.json(errorBody('unavailable', 'Temporal is unavailable; retry later', { service: 'temporal' }), 503);
    }
    metrics.webhookEvents.inc({ channel: 'vk', result: 'accepted' });
    return c.text('ok', 200);
  });
}

function receives(channel: Channel, kind: keyof Channel['settings']['receive'] | undefined): boolean {
  if (!kind) return true;
  return mergeChannelSettings(channel.settings).receive[kind] !== false;
}

function errText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
