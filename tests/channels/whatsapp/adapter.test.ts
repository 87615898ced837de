import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WhatsAppApiClient, classifyGraphError } from '../../../channels/whatsapp/api-client.js';
import { createWhatsAppAdapter, toRecipient, whatsAppMediaType } from '../../../channels/whatsapp/adapter.js';
import { MediaRefusedError, mediaPolicy } from '../../../channels/media-fetch.js';
import { ChannelPermanentError, ChannelTransientError, type ChannelAdapter, type OutboundMessage } from '../../../channels/types.js';
import type { Channel } from '../../../db/schema.js';
import { FAKE_PHONE_NUMBER_ID, startFakeGraph, type FakeGraph } from '../../fakes/graph-api.js';
import { outboundFile, whatsAppChannelRow } from '../../support/channel-rows.js';

const PNID = FAKE_PHONE_NUMBER_ID;
const ANNA = '79161234567';
/** The fake's CDN is on loopback, which the default policy (the real CDNs only) refuses. */
const LOOPBACK_MEDIA = mediaPolicy({ allowedHosts: ['127.0.0.1'] });

const waChannel = (accessToken: string, phoneNumberId = PNID): Channel => whatsAppChannelRow(phoneNumberId, accessToken, 'Sales WhatsApp');

const file = outboundFile;

