import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VkApiClient, classifyVkError } from '../../../channels/vk/api-client.js';
import { createVkAdapter, toRandomId } from '../../../channels/vk/adapter.js';
import { mediaPolicy } from '../../../channels/media-fetch.js';
import { ChannelPermanentError, ChannelTransientError, type ChannelAdapter, type OutboundMessage } from '../../../channels/types.js';
import type { Channel } from '../../../db/schema.js';
import { startFakeVk, type FakeVk } from '../../fakes/vk-api.js';
import { outboundFile, vkChannelRow } from '../../support/channel-rows.js';

const GROUP = 218000001;
/** The fake CDN is on loopback, which the default policy (the real CDNs only) refuses. */
const LOOPBACK_MEDIA = mediaPolicy({ allowedHosts: ['127.0.0.1'] });

const vkChannel = (accessToken: string): Channel => vkChannelRow(GROUP, accessToken);

const file = outboundFile;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

let fake: FakeVk;
let adapter: ChannelAdapter;
let channel: Channel;

beforeAll(async () => {
  fake = await startFakeVk();
  adapter = createVkAdapter({ baseUrl: fake.baseUrl, version: '5.199', media: LOOPBACK_MEDIA });
  channel = vkChannel(fake.accessToken);
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.stop();
});

describe('VK adapter – contract values', () => {
  it('kind, limits, edit support', () => {
    expect(adapter.kind).toBe('vk');
    expect(adapter.capabilities.maxTextLength).toBe(4096);
    expect(adapter.capabilities.filesPerMessage).toBe(10);
    expect(adapter.capabilities.canEdit).toBe(true);
  });
});

