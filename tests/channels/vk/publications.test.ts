import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createVkAdapter } from '../../../channels/vk/adapter.js';
import { mediaPolicy } from '../../../channels/media-fetch.js';
import { parseVkCallback, type VkPublicationCallback } from '../../../channels/vk/callback.js';
import { createVkPublications, VK_PUBLICATION_TITLE_MAX } from '../../../channels/vk/publications.js';
import { vkCapabilities } from '../../../channels/vk/capabilities.js';
import { vkCommentUrl } from '../../../channels/vk/links.js';
import { ChannelPermanentError, ChannelTransientError, type ChannelAdapter, type PublicationSupport } from '../../../channels/types.js';
import type { Channel } from '../../../db/schema.js';
import type { PublicationRef } from '../../../workflows/shared/types.js';
import { startFakeVk, type FakeVk } from '../../fakes/vk-api.js';
import { vkChannelRow } from '../../support/channel-rows.js';

const GROUP = 218000001;
const OWNER = -GROUP;
const POST: PublicationRef = { kind: 'wall', ownerId: OWNER, itemId: 1542 };
const PHOTO: PublicationRef = { kind: 'photo', ownerId: OWNER, itemId: 457240321 };
const VIDEO: PublicationRef = { kind: 'video', ownerId: OWNER, itemId: 456239045 };
const TOPIC: PublicationRef = { kind: 'topic', ownerId: OWNER, itemId: 49876543 };

const vkChannel = (accessToken: string): Channel => vkChannelRow(GROUP, accessToken);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A fetch that answers every VK call with `response` (to try answer shapes the fake does not produce). */
function answering(response: unknown): typeof fetch {
  return async () => new Response(JSON.stringify({ response }), { status: 200, headers: { 'content-type': 'application/json' } });
}

let fake: FakeVk;
let adapter: ChannelAdapter;
let pubs: PublicationSupport;
let channel: Channel;

beforeAll(async () => {
  fake = await startFakeVk();
  adapter = createVkAdapter({ baseUrl: fake.baseUrl, version: '5.199', media: mediaPolicy({ allowedHosts: ['127.0.0.1'] }) });
  pubs = adapter.publications!;
  channel = vkChannel(fake.accessToken);
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.stop();
});

describe('VK publications – contract', () => {
  it('the adapter carries publication support; only wall comments can be answered', () => {
    expect(pubs).toBeDefined();
    expect(vkCapabilities.publications?.answerable).toEqual(['wall']);
  });

  it('comment links (§9)', () => {
    expect(vkCommentUrl(POST, '3310')).toBe('https://vk.com/wall-218000001_1542?reply=3310');
    expect(vkCommentUrl(POST, '3312', '3310')).toBe('https://vk.com/wall-218000001_1542?reply=3312&thread=3310');
    expect(vkCommentUrl(PHOTO, '871')).toBe('https://vk.com/photo-218000001_457240321');
    expect(vkCommentUrl(VIDEO, '214')).toBe('https://vk.com/video-218000001_456239045');
    expect(vkCommentUrl(TOPIC, '38')).toBe('https://vk.com/topic-218000001_49876543?post=38');
  });
});