function withMagic(magic: string | number[], size: number): Uint8Array {
  const head = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : Buffer.from(magic);
  return new Uint8Array(Buffer.concat([head, randomBytes(size)]));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

let fake: FakeGraph;
let adapter: ChannelAdapter;
let channel: Channel;

beforeAll(async () => {
  fake = await startFakeGraph();
  adapter = createWhatsAppAdapter({ baseUrl: fake.baseUrl, media: LOOPBACK_MEDIA });
  channel = waChannel(fake.accessToken);
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.stop();
});

describe('WhatsApp adapter – contract values', () => {
  it('kind, limits, no edit', () => {
    expect(adapter.kind).toBe('whatsapp');
    expect(adapter.capabilities.maxTextLength).toBe(4096);
    expect(adapter.capabilities.filesPerMessage).toBe(1);
    expect(adapter.capabilities.maxCaptionLength).toBe(1024);
    expect(adapter.capabilities.canEdit).toBe(false);
  });

  it('fetchProfile: the number is all there is (no API call)', async () => {
    expect(await adapter.fetchProfile(channel, ANNA)).toEqual({ name: '+79161234567', phone: '+79161234567' });
    expect(fake.calls).toHaveLength(0);
  });

  it('edit throws a permanent edit_not_supported', async () => {
    const err = await rejection(adapter.edit(channel, { peerId: ANNA, externalId: 'wamid.X', text: 'new' }));
    expect(err).toBeInstanceOf(ChannelPermanentError);
    expect(err).toMatchObject({ channelCode: 'edit_not_supported', meaning: 'refused' });
    expect(fake.calls).toHaveLength(0);
  });
});

describe('WhatsApp adapter – send', () => {
  it('text: the §4 body with `+` recipient, preview_url and biz_opaque_callback_data; Bearer token and a User-Agent', async () => {
    const r = await adapter.send(channel, { peerId: ANNA, text: 'Добрый день! Заказ №4521 передан курьеру.', files: [], idempotencyKey: '1001' });
    expect(fake.sent).toHaveLength(1);
    const s = fake.sent[0]!;
    expect(s.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+79161234567',
      type: 'text',
      text: { body: 'Добрый день! Заказ №4521 передан курьеру.', preview_url: true },
      biz_opaque_callback_data: '1001',
    });
    expect(r).toEqual({ externalId: s.wamid, extra: { waId: ANNA } });
    expect(s.wamid).toMatch(/^wamid\.[A-Za-z0-9+/=]+$/);
    expect(fake.calls[0]).toMatchObject({ method: 'POST', path: `/${PNID}/messages`, kind: 'messages', authorized: true });
    expect(fake.calls[0]!.userAgent).toMatch(/^taskwire\//);
    expect(JSON.stringify(fake.calls[0]!.query)).not.toContain(fake.accessToken);
  });

  it('a quoted reply carries context.message_id', async () => {
    await adapter.send(channel, { peerId: ANNA, text: 'Да, верно', files: [], idempotencyKey: '1002', replyToExternalId: 'wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzODg5NEExOUYzNzZDNzM2RDg4NAA=' });
    expect(fake.sent[0]).toMatchObject({
      type: 'text',
      text: 'Да, верно',
      context: { message_id: 'wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzODg5NEExOUYzNzZDNzM2RDg4NAA=' },
      bizOpaqueCallbackData: '1002',
    });
  });

  it('an image is uploaded byte-exact (multipart) and sent by id with the caption', async () => {
    const jpeg = withMagic([0xff, 0xd8, 0xff, 0xe0], 80_000);
    const r = await adapter.send(channel, {
      peerId: '5511987654321',
      text: 'Segue a foto da nova caixa',
      files: [file('caixa.jpg', 'image/jpeg', jpeg)],
      idempotencyKey: '2001',
      replyToExternalId: 'wamid.IMG',
    });
    expect(fake.uploads).toHaveLength(1);
    const up = fake.uploads[0]!;
    expect(up).toMatchObject({ phoneNumberId: PNID, type: 'image/jpeg', filename: 'caixa.jpg', fileType: 'image/jpeg' });
    expect(Buffer.from(up.bytes).equals(Buffer.from(jpeg))).toBe(true);
    expect(fake.calls.map((c) => c.kind)).toEqual(['media', 'messages']);
    expect(fake.sent).toHaveLength(1);
    expect(fake.sent[0]!.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+5511987654321',
      type: 'image',
      image: { id: up.id, caption: 'Segue a foto da nova caixa' },
      context: { message_id: 'wamid.IMG' },
      biz_opaque_callback_data: '2001',
    });
    expect(r).toEqual({ externalId: fake.sent[0]!.wamid, extra: { waId: '5511987654321' } });
  });

  it('a PDF goes as a document with its filename and caption', async () => {
    const pdf = withMagic('%PDF-1.7\n', 30_000);
    await adapter.send(channel, { peerId: ANNA, text: 'Счёт во вложении', files: [file('Счёт_45821.pdf', 'application/pdf', pdf)], idempotencyKey: '2002' });
    expect(fake.uploads[0]).toMatchObject({ type: 'application/pdf', filename: 'Счёт_45821.pdf' });
    expect(Buffer.from(fake.uploads[0]!.bytes).equals(Buffer.from(pdf))).toBe(true);
    expect(fake.sent[0]).toMatchObject({ type: 'document', mediaId: fake.uploads[0]!.id, filename: 'Счёт_45821.pdf', caption: 'Счёт во вложении' });
  });

  it('a file without text has no caption; types WhatsApp cannot show inline go as documents', async () => {
    const gif = withMagic('GIF89a', 2000);
    await adapter.send(channel, { peerId: ANNA, text: '', files: [file('anim.gif', 'image/gif', gif)], idempotencyKey: '2003' });
    expect(fake.sent[0]!.body.document).toEqual({ id: fake.uploads[0]!.id, filename: 'anim.gif' });
    // image/gif is not an upload type the media endpoint lists: declared as generic binary.
    expect(fake.uploads[0]).toMatchObject({ type: 'application/octet-stream', filename: 'anim.gif' });
    expect(Buffer.from(fake.uploads[0]!.bytes).equals(Buffer.from(gif))).toBe(true);
    const mp4 = withMagic([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70], 5000);
    await adapter.send(channel, { peerId: ANNA, text: '', files: [file('clip.mp4', 'video/mp4', mp4)], idempotencyKey: '2004' });
    expect(fake.sent[1]!.body.video).toEqual({ id: fake.uploads[1]!.id });
  });

  it('a voice note (audio/ogg) is sent with voice:true; its text goes first as its own message', async () => {
    const ogg = withMagic('OggS', 4000);
    const r = await adapter.send(channel, {
      peerId: ANNA,
      text: 'Послушайте, пожалуйста',
      files: [file('voice.ogg', 'audio/ogg; codecs=opus', ogg)],
      idempotencyKey: '3001',
      replyToExternalId: 'wamid.Q',
    });
    // Upload first (harmless to repeat), then the text, then the audio.
    expect(fake.calls.map((c) => c.kind)).toEqual(['media', 'messages', 'messages']);
    expect(fake.uploads[0]).toMatchObject({ type: 'audio/ogg' });
    const [text, audio] = fake.sent;
    expect(text).toMatchObject({ type: 'text', text: 'Послушайте, пожалуйста', context: { message_id: 'wamid.Q' }, bizOpaqueCallbackData: '3001:text' });
    expect(audio!.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+79161234567',
      type: 'audio',
      audio: { id: fake.uploads[0]!.id, voice: true },
      biz_opaque_callback_data: '3001',
    });
    expect(r).toEqual({ externalId: audio!.wamid, extra: { waId: ANNA, textMessageId: text!.wamid } });
  });

  it('a WebP goes as a sticker (no caption); mp3 as plain audio', async () => {
    const webp = withMagic('RIFF\x00\x00\x00\x00WEBP', 20_000);
    await adapter.send(channel, { peerId: ANNA, text: '', files: [file('s.webp', 'image/webp', webp)], idempotencyKey: '3002' });
    expect(fake.sent[0]!.body.sticker).toEqual({ id: fake.uploads[0]!.id });
    const mp3 = withMagic('ID3', 3000);
    await adapter.send(channel, { peerId: ANNA, text: '', files: [file('a.mp3', 'audio/mpeg', mp3)], idempotencyKey: '3003' });
    expect(fake.sent[1]!.body.audio).toEqual({ id: fake.uploads[1]!.id });
  });

  it('whatsAppMediaType follows the §8.3 types and limits', () => {
    expect(whatsAppMediaType('image/jpeg', 1000)).toBe('image');
    expect(whatsAppMediaType('image/jpg', 1000)).toBe('image');
    expect(whatsAppMediaType('image/png', 6 * 1024 * 1024)).toBe('document');
    expect(whatsAppMediaType('image/webp', 600 * 1024)).toBe('document');
    expect(whatsAppMediaType('video/quicktime', 1000)).toBe('document');
    expect(whatsAppMediaType('audio/wav', 1000)).toBe('document');
    expect(whatsAppMediaType('AUDIO/OGG; codecs=opus', 1000)).toBe('audio');
    expect(whatsAppMediaType('application/zip', 1000)).toBe('document');
    expect(toRecipient('79161234567')).toBe('+79161234567');
    expect(toRecipient('+79161234567')).toBe('+79161234567');
  });

  it('template: name, language and body parameters; message_status kept', async () => {
    const r = await adapter.send(channel, {
      peerId: '971501234567',
      text: '',
      files: [],
      idempotencyKey: '4001',
      template: { name: 'ticket_update', language: 'en', parameters: ['Omar', 'TCK-20931'] },
    });
    expect(fake.sent[0]!.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+971501234567',
      type: 'template',
      template: {
        name: 'ticket_update',
        language: { code: 'en' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: 'Omar' }, { type: 'text', text: 'TCK-20931' }] }],
      },
      biz_opaque_callback_data: '4001',
    });
    expect(r).toEqual({ externalId: fake.sent[0]!.wamid, extra: { waId: '971501234567', messageStatus: 'accepted' } });

    await adapter.send(channel, { peerId: ANNA, text: '', files: [], idempotencyKey: '4002', template: { name: 'hello_world', language: 'en_US' } });
    expect(fake.sent[1]!.body.template).toEqual({ name: 'hello_world', language: { code: 'en_US' } });
  });

  it('a template unknown in that language is refused (132001)', async () => {
    const strict = await startFakeGraph({ templates: [{ name: 'ticket_update', language: 'en', bodyParameters: 2 }] });
    try {
      const a = createWhatsAppAdapter({ baseUrl: strict.baseUrl });
      const ch = waChannel(strict.accessToken);
      const err = await rejection(a.send(ch, { peerId: ANNA, text: '', files: [], idempotencyKey: '4003', template: { name: 'ticket_update', language: 'ru' } }));
      expect(err).toBeInstanceOf(ChannelPermanentError);
      expect(err).toMatchObject({ channelCode: 132001, meaning: 'refused' });
      expect((err as ChannelPermanentError).channelMessage).toContain('does not exist in ru');
      const e2 = await rejection(
        a.send(ch, { peerId: ANNA, text: '', files: [], idempotencyKey: '4004', template: { name: 'ticket_update', language: 'en', parameters: ['x'] } }),
      );
      expect(e2).toMatchObject({ channelCode: 132000 });
    } finally {
      await strict.stop();
    }
  });

  it('impossible messages fail permanently before any call', async () => {
    const one = file('a.pdf', 'application/pdf', new Uint8Array([1]));
    for (const msg of [
      { peerId: ANNA, text: 'x', files: [one, one], idempotencyKey: '5001' },
      { peerId: ANNA, text: '', files: [one], idempotencyKey: '5002', template: { name: 't', language: 'en' } },
      { peerId: ANNA, text: '', files: [], idempotencyKey: '5003' },
      { peerId: 'not-a-number', text: 'x', files: [], idempotencyKey: '5004' },
    ] satisfies OutboundMessage[]) {
      expect(await rejection(adapter.send(channel, msg))).toBeInstanceOf(ChannelPermanentError);
    }
    expect(fake.calls).toHaveLength(0);
  });

  it('a failed upload sends nothing: 131053 permanent, HTTP 503 transient', async () => {
    const ogg = withMagic('OggS', 100);
    fake.failNext('media', 131053);
    const e1 = await rejection(adapter.send(channel, { peerId: ANNA, text: 'текст', files: [file('v.ogg', 'audio/ogg', ogg)], idempotencyKey: '5005' }));
    expect(e1).toMatchObject({ channelCode: 131053, meaning: 'refused' });
    fake.failNextHttp('media', 503);
    const e2 = await rejection(adapter.send(channel, { peerId: ANNA, text: 'текст', files: [file('v.ogg', 'audio/ogg', ogg)], idempotencyKey: '5005' }));
    expect(e2).toBeInstanceOf(ChannelTransientError);
    expect(e2).toMatchObject({ channelCode: 'http_503' });
    expect(fake.sent).toHaveLength(0);
  });

  it('a send whose answer is lost times out as transient; Meta still got it (no idempotency on Cloud API)', async () => {
    const hold = fake.holdNext('messages');
    const quick = createWhatsAppAdapter({ baseUrl: fake.baseUrl, timeoutMs: 300 });
    const first = quick.send(channel, { peerId: ANNA, text: 'Потерянный ответ', files: [], idempotencyKey: '6001' });
    await hold.arrived;
    const err = await rejection(first);
    expect(err).toBeInstanceOf(ChannelTransientError);
    expect(err).toMatchObject({ channelCode: 'timeout' });
    hold.release();
    await hold.released;
    expect(fake.sent).toHaveLength(1);
    // The status webhooks of that message carry the key back (biz_opaque_callback_data).
    expect(fake.sent[0]!.bizOpaqueCallbackData).toBe('6001');
  });
});