describe('VK adapter – fetchProfile', () => {
  it('name "First Last" with screen name and photo, via a form-encoded users.get', async () => {
    const p = await adapter.fetchProfile(channel, '512340001');
    expect(p.name).toBe('Анна Смирнова');
    expect(p.extra).toMatchObject({ vkId: 512340001, screenName: 'anna.smirnova', profileUrl: 'https://vk.com/id512340001' });
    expect(p.extra?.photoUrl).toMatch(/^https:\/\/sun9-35\.userapi\.com\//);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({ method: 'users.get', params: { user_ids: '512340001', fields: 'screen_name,photo_100', v: '5.199' } });
    expect(fake.calls[0]!.params).not.toHaveProperty('access_token');
  });

  it('deleted profiles still get a name', async () => {
    const p = await adapter.fetchProfile(channel, '512340077');
    expect(p.name).toBe('VK user 512340077');
    expect(p.extra).toMatchObject({ deactivated: 'deleted' });
    fake.setProfile(512340078, { first_name: '', last_name: '', deactivated: 'banned' });
    expect((await adapter.fetchProfile(channel, '512340078')).name).toBe('VK user 512340078');
  });

  it('unknown ids get the fake\'s generated name', async () => {
    const p = await adapter.fetchProfile(channel, '600000001');
    expect(p.name).toMatch(/^\S+ \S+$/);
  });

  it('a wrong token is a permanent refusal (error 5)', async () => {
    const err = await rejection(adapter.fetchProfile(vkChannel('revoked-token'), '512340001'));
    expect(err).toBeInstanceOf(ChannelPermanentError);
    expect(err).toMatchObject({ channelCode: 5, meaning: 'refused' });
    expect(String((err as Error).message)).not.toContain('revoked-token');
  });
});

describe('VK adapter – send', () => {
  it('messages.send with peer_id, the exact random_id and the text', async () => {
    const r = await adapter.send(channel, { peerId: '512340001', text: 'Анна, заказ передан курьеру.', files: [], idempotencyKey: '1764203311' });
    expect(fake.sent).toHaveLength(1);
    const m = fake.sent[0]!;
    expect(r).toEqual({ externalId: String(m.messageId) });
    expect(m).toMatchObject({ peerId: 512340001, randomId: 1764203311, text: 'Анна, заказ передан курьеру.', attachments: [] });
    expect(m.params).not.toHaveProperty('peer_ids');
  });

  it('a repeated send with the same key delivers one message and returns the same id', async () => {
    const msg: OutboundMessage = { peerId: '512340001', text: 'Один раз', files: [], idempotencyKey: '42' };
    const a = await adapter.send(channel, msg);
    const b = await adapter.send(channel, msg);
    expect(b.externalId).toBe(a.externalId);
    expect(fake.callCount('messages.send')).toBe(2);
    expect(fake.sent).toHaveLength(1);
  });

  it('reply_to is passed when quoting a message', async () => {
    await adapter.send(channel, { peerId: '512340001', text: 'Ответ', files: [], idempotencyKey: '43', replyToExternalId: '2231' });
    expect(fake.sent[0]).toMatchObject({ replyTo: 2231 });
  });

  it('a photo and a PDF are uploaded byte-exact and attached', async () => {
    const jpeg = new Uint8Array(randomBytes(70_000));
    jpeg.set([0xff, 0xd8, 0xff, 0xe0]);
    const pdf = new Uint8Array(Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(20_000)]));
    const r = await adapter.send(channel, {
      peerId: '512340002',
      text: 'Счёт и фото',
      files: [file('коробка.jpg', 'image/jpeg', jpeg), file('Счёт_45821.pdf', 'application/pdf', pdf)],
      idempotencyKey: '5001',
    });

    expect(fake.uploads).toHaveLength(2);
    const [up1, up2] = fake.uploads;
    expect(up1).toMatchObject({ kind: 'photo', field: 'photo', filename: 'коробка.jpg', mimeType: 'image/jpeg', peerId: 512340002 });
    expect(Buffer.from(up1!.bytes).equals(Buffer.from(jpeg))).toBe(true);
    expect(up2).toMatchObject({ kind: 'doc', uploadType: 'doc', field: 'file', filename: 'Счёт_45821.pdf', mimeType: 'application/pdf' });
    expect(Buffer.from(up2!.bytes).equals(Buffer.from(pdf))).toBe(true);

    const docsSave = fake.calls.find((c) => c.method === 'docs.save');
    expect(docsSave?.params.title).toBe('Счёт_45821.pdf');
    expect(fake.calls.find((c) => c.method === 'photos.getMessagesUploadServer')?.params.peer_id).toBe('512340002');
    expect(fake.calls.find((c) => c.method === 'docs.getMessagesUploadServer')?.params).toMatchObject({ type: 'doc', peer_id: '512340002' });

    expect(fake.sent).toHaveLength(1);
    const m = fake.sent[0]!;
    expect(m.attachments).toHaveLength(2);
    expect(m.attachments[0]).toMatch(/^photo-218000001_\d+_[0-9a-f]+$/);
    expect(m.attachments[1]).toMatch(/^doc-218000001_\d+(_[0-9a-f]+)?$/);
    expect(r).toEqual({ externalId: String(m.messageId), extra: { attachment: m.attachments.join(',') } });
  });

  it('an OGG voice note goes as audio_message; a webp image goes as a document', async () => {
    const ogg = new Uint8Array(Buffer.concat([Buffer.from('OggS'), randomBytes(3000)]));
    const webp = new Uint8Array(Buffer.concat([Buffer.from('RIFF'), randomBytes(3000)]));
    await adapter.send(channel, {
      peerId: '512340001',
      text: '',
      files: [file('voice.ogg', 'audio/ogg; codecs=opus', ogg), file('pic.webp', 'image/webp', webp)],
      idempotencyKey: '5002',
    });
    expect(fake.uploads.map((u) => [u.kind, u.uploadType])).toEqual([
      ['doc', 'audio_message'],
      ['doc', 'doc'],
    ]);
    expect(fake.sent[0]?.attachments).toHaveLength(2);
    expect(fake.sent[0]?.params).not.toHaveProperty('message');
  });

  it('files VK refuses as documents fail permanently before any upload', async () => {
    const err = await rejection(
      adapter.send(channel, { peerId: '512340001', text: 'x', files: [file('song.mp3', 'audio/mpeg', new Uint8Array([1]))], idempotencyKey: '5003' }),
    );
    expect(err).toBeInstanceOf(ChannelPermanentError);
    expect(fake.calls).toHaveLength(0);
  });

  it('a failed upload is transient (redo from step 1)', async () => {
    fake.failNext('upload:doc', 22);
    const err = await rejection(
      adapter.send(channel, { peerId: '512340001', text: 'x', files: [file('a.pdf', 'application/pdf', new Uint8Array([1, 2]))], idempotencyKey: '5004' }),
    );
    expect(err).toBeInstanceOf(ChannelTransientError);
    expect(fake.sent).toHaveLength(0);
  });

  it('a stale photo upload (121 on save) is transient', async () => {
    fake.failNext('photos.saveMessagesPhoto', 121);
    const err = await rejection(
      adapter.send(channel, { peerId: '512340001', text: 'x', files: [file('a.png', 'image/png', new Uint8Array([1, 2]))], idempotencyKey: '5005' }),
    );
    expect(err).toBeInstanceOf(ChannelTransientError);
    expect(err).toMatchObject({ channelCode: 121 });
  });

  it('a send whose answer was lost is retried with the same random_id: one message', async () => {
    const hold = fake.holdNext('messages.send');
    const quick = createVkAdapter({ baseUrl: fake.baseUrl, version: '5.199', timeoutMs: 300 });
    const msg: OutboundMessage = { peerId: '512340001', text: 'Потерянный ответ', files: [], idempotencyKey: '6001' };
    const first = quick.send(channel, msg);
    await hold.arrived;
    const err = await rejection(first);
    expect(err).toBeInstanceOf(ChannelTransientError);
    expect(err).toMatchObject({ channelCode: 'timeout' });
    hold.release();
    await hold.released;
    expect(fake.sent).toHaveLength(1);
    const retry = await adapter.send(channel, msg);
    expect(retry.externalId).toBe(String(fake.sent[0]!.messageId));
    expect(fake.sent).toHaveLength(1);
  });
});

