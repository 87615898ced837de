/**
 * POST /webhooks/telegram/:channelId: one Bot API `Update` per delivery, authenticated by the
 * channel's secret token in `X-Telegram-Bot-Api-Secret-Token` (payloads are not signed). The
 * update's events go to the conversation of its private chat; `update_id` (in the event's keys)
 * makes a redelivery a no-op.
 *
 * Telegram redelivers an update that was not answered 2xx for up to 24 hours and holds the bot's
 * later updates meanwhile, so an authenticated update taskwire cannot read is answered 200 and
 * logged (counted `ignored`): a 400 would stop every conversation of the bot behind it. Only when
 * Temporal does not take the event is the answer 503, so that Telegram delivers it again.
 */
import { z } from '@hono/zod-openapi';
import { unauthorized } from '../../api/errors.js';
import { webhookRoute } from '../../api/route-specs.js';
import { jsonBody } from '../../api/schemas.js';
import type { WebhookContext } from '../types.js';
import { TELEGRAM_SECRET_HEADER, verifyWebhookSecret } from './credentials.js';
import { parseUpdate, TelegramUpdateError, type TelegramUpdateItem } from './updates.js';

export const TELEGRAM_WEBHOOK_PATH = '/webhooks/telegram/{channelId}';

export function telegramWebhookPath(channel: { id: string }): string {
  return `/webhooks/telegram/${channel.id}`;
}

const updateRoute = webhookRoute({
  method: 'post',
  path: TELEGRAM_WEBHOOK_PATH,
  summary: 'Telegram Bot API updates (authenticated by X-Telegram-Bot-Api-Secret-Token)',
  request: {
    params: z.object({ channelId: z.string().openapi({ example: '12' }) }),
    headers: z.object({ [TELEGRAM_SECRET_HEADER]: z.string().openapi({ description: "The channel's secret token" }) }),
    body: jsonBody(z.object({ update_id: z.number().int() }).passthrough()),
  },
  ok: { description: 'The update was accepted (or, authenticated but unreadable, logged and dropped)' },
  errors: [400, 401, 404, 413, 503],
});

export function registerTelegramWebhookRoutes(ctx: WebhookContext): void {
  ctx.app.openAPIRegistry.registerPath(updateRoute);
  ctx.app.post('/webhooks/telegram/:channelId', async (c) => {
    const channelId = c.req.param('channelId');
    const channel = /^[1-9]\d{0,17}$/.test(channelId) ? await ctx.channelById(channelId) : undefined;
    if (!channel) ctx.unknownChannel(`no Telegram channel ${channelId.slice(0, 40)}`);
    const header = c.req.header(TELEGRAM_SECRET_HEADER);
    // No credential presented is not a guess: refused without counting towards the throttle.
    if (!header) throw unauthorized(`missing ${TELEGRAM_SECRET_HEADER}`);
    const secret = channel.credentials.secretToken ?? '';
    const refused = ctx.authenticate(c, [channel], () => verifyWebhookSecret(header, secret), {
      status: 401,
      message: `missing or wrong ${TELEGRAM_SECRET_HEADER}`,
      result: 'bad_secret',
    });
    if (refused) return refused;

    // Not JSON at all is no update Telegram sent: 400. Anything else that cannot be read is dropped.
    const item = await ctx.parseBody(async () => JSON.parse(await c.req.text()), (body) => readUpdate(body), TelegramUpdateError);
    if ('unreadable' in item) {
      ctx.logger.warn({ channelId: channel.id, field: item.unreadable.field, reason: item.unreadable.message }, 'Telegram update could not be read; answered 200 so the bot\'s later updates are not held');
      ctx.count('ignored');
      return c.body(null, 200);
    }
    if (!channel.active || item.type === 'ignored' || !ctx.receives(channel, 'messages')) {
      if (item.type === 'ignored') ctx.logger.debug({ channelId: channel.id, reason: item.reason, detail: item.detail }, 'Telegram update ignored');
      ctx.count('ignored');
      return c.body(null, 200);
    }
    const unavailable = await ctx.handOver(
      c,
      async (to) => {
        await to.conversation(channel, item.peerId, item.event);
        return 1;
      },
      { message: 'Temporal is unavailable; retry later', details: { service: 'temporal' }, log: { channelId: channel.id, updateId: item.updateId } },
    );
    return unavailable ?? c.body(null, 200);
  });
}

/** The update's item, or why it cannot be read (an authenticated update is never refused). */
function readUpdate(body: unknown): TelegramUpdateItem | { unreadable: TelegramUpdateError } {
  try {
    return parseUpdate(body, { receivedAt: new Date() });
  } catch (err) {
    if (err instanceof TelegramUpdateError) return { unreadable: err };
    throw err;
  }
}
