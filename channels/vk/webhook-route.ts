/**
 * POST /webhooks/vk: the VK Callback API, authenticated by the channel's secret in the body. The
 * community answers `confirmation` with its confirmation string; every other event goes to its
 * conversation, publication or lead workflow (api/routes/webhooks.ts gives the hand-over).
 */
import { z } from '@hono/zod-openapi';
import { secretsEqual } from '../../api/auth.js';
import { webhookRoute } from '../../api/route-specs.js';
import { jsonBody, textResponse } from '../../api/schemas.js';
import type { WebhookContext } from '../types.js';
import { parseVkCallback, VkCallbackError } from './callback.js';

export const VK_WEBHOOK_PATH = '/webhooks/vk';

const vkRoute = webhookRoute({
  method: 'post',
  path: VK_WEBHOOK_PATH,
  summary: 'VK Callback API (authenticated by the channel secret in the body)',
  request: { body: jsonBody(z.object({ type: z.string(), group_id: z.number() }).passthrough()) },
  ok: textResponse('`ok`, or the confirmation string for `confirmation`'),
  errors: [400, 403, 404, 413, 503],
});

export function registerVkWebhookRoutes(ctx: WebhookContext): void {
  // Registered with app.post (not app.openapi) so the raw body is parsed here: VK's Content-Type
  // is not guaranteed, and a bad body must be a 400 in the contract's shape.
  ctx.app.openAPIRegistry.registerPath(vkRoute);
  ctx.app.post(VK_WEBHOOK_PATH, async (c) => {
    const parsed = await ctx.parseBody(async () => JSON.parse(await c.req.text()), (body) => parseVkCallback(body, { receivedAt: new Date() }), VkCallbackError);

    const channel = (await ctx.channelsByExternalId([String(parsed.groupId)])).get(String(parsed.groupId));
    if (!channel) ctx.unknownChannel(`no VK channel for group ${parsed.groupId}`);
    const secret = parsed.secret;
    const refused = ctx.authenticate(c, [channel], (ch) => !!ch.credentials.secret && secretsEqual(secret, ch.credentials.secret), {
      status: 403,
      message: 'wrong secret',
      result: 'bad_secret',
    });
    if (refused) return refused;
    if (parsed.type === 'confirmation') return c.text(channel.credentials.confirmationCode ?? '', 200);
    if (!channel.active || parsed.type === 'ignored' || !ctx.receives(channel, parsed.receiveKind)) {
      ctx.count('ignored');
      return c.text('ok', 200);
    }
    const unavailable = await ctx.handOver(
      c,
      async (to) => {
        if (parsed.type === 'conversation') await to.conversation(channel, parsed.peerId, parsed.event);
        else if (parsed.type === 'publication') await to.publication(channel, parsed.publication, parsed.event);
        else await to.lead(channel, parsed.lead);
        return 1;
      },
      // Whatever the reason, nothing was accepted: 503 makes VK deliver the event again.
      { message: 'Temporal is unavailable; retry later', details: { service: 'temporal' }, log: { channelId: channel.id, eventId: parsed.eventId } },
    );
    return unavailable ?? c.text('ok', 200);
  });
}