describe('VK publications – fetch', () => {
  it('wall post 1542: first line as title, text, link, its photo as a downloadable file', async () => {
    const info = await pubs.fetch(channel, POST);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({ method: 'wall.getById', params: { posts: '-218000001_1542', v: '5.199' } });
    const post = fake.getPublication('wall', OWNER, 1542)!;
    const photo = (post.attachments as any[])[0].photo;
    const big = photo.sizes.find((s: { type: string }) => s.type === 'z');
    expect(info).toEqual({
      title: 'Доставка по всей России 🚚',
      text: 'Доставка по всей России 🚚\nСчитаем стоимость и сроки доставки в ваш город — спрашивайте в комментариях!',
      url: 'https://vk.com/wall-218000001_1542',
      media: [{ kind: 'image', url: big.url, filename: 'photo-218000001_457240300.jpg', mimeType: 'image/jpeg' }],
    });
    // The photo is served by the fake CDN: the adapter downloads it like message media.
    const file = await adapter.download(channel, info.media[0]!);
    expect(file).toMatchObject({ filename: 'photo-218000001_457240300.jpg', mimeType: 'image/jpeg' });
    expect(file.bytes.byteLength).toBe(48_000);
    expect([...file.bytes.slice(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  });

  it('wall post: empty text → "Post <owner>_<id>"; long first line cut to 100 chars; videos link-only, docs as files', async () => {
    fake.setPublication('wall', OWNER, 1600, {
      text: '',
      attachments: [
        { type: 'video', video: { id: 456239046, owner_id: OWNER, title: 'Обзор' } },
        { type: 'doc', doc: { id: 670002009, owner_id: OWNER, title: 'Прайс.pdf', ext: 'pdf', url: fake.cdnUrl('docs/price.pdf'), type: 1 } },
      ],
    });
    const empty = await pubs.fetch(channel, { kind: 'wall', ownerId: OWNER, itemId: 1600 });
    expect(empty.title).toBe('Post -218000001_1600');
    expect(empty.text).toBe('');
    expect(empty.media).toEqual([
      { kind: 'video', url: 'https://vk.com/video-218000001_456239046', linkOnly: true, filename: 'Обзор' },
      { kind: 'document', url: fake.cdnUrl('docs/price.pdf'), filename: 'Прайс.pdf', mimeType: 'application/pdf' },
    ]);

    const long = `\n  ${'Очень длинный заголовок поста '.repeat(10)}\nвторая строка [id512340004|Сергей]`;
    fake.setPublication('wall', OWNER, 1601, { text: long });
    const info = await pubs.fetch(channel, { kind: 'wall', ownerId: OWNER, itemId: 1601 });
    expect([...info.title]).toHaveLength(VK_PUBLICATION_TITLE_MAX);
    expect(info.title.endsWith('…')).toBe(true);
    expect(info.title.startsWith('Очень длинный заголовок поста Очень')).toBe(true);
    expect(info.text.endsWith('вторая строка Сергей')).toBe(true);
  });

  it('a repost: the reposted text is quoted and its files collected', async () => {
    fake.setPublication('wall', OWNER, 1602, {
      text: 'Смотрите, что пишут',
      copy_history: [
        {
          id: 77,
          owner_id: -1,
          text: 'Распродажа',
          attachments: [{ type: 'photo', photo: { id: 5, owner_id: -1, sizes: [{ type: 'x', url: 'https://sun9/r.jpg', width: 604, height: 400 }] } }],
        },
      ],
    });
    const info = await pubs.fetch(channel, { kind: 'wall', ownerId: OWNER, itemId: 1602 });
    expect(info.title).toBe('Смотрите, что пишут');
    expect(info.text).toBe('Смотрите, что пишут\n\nRepost of https://vk.com/wall-1_77:\n> Распродажа');
    expect(info.media.map((m) => m.url)).toEqual(['https://sun9/r.jpg']);
  });

  it('wall.getById answered as a bare array (older shape) is read too', async () => {
    const p = createVkPublications({ baseUrl: fake.baseUrl, version: '5.199', fetch: answering([{ id: 1542, owner_id: OWNER, text: 'Из массива' }]) });
    expect(await p.fetch(channel, POST)).toEqual({ title: 'Из массива', text: 'Из массива', url: 'https://vk.com/wall-218000001_1542', media: [] });
  });

  it('a post VK does not show (deleted / private) → minimal info with the link', async () => {
    fake.setPublication('wall', OWNER, 1603, null);
    expect(await pubs.fetch(channel, { kind: 'wall', ownerId: OWNER, itemId: 1603 })).toEqual({
      title: 'Post -218000001_1603',
      text: '',
      url: 'https://vk.com/wall-218000001_1603',
      media: [],
    });
  });

  it('photo 457240321: caption as title and text, the photo itself as the file', async () => {
    const info = await pubs.fetch(channel, PHOTO);
    expect(fake.calls[0]).toMatchObject({ method: 'photos.getById', params: { photos: '-218000001_457240321' } });
    const photo = fake.getPublication('photo', OWNER, 457240321)!;
    const big = (photo.sizes as Array<{ type: string; url: string }>).find((s) => s.type === 'z')!;
    expect(info).toEqual({
      title: 'Диван «Осло», 220×95 см',
      text: 'Диван «Осло», 220×95 см\nВ наличии бежевый и синий.',
      url: 'https://vk.com/photo-218000001_457240321',
      media: [{ kind: 'image', url: big.url, filename: 'photo-218000001_457240321.jpg', mimeType: 'image/jpeg' }],
    });
    expect((await adapter.download(channel, info.media[0]!)).bytes.byteLength).toBe(64_000);
  });

  it('a photo without caption → "Photo <owner>_<id>"', async () => {
    fake.setPublication('photo', OWNER, 457240399, { text: '', sizes: [{ type: 'x', url: 'https://sun9/p.jpg', width: 604, height: 400 }] });
    const info = await pubs.fetch(channel, { kind: 'photo', ownerId: OWNER, itemId: 457240399 });
    expect(info.title).toBe('Photo -218000001_457240399');
    expect(info.media).toHaveLength(1);
  });

  it('video 456239045: title and description, no file', async () => {
    const info = await pubs.fetch(channel, VIDEO);
    expect(fake.calls[0]).toMatchObject({ method: 'video.get', params: { videos: '-218000001_456239045' } });
    expect(info).toEqual({
      title: 'Как раскладывается диван «Осло»',
      text: 'Механизм «еврокнижка»: раскладываем за 10 секунд.',
      url: 'https://vk.com/video-218000001_456239045',
      media: [],
    });
  });

  it('video.get refused for a community token (27) → minimal info, never an error; transient failures are thrown', async () => {
    fake.failNext('video.get', 27);
    expect(await pubs.fetch(channel, VIDEO)).toEqual({
      title: 'Video -218000001_456239045',
      text: '',
      url: 'https://vk.com/video-218000001_456239045',
      media: [],
    });
    fake.failNext('video.get', 15);
    expect((await pubs.fetch(channel, VIDEO)).title).toBe('Video -218000001_456239045');
    fake.failNext('video.get', 10);
    expect(await rejection(pubs.fetch(channel, VIDEO))).toBeInstanceOf(ChannelTransientError);
    fake.failNextHttp('wall.getById', 502);
    expect(await rejection(pubs.fetch(channel, POST))).toBeInstanceOf(ChannelTransientError);
  });

  it('topic 49876543: board.getTopics with the positive group id; title from the topic, text its first post', async () => {
    const info = await pubs.fetch(channel, TOPIC);
    expect(fake.calls[0]).toMatchObject({
      method: 'board.getTopics',
      params: { group_id: '218000001', topic_ids: '49876543', preview: '1', preview_length: '0' },
    });
    expect(info).toEqual({
      title: 'Возврат и обмен товара',
      text: 'Здесь отвечаем на вопросы о возврате и обмене. Укажите номер заказа или возврата.',
      url: 'https://vk.com/topic-218000001_49876543',
      media: [],
    });
  });

  it('a channel without a token is a permanent misconfiguration', async () => {
    const err = await rejection(pubs.fetch(vkChannel(''), POST));
    expect(err).toMatchObject({ channelCode: 'misconfigured' });
  });
});

describe('VK publications – reply', () => {
  const reply = (key: string, text = 'Сергей, доставка в Казань 350 ₽, 3–4 дня.') => ({ replyToCommentId: '3310', text, files: [], idempotencyKey: key });

  it('wall.createComment as the community under the right post, answering the comment, with the guid', async () => {
    const r = await pubs.reply(channel, POST, reply('reply-7f3c9a'));
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({
      method: 'wall.createComment',
      params: {
        owner_id: '-218000001',
        post_id: '1542',
        from_group: '218000001',
        reply_to_comment: '3310',
        guid: 'reply-7f3c9a',
        message: 'Сергей, доставка в Казань 350 ₽, 3–4 дня.',
      },
    });
    expect(fake.wallComments).toHaveLength(1);
    const c = fake.wallComments[0]!;
    expect(c).toMatchObject({ ownerId: OWNER, postId: 1542, fromGroup: GROUP, replyToComment: 3310, guid: 'reply-7f3c9a', parentsStack: [3310] });
    expect(r).toEqual({ externalId: String(c.commentId), extra: { parentsStack: [3310] } });
  });

  it('a repeated guid is one comment with the same id', async () => {
    const a = await pubs.reply(channel, POST, reply('guid-1'));
    const b = await pubs.reply(channel, POST, reply('guid-1'));
    expect(b).toEqual(a);
    expect(fake.callCount('wall.createComment')).toBe(2);
    expect(fake.wallComments).toHaveLength(1);
    const c = await pubs.reply(channel, POST, reply('guid-2'));
    expect(c.externalId).not.toBe(a.externalId);
    expect(fake.wallComments).toHaveLength(2);
  });

  it('an answer whose reply was lost is retried with the same guid: one comment', async () => {
    const hold = fake.holdNext('wall.createComment');
    const quick = createVkPublications({ baseUrl: fake.baseUrl, version: '5.199', timeoutMs: 300 });
    const first = quick.reply(channel, POST, reply('guid-lost'));
    await hold.arrived;
    expect(await rejection(first)).toMatchObject({ channelCode: 'timeout' });
    hold.release();
    await hold.released;
    const retry = await pubs.reply(channel, POST, reply('guid-lost'));
    expect(fake.wallComments).toHaveLength(1);
    expect(retry.externalId).toBe(String(fake.wallComments[0]!.commentId));
  });

  it('without replyToCommentId the comment is top-level', async () => {
    const r = await pubs.reply(channel, POST, { ...reply('guid-top'), replyToCommentId: '' });
    expect(fake.calls[0]!.params).not.toHaveProperty('reply_to_comment');
    expect(r.extra).toEqual({ parentsStack: [] });
  });

  it('213 / 212 / 222 / 223 → permanent refusals; 6 → transient', async () => {
    for (const code of [213, 212, 222, 223]) {
      fake.failNext('wall.createComment', code);
      const err = await rejection(pubs.reply(channel, POST, reply(`e-${code}`)));
      expect(err).toBeInstanceOf(ChannelPermanentError);
      expect(err).toMatchObject({ channelCode: code, meaning: 'refused' });
    }
    fake.failNext('wall.createComment', 6);
    expect(await rejection(pubs.reply(channel, POST, reply('e-6')))).toBeInstanceOf(ChannelTransientError);
    expect(fake.wallComments).toHaveLength(0);
  });

  it('replies under a photo, video or topic, with files, or without text are refused before any call', async () => {
    for (const ref of [PHOTO, VIDEO, TOPIC]) {
      const err = await rejection(pubs.reply(channel, ref, reply('x')));
      expect(err).toBeInstanceOf(ChannelPermanentError);
      expect(err).toMatchObject({ channelCode: 'reply_in_vk' });
    }
    const withFile = { ...reply('y'), files: [{ sha256: 'x'.repeat(64), filename: 'a.jpg', mimeType: 'image/jpeg', size: 1, bytes: new Uint8Array([1]) }] };
    expect(await rejection(pubs.reply(channel, POST, withFile))).toMatchObject({ channelCode: 'files_not_supported' });
    expect(await rejection(pubs.reply(channel, POST, reply('z', '  ')))).toMatchObject({ channelCode: 'empty_message' });
    expect(await rejection(pubs.reply(channel, POST, { ...reply('w'), replyToCommentId: 'abc' }))).toMatchObject({ channelCode: 'bad_comment_id' });
    expect(await rejection(pubs.reply(channel, { kind: 'wall', ownerId: 512340004, itemId: 1 }, reply('v')))).toMatchObject({ channelCode: 'not_community_wall' });
    expect(fake.calls).toHaveLength(0);
  });
});

describe('fake VK – publications', () => {
  async function call(method: string, params: Record<string, string>): Promise<any> {
    const form = new URLSearchParams({ ...params, v: '5.199', access_token: fake.accessToken });
    return (await fetch(`${fake.baseUrl}/${method}`, { method: 'POST', body: form })).json();
  }

  it('wall.createComment needs a negative owner_id, a post_id and the community as from_group', async () => {
    expect((await call('wall.createComment', { owner_id: '218000001', post_id: '1542', from_group: '218000001', message: 'a' })).error.error_code).toBe(100);
    expect((await call('wall.createComment', { owner_id: '-218000001', from_group: '218000001', message: 'a' })).error.error_code).toBe(100);
    expect((await call('wall.createComment', { owner_id: '-218000001', post_id: '1542', message: 'a' })).error.error_code).toBe(100);
    expect((await call('wall.createComment', { owner_id: '-218000001', post_id: '1542', from_group: '-218000001', message: 'a' })).error.error_code).toBe(100);
    expect((await call('wall.createComment', { owner_id: '-218000001', post_id: '1542', from_group: '218000001' })).error.error_code).toBe(100);
    const ok = await call('wall.createComment', { owner_id: '-218000001', post_id: '1542', from_group: '218000001', message: 'a' });
    expect(ok.response).toEqual({ comment_id: expect.any(Number), parents_stack: [] });
    expect(fake.wallComments).toHaveLength(1);
    expect(fake.wallComments[0]).not.toHaveProperty('guid');
  });

  it('a reply to a reply joins the thread of the root comment', async () => {
    const a = await pubs.reply(channel, POST, { replyToCommentId: '3310', text: 'a', files: [], idempotencyKey: 't1' });
    const b = await pubs.reply(channel, POST, { replyToCommentId: a.externalId, text: 'b', files: [], idempotencyKey: 't2' });
    expect(b.extra).toEqual({ parentsStack: [3310] });
  });

  it('the new comment comes back as wall_reply_new from the community (from_id = -group_id)', async () => {
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
      const r = await pubs.reply(channel, POST, { replyToCommentId: '3310', text: 'Ответ', files: [], idempotencyKey: 'echo-1' });
      await fake.waitFor(() => fake.callbackDeliveries[0]?.responseText, 5000, 'callback delivery');
      // A repeated guid posts nothing, so nothing is echoed again.
      await pubs.reply(channel, POST, { replyToCommentId: '3310', text: 'Ответ', files: [], idempotencyKey: 'echo-1' });
      expect(fake.callbackDeliveries).toHaveLength(1);
      const parsed = parseVkCallback(received[0]) as VkPublicationCallback;
      expect(parsed).toMatchObject({ type: 'publication', secret: 's3cr3t-fixture', publication: POST, eventType: 'wall_reply_new' });
      expect(parsed.event).toMatchObject({
        action: 'new',
        commentId: r.externalId,
        fromId: '-218000001',
        text: 'Ответ',
        replyToCommentId: '3310',
        externalUrl: `https://vk.com/wall-218000001_1542?reply=${r.externalId}&thread=3310`,
      });
    } finally {
      fake.setCallback(null);
      await new Promise<void>((r) => hook.close(() => r()));
    }
  });

  it('get methods leave out unknown publications; board.getTopics shortens the preview unless preview_length is 0', async () => {
    expect((await call('wall.getById', { posts: '-218000001_999999' })).response).toEqual({ items: [] });
    expect((await call('photos.getById', { photos: '-218000001_1' })).response).toEqual([]);
    expect((await call('video.get', { videos: '-218000001_1' })).response).toEqual({ count: 0, items: [] });
    expect((await call('wall.getById', {})).error.error_code).toBe(100);
    fake.setPublication('topic', OWNER, 49876544, { title: 'Длинная тема', first_comment: 'я'.repeat(200) });
    const short = await call('board.getTopics', { group_id: '218000001', topic_ids: '49876544', preview: '1' });
    expect([...short.response.items[0].first_comment]).toHaveLength(90);
    const full = await call('board.getTopics', { group_id: '218000001', topic_ids: '49876544', preview: '1', preview_length: '0' });
    expect([...full.response.items[0].first_comment]).toHaveLength(200);
    const none = await call('board.getTopics', { group_id: '218000001', topic_ids: '49876543' });
    expect(none.response.items[0]).not.toHaveProperty('first_comment');
  });
});