describe('VK adapter – edit', () => {
  it('messages.edit with peer_id, message_id, the new text and the kept attachments', async () => {
    const png = new Uint8Array(randomBytes(500));
    const sent = await adapter.send(channel, {
      peerId: '512340001',
      text: 'Курьер будет с 10:00',
      files: [file('map.png', 'image/png', png)],
      idempotencyKey: '7001',
    });
    await adapter.edit(channel, { peerId: '512340001', externalId: sent.externalId, extra: sent.extra ?? null, text: 'Курьер будет с 12:00' });
    expect(fake.edits).toHaveLength(1);
    expect(fake.edits[0]).toMatchObject({ peerId: 512340001, messageId: Number(sent.externalId), text: 'Курьер будет с 12:00' });
    expect(fake.edits[0]!.params).toMatchObject({ keep_forward_messages: '1', keep_snippets: '1' });
    expect(fake.sent[0]).toMatchObject({ text: 'Курьер будет с 12:00', attachments: [sent.extra?.attachment] });
  });

  it('909 (too old) is a permanent refusal', async () => {
    const sent = await adapter.send(channel, { peerId: '512340001', text: 'a', files: [], idempotencyKey: '7002' });
    fake.failNext('messages.edit', 909);
    const err = await rejection(adapter.edit(channel, { peerId: '512340001', externalId: sent.externalId, text: 'b' }));
    expect(err).toMatchObject({ channelCode: 909, meaning: 'refused' });
    expect(err).toBeInstanceOf(ChannelPermanentError);
  });
});

