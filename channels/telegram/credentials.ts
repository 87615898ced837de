/**
 * A Telegram channel's secrets: the bot token (from @BotFather; it is also part of every API URL,
 * so it must never reach a log or an error message) and the webhook secret token Telegram sends
 * back in `X-Telegram-Bot-Api-Secret-Token` on every delivery (shared/reference/telegram-bot-api.md,
 * "Webhook"). Payloads are not signed: the header, compared in constant time, is the only proof.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { secretsEqual } from '../../api/auth.js';

/** The header Telegram puts the channel's secret token in. */
export const TELEGRAM_SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/** `<bot id>:<secret>` as @BotFather issues it; nothing that could break out of a URL path segment. */
export const botTokenSchema = z
  .string()
  .trim()
  .regex(/^\d{1,20}:[A-Za-z0-9_-]{20,200}$/, 'a bot token from @BotFather looks like 123456789:AAE…');

/** setWebhook `secret_token`: 1–256 characters `A-Z a-z 0-9 _ -`. */
export const secretTokenSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,256}$/, '1–256 characters A-Z, a-z, 0-9, _ and -');

export const telegramCredentialsSchema = z.object({
  kind: z.literal('telegram'),
  botToken: botTokenSchema,
  secretToken: secretTokenSchema,
});

export type TelegramCredentials = z.infer<typeof telegramCredentialsSchema>;

/** A fresh webhook secret: 256 random bits as 43 base64url characters (all in the allowed alphabet). */
export function generateSecretToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The bot's own user id: the part of the token before the colon (names the conversation workflows). */
export function botIdFromToken(botToken: string): string {
  const id = botToken.split(':', 1)[0] ?? '';
  if (!/^\d+$/.test(id)) throw new Error('not a bot token');
  return id;
}

/** Does the webhook header equal the channel's secret? (constant time: `secretsEqual`, as the other webhooks) */
export function verifyWebhookSecret(header: string | string[] | null | undefined, channelSecret: string): boolean {
  return typeof header === 'string' && header !== '' && channelSecret !== '' && secretsEqual(header, channelSecret);
}