describe('WhatsApp adapter – error classification', () => {
  const msg = (key: string): OutboundMessage => ({ peerId: '447700900123', text: 'Hello', files: [], idempotencyKey: key });

  it('130429 → transient, ~2 s; 131056 → transient, ≥ 6 s; 80007 → transient, 60 s', async () => {
    fake.failNext('messages', 130429);
    const e1 = await rejection(adapter.send(channel, msg('7001')));
    expect(e1).toBeInstanceOf(ChannelTransientError);
    expect(e1).toMatchObject({ channelCode: 130429 });
    expect((e1 as ChannelTransientError).retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect((e1 as ChannelTransientError).retryAfterMs).toBeLessThanOrEqual(5000);

    fake.failNext('messages', 131056);
    const e2 = await rejection(adapter.send(channel, msg('7001')));
    expect(e2).toBeInstanceOf(ChannelTransientError);
    expect(e2).toMatchObject({ channelCode: 131056 });
    expect((e2 as ChannelTransientError).retryAfterMs).toBeGreaterThanOrEqual(6000);
    expect((e2 as ChannelTransientError).retryAfterMs).toBeLessThanOrEqual(10_000);

    fake.failNext('messages', 80007);
    const e3 = await rejection(adapter.send(channel, msg('7001')));
    expect(e3).toBeInstanceOf(ChannelTransientError);
    expect((e3 as ChannelTransientError).retryAfterMs).toBe(60_000);

    // Meta's details and fbtrace_id are in the (logged) message.
    expect((e2 as Error).message).toContain('too many messages sent from this phone number to the same phone number');
    expect((e2 as Error).message).toMatch(/fbtrace_id \S+/);

    await adapter.send(channel, msg('7001'));
    expect(fake.sent).toHaveLength(1);
  });

  it('a 429 with Retry-After waits at least that long', async () => {
    fake.failNext('messages', 130429, 1, { httpStatus: 429, retryAfter: 5 });
    const err = await rejection(adapter.send(channel, msg('7002')));
    expect(err).toMatchObject({ channelCode: 130429, retryAfterMs: 5000 });
  });

  it('131047 → permanent reply_window_closed with the reason', async () => {
    fake.setRecipientError('447700900123', 131047);
    const err = await rejection(adapter.send(channel, msg('7003')));
    expect(err).toBeInstanceOf(ChannelPermanentError);
    expect(err).toMatchObject({ channelCode: 131047, meaning: 'reply_window_closed' });
    expect((err as ChannelPermanentError).channelMessage).toBe(
      'Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
    );
  });

  it('131026 and 100 → permanent refused; 131050 → messages_denied', async () => {
    fake.setRecipientError('447700900123', 131026);
    expect(await rejection(adapter.send(channel, msg('7004')))).toMatchObject({ channelCode: 131026, meaning: 'refused' });
    fake.setRecipientError('447700900123', null);

    const e100 = await rejection(adapter.send(channel, { ...msg('7005'), text: 'я'.repeat(4097) }));
    expect(e100).toBeInstanceOf(ChannelPermanentError);
    expect(e100).toMatchObject({ channelCode: 100, meaning: 'refused' });
    expect((e100 as ChannelPermanentError).channelMessage).toContain('4096');

    fake.failNext('messages', 131050);
    expect(await rejection(adapter.send(channel, msg('7006')))).toMatchObject({ channelCode: 131050, meaning: 'messages_denied' });
    expect(fake.sent).toHaveLength(0);
  });

  it('190 (a wrong token) → permanent; the token appears nowhere in the error', async () => {
    const revoked = 'EAAG-revoked-token-123';
    const err = await rejection(adapter.send(waChannel(revoked), msg('7007')));
    expect(err).toBeInstanceOf(ChannelPermanentError);
    expect(err).toMatchObject({ channelCode: 190, meaning: 'refused' });
    expect(fake.calls[0]).toMatchObject({ authorized: false });
    expect(JSON.stringify({ ...(err as object), message: (err as Error).message, stack: (err as Error).stack })).not.toContain(revoked);
  });

  it('HTTP 500 without an envelope → transient; an envelope with code 2 on a 500 → transient', async () => {
    fake.failNextHttp('messages', 500);
    const e500 = await rejection(adapter.send(channel, msg('7008')));
    expect(e500).toBeInstanceOf(ChannelTransientError);
    expect(e500).toMatchObject({ channelCode: 'http_500' });
    fake.failNext('messages', 2, 1, { httpStatus: 500 });
    expect(await rejection(adapter.send(channel, msg('7008')))).toMatchObject({ channelCode: 2 });
    expect(fake.sent).toHaveLength(0);
  });

  it('a closed port → transient network error', async () => {
    const dead = await closedPortUrl();
    const offline = createWhatsAppAdapter({ baseUrl: `${dead}/v21.0` });
    const err = await rejection(offline.send(channel, msg('7009')));
    expect(err).toBeInstanceOf(ChannelTransientError);
    expect(err).toMatchObject({ channelCode: 'network' });
  });

  it('an unknown phone number id → permanent (code 100)', async () => {
    const err = await rejection(adapter.send(waChannel(fake.accessToken, '999999999999999'), msg('7010')));
    expect(err).toMatchObject({ channelCode: 100, meaning: 'refused' });
  });

  it('classifyGraphError table (§9.2)', () => {
    const c = (code: number, status = 400) => classifyGraphError('WhatsApp POST /x/messages', { message: `(#${code}) t`, code }, status);
    for (const code of [1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004]) expect(c(code), String(code)).toBeInstanceOf(ChannelTransientError);
    for (const code of [0, 3, 10, 100, 190, 200, 368, 131005, 131008, 131009, 131021, 131026, 131031, 131042, 131048, 131049, 131051, 131053, 132000, 132001, 132015, 133010, 130403]) {
      expect(c(code), String(code)).toBeInstanceOf(ChannelPermanentError);
      expect(c(code)).toMatchObject({ meaning: 'refused', channelCode: code });
    }
    expect(c(131047)).toMatchObject({ meaning: 'reply_window_closed' });
    expect(c(131050)).toMatchObject({ meaning: 'messages_denied' });
    expect(c(131057)).toMatchObject({ retryAfterMs: 60_000 });
    expect(c(4)).toMatchObject({ retryAfterMs: 60_000 });
    expect((c(131000) as ChannelTransientError).retryAfterMs).toBeUndefined();
    expect(classifyGraphError('x', { message: 'weird' }, 502)).toBeInstanceOf(ChannelTransientError);
    expect(classifyGraphError('x', { message: 'weird' }, 403)).toMatchObject({ channelCode: 'http_403' });
    expect(c(131047)).toMatchObject({ channelMessage: 't' });
  });
});

describe('WhatsApp adapter – download', () => {
  it('via the webhook url: one GET with the Bearer token and a User-Agent, byte-exact', async () => {
    const bytes = new Uint8Array(randomBytes(150_001));
    const m = fake.addMedia('4723733646589636', bytes, 'image/jpeg');
    const d = await adapter.download(channel, { kind: 'image', mediaId: m.id, url: m.url, mimeType: 'image/jpeg', filename: 'image-4723733646589636.jpg' });
    expect(Buffer.from(d.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(d).toMatchObject({ filename: 'image-4723733646589636.jpg', mimeType: 'image/jpeg' });
    expect(fake.calls.map((c) => c.kind)).toEqual(['cdn']);
    expect(fake.downloads).toEqual([{ mediaId: m.id, status: 200, authorized: true, userAgent: expect.stringMatching(/^taskwire\//) }]);
  });

  it('an expired webhook url falls back to GET /<media-id> (with phone_number_id), byte-exact', async () => {
    const bytes = new Uint8Array(Buffer.concat([Buffer.from('OggS'), randomBytes(40_000)]));
    const m = fake.addMedia('2977041275040590', bytes, 'audio/ogg', { phoneNumberId: PNID });
    fake.expireMediaUrls();
    const d = await adapter.download(channel, { kind: 'voice', mediaId: m.id, url: m.url, mimeType: 'audio/ogg; codecs=opus', filename: 'voice-2977041275040590.ogg' });
    expect(Buffer.from(d.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(d.mimeType).toBe('audio/ogg');
    expect(fake.calls.map((c) => c.kind)).toEqual(['cdn', 'media-info', 'cdn']);
    expect(fake.calls[1]).toMatchObject({ method: 'GET', path: `/${m.id}`, query: { phone_number_id: PNID }, authorized: true });
    expect(fake.downloads.map((x) => x.status)).toEqual([404, 200]);
  });

  it('without a url: the two-step download; the name comes from the ref or the type', async () => {
    const pdf = new Uint8Array(Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(9000)]));
    const m = fake.addMedia('8359482778505744', pdf, 'application/pdf');
    const d = await adapter.download(channel, { kind: 'document', mediaId: m.id });
    expect(Buffer.from(d.bytes).equals(Buffer.from(pdf))).toBe(true);
    expect(d).toMatchObject({ filename: 'document-8359482778505744.pdf', mimeType: 'application/pdf' });
    expect(fake.calls.map((c) => c.kind)).toEqual(['media-info', 'cdn']);
  });

  it('a url outside Meta / the API origin never gets the token: the media id is used instead', async () => {
    const bytes = new Uint8Array(randomBytes(1000));
    const m = fake.addMedia('555000111', bytes, 'image/png');
    const seen: string[] = [];
    const spy: typeof fetch = async (input, init) => {
      seen.push(String(input));
      return fetch(input, init);
    };
    const a = createWhatsAppAdapter({ baseUrl: fake.baseUrl, fetch: spy, media: LOOPBACK_MEDIA });
    const d = await a.download(channel, { kind: 'image', mediaId: m.id, url: 'https://attacker.example.com/steal?mid=555000111' });
    expect(Buffer.from(d.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(seen.some((u) => u.includes('attacker.example.com'))).toBe(false);
    expect(seen[0]).toBe(`${fake.baseUrl}/555000111?phone_number_id=${PNID}`);
  });

  it('a webhook URL that fails falls back to GET /<media-id>', async () => {
    const m = fake.addMedia('777000222', new Uint8Array([7, 7, 7]), 'image/jpeg');
    fake.failNextHttp('cdn', 503);
    const d = await adapter.download(channel, { kind: 'image', mediaId: m.id, url: m.url });
    expect(d.bytes).toEqual(new Uint8Array([7, 7, 7]));
  });

  it('unknown media id → permanent; CDN 5xx → transient; CDN without the token → 401', async () => {
    const e1 = await rejection(adapter.download(channel, { kind: 'image', mediaId: '404404404' }));
    expect(e1).toBeInstanceOf(ChannelPermanentError);
    expect(e1).toMatchObject({ channelCode: 100 });

    const m = fake.addMedia('777000111', new Uint8Array([1, 2, 3]), 'image/jpeg');
    // The webhook URL fails, then the fresh URL from GET /<media-id> fails too: transient.
    fake.failNextHttp('cdn', 503, 2);
    const e2 = await rejection(adapter.download(channel, { kind: 'image', mediaId: m.id, url: m.url }));
    expect(e2).toBeInstanceOf(ChannelTransientError);
    expect(e2).toMatchObject({ channelCode: 'http_503' });

    const anonymous = await fetch(m.url);
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();
    expect(await rejection(adapter.download(channel, { kind: 'image' }))).toMatchObject({ channelCode: 'no_media_id' });
  });
});

describe('WhatsApp adapter – media policy', () => {
  it('by default only Meta and VK CDN hosts are fetched: a download URL on loopback from GET /<media-id> is refused', async () => {
    const m = fake.addMedia('880000111', new Uint8Array([1, 2, 3]), 'image/jpeg');
    const strict = createWhatsAppAdapter({ baseUrl: fake.baseUrl });
    const err = await rejection(strict.download(channel, { kind: 'image', mediaId: m.id, url: m.url }));
    expect(err).toBeInstanceOf(MediaRefusedError);
    expect(err).toMatchObject({ reason: 'host', explanation: 'host "127.0.0.1" is not in MEDIA_ALLOWED_HOSTS' });
    // The Graph API itself was asked (trusted as configured); the CDN never was.
    expect(fake.calls.map((c) => c.kind)).toEqual(['media-info']);
  });

  it('a file over MAX_MEDIA_BYTES is refused by the size GET /<media-id> announces, and never downloaded', async () => {
    const m = fake.addMedia('880000222', new Uint8Array(5000), 'application/pdf');
    const small = createWhatsAppAdapter({ baseUrl: fake.baseUrl, media: mediaPolicy({ allowedHosts: ['127.0.0.1'], maxBytes: 1000 }) });
    const err = await rejection(small.download(channel, { kind: 'document', mediaId: m.id }));
    expect(err).toMatchObject({ reason: 'too_large', explanation: 'the file is 5,000 bytes, more than MAX_MEDIA_BYTES (1,000 bytes)' });
    expect(fake.downloads).toEqual([]);
  });

  it('a webhook url that may not be fetched (file:), without a media id, is refused with the reason', async () => {
    const err = await rejection(adapter.download(channel, { kind: 'image', url: 'file:///etc/hostname' }));
    expect(err).toMatchObject({ reason: 'scheme' });
  });
});

describe('WhatsAppApiClient and the fake', () => {
  it('multipart upload fields: messaging_product, type, file; answer {id}', async () => {
    const api = new WhatsAppApiClient({ baseUrl: fake.baseUrl, accessToken: fake.accessToken });
    const id = await api.uploadMedia(PNID, { bytes: new Uint8Array([1, 2, 3]), filename: 'a.txt', mimeType: 'text/plain' });
    expect(id).toMatch(/^\d+$/);
    expect(fake.uploads[0]).toMatchObject({ id, type: 'text/plain', filename: 'a.txt' });
    const info = await api.getMediaInfo(id);
    expect(info).toMatchObject({ id, mime_type: 'text/plain', file_size: 3, messaging_product: 'whatsapp' });
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the fake refuses shapes the reference forbids', async () => {
    const post = async (body: unknown) => {
      const r = await fetch(`${fake.baseUrl}/${PNID}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fake.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: r.status, json: (await r.json()) as any };
    };
    const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '+79161234567' };
    const audioId = await new WhatsAppApiClient({ baseUrl: fake.baseUrl, accessToken: fake.accessToken }).uploadMedia(PNID, {
      bytes: new Uint8Array([1]),
      filename: 'v.ogg',
      mimeType: 'audio/ogg',
    });
    const cases: Array<[unknown, number]> = [
      [{ ...base, type: 'text', text: {} }, 100],
      [{ to: '+79161234567', type: 'text', text: { body: 'x' } }, 100],
      [{ ...base, type: 'audio', audio: { id: audioId, caption: 'no captions on audio' } }, 100],
      [{ ...base, type: 'image', image: { id: audioId } }, 131053],
      [{ ...base, type: 'image', image: {} }, 100],
      [{ ...base, type: 'text', text: { body: 'x' }, biz_opaque_callback_data: 'x'.repeat(513) }, 100],
      [{ ...base, to: 'abc', type: 'text', text: { body: 'x' } }, 131009],
    ];
    for (const [body, code] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error).toMatchObject({ code, type: 'OAuthException' });
      expect(r.json.error.fbtrace_id).toBeTruthy();
    }
    const ok = await post({ ...base, type: 'text', text: { body: 'x' } });
    expect(ok.json).toMatchObject({ messaging_product: 'whatsapp', contacts: [{ input: '+79161234567', wa_id: '79161234567' }] });
    const read = await post({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.IN' });
    expect(read.json).toEqual({ success: true });
    expect(fake.readReceipts).toEqual([{ phoneNumberId: PNID, messageId: 'wamid.IN', typing: false }]);
  });
});

async function closedPortUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