describe('VK adapter – error classification', () => {
  const msg = (key: string): OutboundMessage => ({ peerId: '512340003', text: 'Привет', files: [], idempotencyKey: key });

  it('6 → transient with retryAfter ≥ 1.1 s; 10 and 1 → transient; 9 → transient with a long wait', async () => {
    fake.failNext('messages.send', 6);
    const e6 = await rejection(adapter.send(channel, msg('8001')));
    expect(e6).toBeInstanceOf(ChannelTransientError);
    expect((e6 as ChannelTransientError).channelCode).toBe(6);
    expect((e6 as ChannelTransientError).retryAfterMs).toBeGreaterThanOrEqual(1100);

    fake.failNext('messages.send', 10);
    const e10 = await rejection(adapter.send(channel, msg('8001')));
    expect(e10).toBeInstanceOf(ChannelTransientError);
    expect(e10).toMatchObject({ channelCode: 10 });

    fake.failNext('messages.send', 1);
    expect(await rejection(adapter.send(channel, msg('8001')))).toBeInstanceOf(ChannelTransientError);

    fake.failNext('messages.send', 9);
    const e9 = await rejection(adapter.send(channel, msg('8001')));
    expect(e9).toBeInstanceOf(ChannelTransientError);
    expect((e9 as ChannelTransientError).retryAfterMs).toBeGreaterThanOrEqual(60_000);

    // After the transient failures the same key still delivers exactly once.
    await adapter.send(channel, msg('8001'));
    expect(fake.sent).toHaveLength(1);
  });

  it('950 → permanent reply_window_closed; 901/902 → permanent messages_denied', async () => {
    fake.setPeerError(512340003, 950);
    const e950 = await rejection(adapter.send(channel, msg('8002')));
    expect(e950).toBeInstanceOf(ChannelPermanentError);
    expect(e950).toMatchObject({ channelCode: 950, meaning: 'reply_window_closed', channelMessage: "Can't send message, reply timed out" });

    fake.setPeerError(512340003, 901);
    const e901 = await rejection(adapter.send(channel, msg('8002')));
    expect(e901).toMatchObject({ channelCode: 901, meaning: 'messages_denied' });

    // The peer check applies to upload servers too: nothing is uploaded.
    const e901f = await rejection(
      adapter.send(channel, { ...msg('8003'), files: [file('a.jpg', 'image/jpeg', new Uint8Array([1]))] }),
    );
    expect(e901f).toMatchObject({ channelCode: 901, meaning: 'messages_denied' });
    expect(fake.uploads).toHaveLength(0);

    fake.setPeerError(512340003, 902);
    expect(await rejection(adapter.send(channel, msg('8002')))).toMatchObject({ channelCode: 902, meaning: 'messages_denied' });
    expect(fake.sent).toHaveLength(0);
  });

  it('914 and 15 → permanent refused', async () => {
    for (const code of [914, 15]) {
      fake.failNext('messages.send', code);
      const err = await rejection(adapter.send(channel, msg('8004')));
      expect(err).toBeInstanceOf(ChannelPermanentError);
      expect(err).toMatchObject({ channelCode: code, meaning: 'refused' });
    }
  });

  it('a text over the limit is refused by VK with 914', async () => {
    const err = await rejection(adapter.send(channel, { ...msg('8005'), text: 'я'.repeat(4097) }));
    expect(err).toMatchObject({ channelCode: 914, meaning: 'refused' });
  });

  it('HTTP 5xx → transient; a closed port → transient network error', async () => {
    fake.failNextHttp('messages.send', 502);
    const e502 = await rejection(adapter.send(channel, msg('8006')));
    expect(e502).toBeInstanceOf(ChannelTransientError);
    expect(e502).toMatchObject({ channelCode: 'http_502' });

    const dead = await closedPortUrl();
    const offline = createVkAdapter({ baseUrl: `${dead}/method`, version: '5.199' });
    const eNet = await rejection(offline.send(channel, msg('8006')));
    expect(eNet).toBeInstanceOf(ChannelTransientError);
    expect(eNet).toMatchObject({ channelCode: 'network' });
  });

  it('classifyVkError table', () => {
    const c = (code: number, method = 'messages.send') => classifyVkError(method, { error_code: code, error_msg: 'x' });
    expect(c(6)).toBeInstanceOf(ChannelTransientError);
    expect(c(18)).toMatchObject({ meaning: 'messages_denied' });
    expect(c(900)).toMatchObject({ meaning: 'messages_denied' });
    expect(c(5)).toMatchObject({ meaning: 'refused' });
    expect(c(14)).toBeInstanceOf(ChannelPermanentError);
    expect(c(121)).toBeInstanceOf(ChannelPermanentError); // only a save method redoes the upload
    expect(c(121, 'photos.saveMessagesPhoto')).toBeInstanceOf(ChannelTransientError);
  });
});

