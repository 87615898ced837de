/** Telegram bots (Bot API): everything taskwire knows about Telegram outside this folder comes from here. */
import { z as zo } from '@hono/zod-openapi';
import { z } from 'zod';
import { ChannelCredentialsRefused, ChannelPermanentError, type ChannelDefinition } from '../types.js';
import { createTelegramAdapter } from './adapter.js';
import { DEFAULT_TELEGRAM_API_BASE_URL, TelegramApiClient } from './api-client.js';
import { telegramCapabilities } from './capabilities.js';
import { botIdFromToken, botTokenSchema, generateSecretToken, secretTokenSchema, telegramCredentialsSchema } from './credentials.js';
import { registerTelegramWebhookRoutes, telegramWebhookPath } from './webhook-route.js';

const config = z.object({
  TELEGRAM_API_BASE_URL: z.string().url().default(DEFAULT_TELEGRAM_API_BASE_URL),
  // About 30 messages a second per bot overall; 25 leaves room for edits and file look-ups.
  TELEGRAM_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(25),
});
type TelegramEnv = z.output<typeof config>;

const create = zo.object({
  botToken: botTokenSchema.openapi({ description: 'Bot token from @BotFather (write-only)', example: '123456789:AAE…' }),
  secretToken: secretTokenSchema.optional().openapi({ description: 'Webhook secret token (write-only); generated when not given' }),
});

/** The update kinds taskwire reads (setWebhook `allowed_updates`). */
const ALLOWED_UPDATES = ['message', 'edited_message', 'my_chat_member'];

function api(env: TelegramEnv, botToken: string): TelegramApiClient {
  return new TelegramApiClient({ baseUrl: env.TELEGRAM_API_BASE_URL, botToken });
}

/** A refused token is the caller's mistake (422); anything else (Telegram down) is not. */
async function asCredentialsRefused<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ChannelPermanentError) throw new ChannelCredentialsRefused(`Telegram refused the bot token: ${err.channelMessage}`, 'botToken');
    throw err;
  }
}

export const telegramChannel: ChannelDefinition<typeof config.shape, typeof create.shape> = {
  kind: 'telegram',
  label: 'Telegram',
  schemaName: 'Telegram',
  workflowKey: 'tg',
  placeholderName: (peerId) => `Telegram user ${peerId}`,
  capabilities: telegramCapabilities,

  config,
  rateLimitPerSecond: (env) => env.TELEGRAM_RATE_LIMIT_PER_SECOND,
  createAdapter: (env, media) => createTelegramAdapter({ baseUrl: env.TELEGRAM_API_BASE_URL, media }),

  credentials: {
    create,
    rotatable: {},
    shown: { botId: zo.string().openapi({ description: "Telegram: the bot's user id" }), botUsername: zo.string().optional() },
    externalIdField: 'botId',
    // getMe proves the token before anything is stored; the bot's id names its conversations.
    prepare: async (body, { env }) => {
      const me = await asCredentialsRefused(() => api(env, body.botToken).getMe());
      const botId = String(me.id);
      if (botId !== botIdFromToken(body.botToken)) throw new ChannelCredentialsRefused('getMe answered for another bot than the token names', 'botToken');
      return {
        externalId: botId,
        credentials: { kind: 'telegram', botToken: body.botToken, secretToken: body.secretToken ?? generateSecretToken(), ...(me.username ? { botUsername: me.username } : {}) },
      };
    },
    // The webhook URL names the channel, so it is set once the row has its id (refused: rolled back).
    afterCreate: async (channel, { env, webhookUrl }) => {
      const creds = telegramCredentialsSchema.parse(channel.credentials);
      await asCredentialsRefused(() =>
        api(env, creds.botToken).setWebhook({ url: webhookUrl, secret_token: creds.secretToken, allowed_updates: ALLOWED_UPDATES }),
      );
    },
    show: (channel) => ({ botId: channel.external_id, ...(channel.credentials.botUsername ? { botUsername: channel.credentials.botUsername } : {}) }),
  },

  recipient: {
    schema: zo
      .object({ telegramUserId: zo.union([zo.number().int().positive(), zo.string().regex(/^[1-9]\d{0,19}$/)]).openapi({ example: 552301 }) })
      .strict(),
    shape: '{telegramUserId}',
    peerId: (r) => ({ peerId: String((r as { telegramUserId: number | string }).telegramUserId) }),
  },

  webhook: { path: telegramWebhookPath, register: registerTelegramWebhookRoutes },
};
