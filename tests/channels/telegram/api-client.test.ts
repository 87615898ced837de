import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyTelegramError, isNotModified, TelegramApiClient } from '../../../channels/telegram/api-client.js';
import { botIdFromToken, generateSecretToken, secretTokenSchema, telegramCredentialsSchema, verifyWebhookSecret } from '../../../channels/telegram/credentials.js';
import { ChannelPermanentError, ChannelTransientError } from '../../../channels/types.js';
import { FAKE_BOT_ID, FAKE_BOT_USERNAME, startFakeTelegram, type FakeTelegram } from '../../fakes/telegram-api.js';

let fake: FakeTelegram;
let api: TelegramApiClient;

beforeAll(async () => {
  fake = await startFakeTelegram();
  api = new TelegramApiClient({ baseUrl: `${fake.baseUrl}/`, botToken: fake.botToken });
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.stop();
});

describe('Telegram API client', () => {
  it('getMe and setWebhook with a secret token', async () => {
    expect(await api.getMe()).toMatchObject({ id: FAKE_BOT_ID, is_bot: true, username: FAKE_BOT_USERNAME });
    const secret = generateSecretToken();
    expect(await api.setWebhook({ url: 'https://tw.example/webhooks/telegram/9', secret_token: secret, allowed_updates: ['message', 'edited_message', 'my_chat_member'] })).toBe(true);
    expect(fake.webhook).toEqual({ url: 'https://tw.example/webhooks/telegram/9', secretToken: secret, allowedUpdates: ['message', 'edited_message', 'my_chat_member'] });
    expect(await rejection(api.setWebhook({ url: 'https://tw.example/x', secret_token: 'no spaces' }))).toMatchObject({
      channelCode: 400,
      channelMessage: 'Bad Request: secret token contains unallowed characters',
    });
  });

  it('a refused token: 401 Unauthorized, or 404 Not Found for one without a bot id', async () => {
    const wrong = new TelegramApiClient({ baseUrl: fake.baseUrl, botToken: `${FAKE_BOT_ID}:AAF${'z'.repeat(40)}` });
    expect(await rejection(wrong.getMe())).toMatchObject({ channelCode: 401, meaning: 'refused', channelMessage: 'the bot token was refused (Unauthorized)' });
    const malformed = new TelegramApiClient({ baseUrl: fake.baseUrl, botToken: 'garbage' });
    expect(await rejection(malformed.getMe())).toMatchObject({ channelCode: 404, channelMessage: 'the bot token was refused (Not Found)' });
  });

  it('an answer that is not JSON on 200 is transient', async () => {
    const client = new TelegramApiClient({ baseUrl: fake.baseUrl, botToken: fake.botToken, fetch: async () => new Response('<html>', { status: 200 }) });
    expect(await rejection(client.getMe())).toMatchObject({ name: 'ChannelTransientError', channelCode: 'bad_response' });
  });
});

describe('classifyTelegramError', () => {
  const envelope = (code: number, description: string, parameters?: Record<string, unknown>) => ({ ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) });

  it('429 waits retry_after seconds (1 s when absent)', () => {
    expect(classifyTelegramError('m', 429, envelope(429, 'Too Many Requests: retry after 35', { retry_after: 35 }))).toMatchObject({ channelCode: 429, retryAfterMs: 35_000 });
    expect(classifyTelegramError('m', 429, undefined)).toMatchObject({ channelCode: 429, retryAfterMs: 1000 });
  });

  it('5xx and 408 are transient; 403 denies messages; other 4xx refuse', () => {
    expect(classifyTelegramError('m', 502, undefined)).toBeInstanceOf(ChannelTransientError);
    expect(classifyTelegramError('m', 500, envelope(500, 'Internal Server Error'))).toMatchObject({ channelCode: 'http_500' });
    expect(classifyTelegramError('m', 408, undefined)).toBeInstanceOf(ChannelTransientError);
    const denied = classifyTelegramError('m', 403, envelope(403, 'Forbidden: bot was blocked by the user'));
    expect(denied).toBeInstanceOf(ChannelPermanentError);
    expect(denied).toMatchObject({ meaning: 'messages_denied' });
    expect(classifyTelegramError('m', 400, envelope(400, 'Bad Request: chat not found'))).toMatchObject({ channelCode: 400, meaning: 'refused' });
    expect(classifyTelegramError('m', 400, envelope(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: -1001 }))).toMatchObject({
      channelMessage: 'Bad Request: group chat was upgraded to a supergroup chat (the chat moved to -1001)',
    });
    expect(isNotModified(classifyTelegramError('m', 400, envelope(400, 'Bad Request: message is not modified: specified new message content…')))).toBe(true);
  });
});

describe('Telegram credentials', () => {
  it('generated secret tokens use the allowed alphabet and differ', () => {
    const a = generateSecretToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{1,256}$/);
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(generateSecretToken()).not.toBe(a);
    expect(secretTokenSchema.safeParse('x'.repeat(257)).success).toBe(false);
    expect(secretTokenSchema.safeParse('').success).toBe(false);
  });

  it('verifyWebhookSecret accepts only the exact secret', () => {
    expect(verifyWebhookSecret('s3cr3t_-X', 's3cr3t_-X')).toBe(true);
    for (const header of ['s3cr3t_-x', 's3cr3t_-X ', '', undefined, null, ['s3cr3t_-X']]) expect(verifyWebhookSecret(header, 's3cr3t_-X')).toBe(false);
    expect(verifyWebhookSecret('', '')).toBe(false);
  });

  it('bot tokens: the id before the colon; nothing that could leave its URL segment', () => {
    expect(botIdFromToken('123456789:AAEabcdefghijklmnopqrstuvwxyz')).toBe('123456789');
    const ok = telegramCredentialsSchema.safeParse({ kind: 'telegram', botToken: '123456789:AAEabcdefghijklmnopqrstuvwxyz', secretToken: 'abc' });
    expect(ok.success).toBe(true);
    for (const botToken of ['123:short', '123456789:AAE/../../getMe?x=abcdefgh', 'AAEabcdefghijklmnopqrstuvwxyz']) {
      expect(telegramCredentialsSchema.safeParse({ kind: 'telegram', botToken, secretToken: 'abc' }).success).toBe(false);
    }
  });
});

async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}