describe('VK adapter – download', () => {
  it('downloads byte-exact, mime from Content-Type', async () => {
    const bytes = new Uint8Array(randomBytes(123_457));
    const url = fake.addFile('impg/abc/photo.jpg', bytes, 'image/jpeg');
    const d = await adapter.download(channel, { kind: 'image', url, filename: 'photo512340002_457239101.jpg', mimeType: 'image/jpeg' });
    expect(Buffer.from(d.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(d).toMatchObject({ filename: 'photo512340002_457239101.jpg', mimeType: 'image/jpeg' });
  });

  it('follows redirects; a generic Content-Type falls back to the ref', async () => {
    const bytes = new Uint8Array(Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(4000)]));
    fake.addFile('psv4/doc/Накладная_45821.pdf', bytes, 'application/octet-stream');
    const url = fake.addRedirect('doc512340002_670001234', 'psv4/doc/Накладная_45821.pdf');
    const d = await adapter.download(channel, { kind: 'document', url, filename: 'Накладная_45821.pdf', mimeType: 'application/pdf' });
    expect(Buffer.from(d.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(d.mimeType).toBe('application/pdf');
    expect(d.filename).toBe('Накладная_45821.pdf');
    expect(fake.downloads.map((x) => x.status)).toEqual([302, 200]);
  });

  it('sends no token', async () => {
    const seen: string[] = [];
    const spy: typeof fetch = async (input, init) => {
      seen.push(String(input));
      return fetch(input, init);
    };
    const a = createVkAdapter({ baseUrl: fake.baseUrl, version: '5.199', fetch: spy, media: LOOPBACK_MEDIA });
    const url = fake.addFile('x/y.bin', new Uint8Array([1, 2, 3]));
    await a.download(channel, { kind: 'other', url });
    expect(seen).toEqual([url]);
    expect(seen[0]).not.toContain(fake.accessToken);
  });

  it('404 / 410 → permanent; 5xx → transient; link-only refs are refused', async () => {
    expect(await rejection(adapter.download(channel, { kind: 'image', url: fake.cdnUrl('missing.jpg') }))).toBeInstanceOf(ChannelPermanentError);
    fake.setFileStatus('gone.jpg', 410);
    expect(await rejection(adapter.download(channel, { kind: 'image', url: fake.cdnUrl('gone.jpg') }))).toMatchObject({ channelCode: 'http_410' });
    fake.setFileStatus('busy.jpg', 503);
    const e503 = await rejection(adapter.download(channel, { kind: 'image', url: fake.cdnUrl('busy.jpg') }));
    expect(e503).toBeInstanceOf(ChannelTransientError);
    expect(
      await rejection(adapter.download(channel, { kind: 'video', url: 'https://vk.com/video-1_2', linkOnly: true })),
    ).toBeInstanceOf(ChannelPermanentError);
  });
});

describe('VkApiClient', () => {
  it('posts form-encoded with v and access_token, unwraps response', async () => {
    const bodies: string[] = [];
    const api = new VkApiClient({
      baseUrl: fake.baseUrl,
      version: '5.199',
      accessToken: fake.accessToken,
      fetch: async (input, init) => {
        bodies.push(String(init?.body));
        expect(new Headers(init?.headers).get('content-type')).toBe('application/x-www-form-urlencoded');
        expect(String(input)).toBe(`${fake.baseUrl}/users.get`);
        return fetch(input, init);
      },
    });
    const users = await api.call<Array<{ id: number }>>('users.get', { user_ids: '512340001', skip: undefined, flag: true });
    expect(users[0]?.id).toBe(512340001);
    const form = new URLSearchParams(bodies[0]);
    expect(form.get('v')).toBe('5.199');
    expect(form.get('access_token')).toBe(fake.accessToken);
    expect(form.get('flag')).toBe('1');
    expect(form.has('skip')).toBe(false);
  });

  it('an upload host answer without the envelope is returned as is; {error} is transient', async () => {
    const api = new VkApiClient({ baseUrl: fake.baseUrl, version: '5.199', accessToken: fake.accessToken });
    const server = await api.call<{ upload_url: string }>('docs.getMessagesUploadServer', { type: 'doc', peer_id: 512340001 });
    const up = await api.uploadFile(server.upload_url, 'file', { bytes: new Uint8Array([9, 8, 7]), filename: 'a.txt', mimeType: 'text/plain' });
    expect(typeof up.file).toBe('string');
    // Upload URLs are single-use in the fake: a second POST answers {error}.
    const err = await rejection(api.uploadFile(server.upload_url, 'file', { bytes: new Uint8Array([1]), filename: 'a.txt', mimeType: 'text/plain' }));
    expect(err).toBeInstanceOf(ChannelTransientError);
  });
});

describe('fake VK – reference behaviour', () => {
  it('messages.send without random_id is error 100; JSON bodies are not read', async () => {
    const form = new URLSearchParams({ peer_id: '512340001', message: 'hi', v: '5.199', access_token: fake.accessToken });
    const r1 = (await (await fetch(`${fake.baseUrl}/messages.send`, { method: 'POST', body: form })).json()) as any;
    expect(r1.error.error_code).toBe(100);
    expect(r1.error.error_msg).toContain('random_id');
    expect(r1.error.request_params).toContainEqual({ key: 'method', value: 'messages.send' });
    expect(JSON.stringify(r1)).not.toContain(fake.accessToken);
    const r2 = (await (
      await fetch(`${fake.baseUrl}/users.get`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user_ids: '1', v: '5.199', access_token: fake.accessToken }),
      })
    ).json()) as any;
    expect(r2.error.error_code).toBe(5);
  });

  it('POSTs message_reply to a configured callback URL after a send', async () => {
    const received: unknown[] = [];
    const hook = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        received.push(JSON.parse(data));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      fake.setCallback({ url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhooks/vk`, secret: 's3cr3t-fixture' });
      const r = await adapter.send(channel, { peerId: '512340001', text: 'Эхо', files: [], idempotencyKey: '9001' });
      await fake.waitFor(() => fake.callbackDeliveries[0]?.responseText, 5000, 'callback delivery');
      expect(received[0]).toMatchObject({
        type: 'message_reply',
        group_id: GROUP,
        secret: 's3cr3t-fixture',
        object: { id: Number(r.externalId), out: 1, peer_id: 512340001, random_id: 9001, text: 'Эхо', from_id: -GROUP },
      });
    } finally {
      fake.setCallback(null);
      await new Promise<void>((r) => hook.close(() => r()));
    }
  });

  it('toRandomId keeps int32 keys and hashes others stably', () => {
    expect(toRandomId('1418522903')).toBe(1418522903);
    const h = toRandomId('delivery-abc');
    expect(h).toBe(toRandomId('delivery-abc'));
    expect(h).toBeGreaterThan(0);
    expect(h).toBeLessThan(2 ** 31);
    expect(toRandomId(String(2 ** 31))).toBeLessThan(2 ** 31);
  });
});

async function closedPortUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
