import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTelegramAdapter, telegramSendMethod, type TelegramAdapter } from '../../../channels/telegram/adapter.js';
import { MediaRefusedError, mediaPolicy } from '../../../channels/media-fetch.js';
import { ChannelPermanentError, ChannelTransientError, type OutboundMessage } from '../../../channels/types.js';
import { planDeliveries } from '../../../activities/outbound.js';
import type { Channel } from '../../../db/schema.js';
import type { MediaRef } from '../../../workflows/shared/types.js';
import { ANNA, startFakeTelegram, type FakeTelegram } from '../../fakes/telegram-api.js';
import { outboundFile as file } from '../../support/channel-rows.js';

const CHAT = String(ANNA.id);
const MB = 1024 * 1024;

/** A channel row as the registry will store it (kind 'telegram' is not a ChannelKind on this branch yet). */
function telegramChannel(botToken: string): Channel {
  return {
    id: '9',
    kind: 'telegram',
    name: 'Shop bot',
    active: true,
    external_id: botToken.split(':')[0],
    credentials: { kind: 'telegram', botToken, secretToken: 'fixture_secret-token' },
    settings: {},
    created_by: null,
    created_at: new Date(),
    updated_at: new Date(),
  } as unknown as Channel;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const text = (t: string, extra: Partial<OutboundMessage> = {}): OutboundMessage => ({ peerId: CHAT, text: t, files: [], idempotencyKey: '1001', ...extra });

let fake: FakeTelegram;
let adapter: TelegramAdapter;
let channel: Channel;

beforeAll(async () => {
  fake = await startFakeTelegram();
  // The default media policy (the messengers' CDNs only): the API's own host is allowed for downloads.
  adapter = createTelegramAdapter({ baseUrl: fake.baseUrl, timeoutMs: 2000 });
  channel = telegramChannel(fake.botToken);
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.stop();
});

describe('Telegram adapter – contract values and profile', () => {
  it('kind, limits, edits, no idempotent sends', () => {
    expect(adapter).toMatchObject({ kind: 'telegram', capabilities: expect.objectContaining({ maxTextLength: 4096, filesPerMessage: 1, maxCaptionLength: 1024, canEdit: true, retriedSends: 'sent_again' }) });
  });

  it('fetchProfile asks getChat; an unknown chat is a permanent refusal', async () => {
    fake.addUser(ANNA);
    expect(await adapter.fetchProfile(channel, CHAT)).toEqual({ name: 'Анна Смирнова', extra: { username: 'anna_s' } });
    expect(await rejection(adapter.fetchProfile(channel, '42'))).toMatchObject({ channelCode: 400, channelMessage: 'Bad Request: chat not found', meaning: 'refused' });
  });

  it('a channel without a valid token is misconfigured, with no call', async () => {
    const broken = { ...channel, credentials: { kind: 'telegram', botToken: 'nope' } } as unknown as Channel;
    expect(await rejection(adapter.send(broken, text('hi')))).toMatchObject({ channelCode: 'misconfigured' });
    expect(fake.calls).toHaveLength(0);
  });
});

describe('Telegram adapter – send', () => {
  it('text: one sendMessage; the message id is the external id', async () => {
    const r = await adapter.send(channel, text('Добрый день! Заказ №4521 передан курьеру.'));
    expect(fake.sentTo(CHAT)).toHaveLength(1);
    const m = fake.sent[0]!;
    expect(m).toMatchObject({ method: 'sendMessage', text: 'Добрый день! Заказ №4521 передан курьеру.' });
    expect(r).toEqual({ externalId: `${CHAT}:${m.messageId}` });
  });

  it('a long text is planned as several messages of at most 4096 characters, each sent', async () => {
    const long = Array.from({ length: 900 }, (_, i) => `слово${i}`).join(' ');
    const parts = planDeliveries(adapter.capabilities, long, []);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) await adapter.send(channel, text(p.text));
    expect(fake.sent.map((m) => m.text!.length).every((n) => n <= 4096)).toBe(true);
    expect(fake.sent.map((m) => m.text).join(' ')).toBe(long);
    expect(await rejection(adapter.send(channel, text('x'.repeat(4097))))).toMatchObject({ channelCode: 'text_too_long' });
  });

  it('reply: reply_parameters quote the message, and a quote that is gone does not fail the send', async () => {
    fake.noteInbound(CHAT, 213);
    await adapter.send(channel, text('Да', { replyToExternalId: '213' }));
    await adapter.send(channel, text('Тоже', { replyToExternalId: '999999' }));
    expect(fake.sent.map((m) => m.replyTo)).toEqual([213, 999999]);
    expect(fake.sent[0]!.params.reply_parameters).toEqual({ message_id: 213, allow_sending_without_reply: true });
  });

  it.each([
    ['photo.jpg', 'image/jpeg', 'sendPhoto', 'photo'],
    ['scan.png', 'image/png', 'sendPhoto', 'photo'],
    ['invoice.pdf', 'application/pdf', 'sendDocument', 'document'],
    ['note.ogg', 'audio/ogg; codecs=opus', 'sendVoice', 'voice'],
    ['song.mp3', 'audio/mpeg', 'sendAudio', 'audio'],
    ['clip.mp4', 'video/mp4', 'sendVideo', 'video'],
  ])('a file %s (%s) goes by %s with its caption', async (name, mime, method, field) => {
    const bytes = new Uint8Array(randomBytes(2048));
    const r = await adapter.send(channel, { ...text('Ваш документ'), files: [file(name, mime, bytes)] });
    const m = fake.sent[0]!;
    expect(m).toMatchObject({ method, caption: 'Ваш документ', upload: { field, filename: name, mimeType: mime } });
    expect(Buffer.from(m.upload!.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(r).toEqual({ externalId: `${CHAT}:${m.messageId}`, extra: { caption: true } });
  });

  it('photos over 10 MB go as documents; a photo Telegram cannot process is sent again as a document', async () => {
    expect(telegramSendMethod('image/jpeg', 11 * MB)).toEqual({ method: 'sendDocument', field: 'document' });
    fake.failNext('sendPhoto', { code: 400, description: 'Bad Request: IMAGE_PROCESS_FAILED' });
    await adapter.send(channel, { ...text('фото', { replyToExternalId: '7' }), files: [file('wide.jpg', 'image/jpeg', new Uint8Array(100))] });
    expect(fake.calls.map((c) => c.method)).toEqual(['sendPhoto', 'sendDocument']);
    expect(fake.sent).toHaveLength(1);
    expect(fake.sent[0]).toMatchObject({ method: 'sendDocument', caption: 'фото', replyTo: 7 });
  });

  it('a caption over 1024 characters goes first as its own message (with the quote), then the file', async () => {
    const caption = 'к'.repeat(1500);
    const r = await adapter.send(channel, { ...text(caption, { replyToExternalId: '5' }), files: [file('a.pdf', 'application/pdf', new Uint8Array(10))] });
    const [t, f] = fake.sent;
    expect(t).toMatchObject({ method: 'sendMessage', text: caption, replyTo: 5 });
    expect(f).toMatchObject({ method: 'sendDocument' });
    expect(f!.caption).toBeUndefined();
    expect(f!.replyTo).toBeUndefined();
    expect(r).toEqual({ externalId: `${CHAT}:${f!.messageId}`, extra: { textMessageId: String(t!.messageId) } });
    // The pipeline itself plans such a text as a delivery of its own.
    expect(planDeliveries(adapter.capabilities, caption, [{ sha256: 'x', filename: 'a.pdf', mimeType: 'application/pdf', size: 10 }]).map((p) => p.files.length)).toEqual([0, 1]);
  });

  it('refuses what Telegram cannot take, without a call: two files, templates, over 50 MB, nothing', async () => {
    const one = file('a.pdf', 'application/pdf', new Uint8Array(1));
    expect(await rejection(adapter.send(channel, { ...text(''), files: [one, one] }))).toMatchObject({ channelCode: 'too_many_files' });
    expect(await rejection(adapter.send(channel, text('', { template: { name: 'hello', language: 'ru' } })))).toMatchObject({ channelCode: 'templates_not_supported' });
    const huge = await rejection(adapter.send(channel, { ...text(''), files: [file('backup.zip', 'application/zip', new Uint8Array(50 * MB + 1))] }));
    expect(huge).toMatchObject({ channelCode: 'file_too_large' });
    expect((huge as ChannelPermanentError).channelMessage).toContain('"backup.zip"');
    expect(await rejection(adapter.send(channel, text('')))).toMatchObject({ channelCode: 'empty_message' });
    expect(fake.calls).toHaveLength(0);
  });
});

describe('Telegram adapter – edit', () => {
  it('a text message by editMessageText; the same text again is a success ("message is not modified")', async () => {
    const r = await adapter.send(channel, text('Заказ придёт в среду'));
    await adapter.edit(channel, { peerId: CHAT, externalId: r.externalId, extra: r.extra ?? null, text: 'Заказ придёт в четверг' });
    expect(fake.edits).toEqual([expect.objectContaining({ method: 'editMessageText', messageId: Number(r.externalId.split(':')[1]), text: 'Заказ придёт в четверг' })]);
    await adapter.edit(channel, { peerId: CHAT, externalId: r.externalId, text: 'Заказ придёт в четверг' });
    expect(fake.callCount('editMessageText')).toBe(2);
    expect(fake.edits).toHaveLength(1);
  });

  it('a file message by editMessageCaption, within 1024 characters', async () => {
    const r = await adapter.send(channel, { ...text('Счёт'), files: [file('a.pdf', 'application/pdf', new Uint8Array(5))] });
    await adapter.edit(channel, { peerId: CHAT, externalId: r.externalId, extra: r.extra ?? null, text: 'Счёт (исправлен)' });
    await adapter.edit(channel, { peerId: CHAT, externalId: r.externalId, extra: r.extra ?? null, text: 'Счёт (исправлен)' });
    expect(fake.edits).toEqual([expect.objectContaining({ method: 'editMessageCaption', text: 'Счёт (исправлен)' })]);
    expect(await rejection(adapter.edit(channel, { peerId: CHAT, externalId: r.externalId, extra: r.extra ?? null, text: 'x'.repeat(1025) }))).toMatchObject({
      channelCode: 'caption_too_long',
    });
  });

  it('a text sent ahead of its file is edited as that text message', async () => {
    const r = await adapter.send(channel, { ...text('к'.repeat(1100)), files: [file('a.pdf', 'application/pdf', new Uint8Array(5))] });
    await adapter.edit(channel, { peerId: CHAT, externalId: r.externalId, extra: r.extra ?? null, text: 'короче' });
    expect(fake.edits).toEqual([expect.objectContaining({ method: 'editMessageText', messageId: Number(r.extra!.textMessageId), text: 'короче' })]);
  });

  it('a message that is gone is a permanent refusal', async () => {
    expect(await rejection(adapter.edit(channel, { peerId: CHAT, externalId: '4242', text: 'x' }))).toMatchObject({
      channelCode: 400,
      channelMessage: 'Bad Request: message to edit not found',
      meaning: 'refused',
    });
  });
});

describe('Telegram adapter – failures', () => {
  it('429 is transient with retry_after as the wait', async () => {
    fake.failNext('sendMessage', { code: 429, description: 'Too Many Requests: retry after 7', retryAfter: 7 });
    const err = await rejection(adapter.send(channel, text('hi')));
    expect(err).toBeInstanceOf(ChannelTransientError);
    expect(err).toMatchObject({ channelCode: 429, retryAfterMs: 7000 });
    expect(fake.sent).toHaveLength(0);
  });

  it.each([
    ['blocked', 'Forbidden: bot was blocked by the user'],
    ['deactivated', 'Forbidden: user is deactivated'],
    ['never_started', "Forbidden: bot can't initiate conversation with a user"],
  ] as const)('403 (%s) means messages are denied', async (state, description) => {
    fake.setChatState(CHAT, state);
    const err = await rejection(adapter.send(channel, text('hi')));
    expect(err).toBeInstanceOf(ChannelPermanentError);
    expect(err).toMatchObject({ channelCode: 403, channelMessage: description, meaning: 'messages_denied' });
  });

  it('5xx (envelope or a proxy page), network errors and timeouts are transient with string codes (outcome unknown)', async () => {
    fake.failNext('sendMessage', { code: 500, description: 'Internal Server Error' });
    expect(await rejection(adapter.send(channel, text('a')))).toMatchObject({ name: 'ChannelTransientError', channelCode: 'http_500' });
    fake.failNextHttp('sendMessage', 502);
    expect(await rejection(adapter.send(channel, text('b')))).toMatchObject({ name: 'ChannelTransientError', channelCode: 'http_502' });
    fake.delayNext('sendMessage', 600);
    const slow = createTelegramAdapter({ baseUrl: fake.baseUrl, timeoutMs: 100 });
    expect(await rejection(slow.send(channel, text('c')))).toMatchObject({ name: 'ChannelTransientError', channelCode: 'timeout' });
    const closed = await startFakeTelegram();
    const gone = closed.baseUrl;
    await closed.stop();
    expect(await rejection(createTelegramAdapter({ baseUrl: gone }).send(channel, text('d')))).toMatchObject({ name: 'ChannelTransientError', channelCode: 'network' });
  });

  it('the double-send window: a send whose answer is lost was delivered all the same, and says so only as a timeout', async () => {
    const hold = fake.holdNext('sendMessage');
    const slow = createTelegramAdapter({ baseUrl: fake.baseUrl, timeoutMs: 200 });
    const pending = rejection(slow.send(channel, text('Ответ')));
    await hold.arrived;
    // The client gives up (its outcome is unknown: a string code, never a numeric "Telegram answered")...
    expect(await pending).toMatchObject({ name: 'ChannelTransientError', channelCode: 'timeout' });
    hold.release();
    await hold.released;
    // ...while Telegram got the message: a blind retry now would deliver it twice.
    expect(fake.sentTo(CHAT).map((m) => m.text)).toEqual(['Ответ']);
  });

  it('a wrong token is a permanent refusal (401 Unauthorized)', async () => {
    const other = telegramChannel(`7000000001:AAF${'x'.repeat(40)}`);
    const err = await rejection(adapter.send(other, text('hi')));
    expect(err).toMatchObject({ channelCode: 401, channelMessage: 'the bot token was refused (Unauthorized)', meaning: 'refused' });
  });

  it('the bot token appears in no error, whatever failed', async () => {
    const errors: Error[] = [];
    const collect = async (p: Promise<unknown>) => errors.push(await rejection(p));
    fake.failNext('sendMessage', { code: 400, description: `Bad Request: echo ${fake.botToken}` });
    await collect(adapter.send(channel, text('a')));
    fake.failNextHttp('getFile', 503);
    await collect(adapter.download(channel, { kind: 'document', mediaId: 'x' }));
    const f = fake.addFile({ bytes: new Uint8Array(10) });
    fake.failNextHttp('file', 500);
    await collect(adapter.download(channel, { kind: 'document', mediaId: f.fileId }));
    fake.failNext('file', { code: 404, description: 'Not Found' });
    await collect(adapter.download(channel, { kind: 'document', mediaId: f.fileId }));
    await collect(createTelegramAdapter({ baseUrl: 'http://[bad' }).send(channel, text('b')));
    expect(errors.at(-1)).toMatchObject({ channelCode: 'misconfigured' });
    await collect(createTelegramAdapter({ baseUrl: 'http://127.0.0.1:1' }).send(channel, text('c')));
    expect(errors).toHaveLength(6);
    for (const err of errors) {
      const shown = [String(err), err.message, err.stack ?? '', JSON.stringify(err), (err as ChannelPermanentError).channelMessage ?? ''].join('\n');
      expect(shown).not.toContain(fake.botToken);
      expect(shown).not.toContain(fake.botToken.split(':')[1]);
    }
    expect(errors[0]).toMatchObject({ channelMessage: 'Bad Request: echo <bot token>' });
  });
});

describe('Telegram adapter – downloads', () => {
  it('getFile, then the file: bytes with the name and type the update gave', async () => {
    const bytes = new Uint8Array(randomBytes(4096));
    const f = fake.addFile({ bytes, dir: 'documents', ext: '.pdf' });
    const ref: MediaRef = { kind: 'document', mediaId: f.fileId, mimeType: 'application/pdf', filename: 'Накладная.pdf', size: f.size };
    const d = await adapter.download(channel, ref);
    expect(d.filename).toBe('Накладная.pdf');
    expect(d.mimeType).toBe('application/pdf');
    expect(Buffer.from(d.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(fake.calls.map((c) => c.method)).toEqual(['getFile', 'file']);
  });

  it('without a name from the update, the file path names it', async () => {
    const f = fake.addFile({ bytes: new Uint8Array(8), dir: 'photos', ext: '.jpg' });
    const d = await adapter.download(channel, { kind: 'image', mediaId: f.fileId });
    expect(d.filename).toMatch(/^file_\d+\.jpg$/);
    expect(d.mimeType).toBe('application/octet-stream');
  });

  it('a file over 20 MB announced by the update is refused by name, without any call', async () => {
    const err = await rejection(adapter.download(channel, { kind: 'document', mediaId: 'BQAC', filename: 'video-backup.zip', size: 25 * MB }));
    expect(err).toBeInstanceOf(MediaRefusedError);
    expect(err).toMatchObject({ reason: 'too_large', explanation: '"video-backup.zip" is 25 MB; Telegram lets bots download files up to 20 MB' });
    expect(fake.calls).toHaveLength(0);
  });

  it('a file over 20 MB found out by getFile ("file is too big") is refused by name', async () => {
    const f = fake.addFile({ size: 21 * MB });
    const err = await rejection(adapter.download(channel, { kind: 'video', mediaId: f.fileId, filename: 'clip.mp4' }));
    expect(err).toMatchObject({ reason: 'too_large', explanation: '"clip.mp4" is larger than 20 MB; Telegram lets bots download files up to 20 MB' });
    expect(fake.calls.map((c) => c.method)).toEqual(['getFile']);
  });

  it('MAX_MEDIA_BYTES applies below 20 MB, announced by getFile or by the file server', async () => {
    const small = createTelegramAdapter({ baseUrl: fake.baseUrl, media: mediaPolicy({ maxBytes: 1000 }) });
    const f = fake.addFile({ bytes: new Uint8Array(5000) });
    expect(await rejection(small.download(channel, { kind: 'document', mediaId: f.fileId }))).toMatchObject({
      reason: 'too_large',
      explanation: 'the file is 5,000 bytes, more than MAX_MEDIA_BYTES (1,000 bytes)',
    });
    expect(fake.callCount('file')).toBe(0);
    // getFile understates the size: the file server's Content-Length stops the download.
    const liar = fake.addFile({ bytes: new Uint8Array(5000), size: 500 });
    expect(await rejection(small.download(channel, { kind: 'document', mediaId: liar.fileId }))).toMatchObject({
      reason: 'too_large',
      explanation: 'the file is 5,000 bytes, more than MAX_MEDIA_BYTES (1,000 bytes)',
    });
    expect(fake.downloads).toEqual([{ filePath: expect.any(String), status: 200 }]);
  });

  it('trouble that may pass is transient; an unknown file id is permanent', async () => {
    const f = fake.addFile({ bytes: new Uint8Array(10) });
    fake.failNextHttp('file', 502);
    expect(await rejection(adapter.download(channel, { kind: 'document', mediaId: f.fileId }))).toBeInstanceOf(ChannelTransientError);
    fake.failNext('getFile', { code: 429, description: 'Too Many Requests: retry after 3', retryAfter: 3 });
    expect(await rejection(adapter.download(channel, { kind: 'document', mediaId: f.fileId }))).toMatchObject({ channelCode: 429, retryAfterMs: 3000 });
    expect(await rejection(adapter.download(channel, { kind: 'document', mediaId: 'nope' }))).toMatchObject({
      channelCode: 400,
      channelMessage: 'Bad Request: wrong file identifier/HTTP URL specified',
    });
    expect(await rejection(adapter.download(channel, { kind: 'document' }))).toMatchObject({ channelCode: 'no_media_id' });
  });
});
