/**
 * VK publications whose comments become tasks (rules 17–19; reference §3.5, §6.4, §6.5, §9):
 * reading a wall post, photo, video or board topic once for the task, and answering wall
 * comments as the community with `wall.createComment`.
 *
 * Only wall comments can be answered with a community token: `photos/video/board.createComment`
 * are user-token methods (§6.5), so the capabilities answer `['wall']` and the caller sends the agent to
 * the comment's link instead. Files in replies are not supported: a wall comment takes wall
 * photo / document uploads (`photos.getWallUploadServer`...), not the message uploads the
 * adapter implements, so `reply` refuses files permanently (`files_not_supported`) rather than
 * posting the text without them.
 */
import type { Channel } from '../../db/schema.js';
import type { MediaRef, PublicationRef } from '../../workflows/shared/types.js';
import { ChannelPermanentError, ChannelTransientError, type PublicationInfo, type PublicationSupport, type SendResult } from '../types.js';
import { arrayOrEmpty, isObject } from '../http.js';
import { quote } from '../text.js';
import { vkClientForChannel, type VkApiClient, type VkChannelClientOptions } from './api-client.js';
import { vkItemUrl, vkPublicationUrl } from './links.js';
import { renderVkContent, renderVkText } from './render.js';

export interface VkPublicationsOptions {
  /** e.g. `https://api.vk.com/method`. */
  baseUrl: string;
  /** e.g. `5.199`. */
  version: string;
  fetch?: typeof fetch;
  /** Per API call; default 20 s. */
  timeoutMs?: number;
}

/** Longest task title taken from a publication's text. */
export const VK_PUBLICATION_TITLE_MAX = 100;

/**
 * `fetch` never fails for a publication VK will not show (deleted, private, or a method the
 * community token may not call: `video.get` often answers 27/15): a permanent refusal or an empty
 * answer gives a minimal info (a generic title and the link). Transient failures are thrown, to
 * be retried.
 */
export function createVkPublications(opts: VkPublicationsOptions): PublicationSupport {
  const clientOpts: VkChannelClientOptions = {
    baseUrl: opts.baseUrl,
    version: opts.version,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  };

  async function fetchInfo(channel: Channel, ref: PublicationRef): Promise<PublicationInfo> {
    checkRef(ref);
    const api = vkClientForChannel(channel, clientOpts);
    try {
      const info = await fetchByKind(api, ref);
      return info ?? minimalInfo(ref);
    } catch (err) {
      if (err instanceof ChannelPermanentError) return minimalInfo(ref);
      throw err;
    }
  }

  async function reply(
    channel: Channel,
    ref: PublicationRef,
    request: Parameters<PublicationSupport['reply']>[2],
  ): Promise<SendResult> {
    checkRef(ref);
    if (ref.kind !== 'wall') {
      throw new ChannelPermanentError('reply_in_vk', `VK ${ref.kind} comments can only be answered in VK: ${vkPublicationUrl(ref)}`, 'refused');
    }
    if (ref.ownerId >= 0) {
      throw new ChannelPermanentError('not_community_wall', `wall ${ref.ownerId} is not a community wall`, 'refused');
    }
    if (request.files.length > 0) {
      throw new ChannelPermanentError('files_not_supported', 'files cannot be attached to a VK wall comment from taskwire; add them in VK', 'refused');
    }
    if (request.text.trim() === '') throw new ChannelPermanentError('empty_message', 'a VK comment needs text', 'refused');
    const replyTo = request.replyToCommentId === '' ? undefined : toId(request.replyToCommentId);
    if (request.replyToCommentId !== '' && replyTo === undefined) {
      throw new ChannelPermanentError('bad_comment_id', `not a VK comment id: ${request.replyToCommentId}`, 'refused');
    }
    const groupId = Math.abs(ref.ownerId);
    const res = await vkClientForChannel(channel, clientOpts).call<unknown>('wall.createComment', {
      owner_id: -groupId,
      post_id: ref.itemId,
      from_group: groupId,
      message: request.text,
      reply_to_comment: replyTo,
      // §6.4: VK does not post a second comment with the same guid, so a retried activity is safe.
      guid: request.idempotencyKey,
    });
    const commentId = isObject(res) ? res.comment_id : undefined;
    if (typeof commentId !== 'number' || !(commentId > 0)) {
      throw new ChannelTransientError('bad_response', `VK wall.createComment: unexpected answer ${JSON.stringify(res)}`);
    }
    const parentsStack = isObject(res) && Array.isArray(res.parents_stack) ? res.parents_stack.filter((x): x is number => typeof x === 'number') : [];
    return { externalId: String(commentId), extra: { parentsStack } };
  }

  return {
    fetch: fetchInfo,
    reply,
  };
}

/** One publication, or undefined when VK answered without it. */
async function fetchByKind(api: VkApiClient, ref: PublicationRef): Promise<PublicationInfo | undefined> {
  const id = `${ref.ownerId}_${ref.itemId}`;
  const url = vkPublicationUrl(ref);
  const groupId = Math.abs(ref.ownerId);
  switch (ref.kind) {
    case 'wall': {
      const post = pick(await api.call<unknown>('wall.getById', { posts: id }), ref);
      if (!post) return undefined;
      const rendered = renderVkContent(str(post.text), arrayOrEmpty(post.attachments));
      const blocks = rendered.text ? [rendered.text] : [];
      const media = [...rendered.media];
      // A repost: the reposted post is the content.
      const copy = arrayOrEmpty(post.copy_history).find(isObject);
      if (copy) {
        const inner = renderVkContent(str(copy.text), arrayOrEmpty(copy.attachments));
        const owner = num(copy.owner_id) ?? num(copy.from_id);
        const copyId = num(copy.id);
        const link = owner !== undefined && copyId !== undefined ? ` ${vkItemUrl('wall', owner, copyId)}` : '';
        blocks.push(`Repost of${link}:\n${quote(inner.text)}`);
        media.push(...inner.media);
      }
      const text = blocks.join('\n\n');
      return { title: titleFrom(text, ref), text, url, media };
    }
    case 'photo': {
      const photo = pick(await api.call<unknown>('photos.getById', { photos: id }), ref);
      if (!photo) return undefined;
      const text = renderVkText(str(photo.text)).trim();
      const { media } = renderVkContent('', [{ type: 'photo', photo }]);
      return { title: titleFrom(text, ref), text, url, media };
    }
    case 'video': {
      const video = pick(await api.call<unknown>('video.get', { videos: id }), ref);
      if (!video) return undefined;
      const text = renderVkText(str(video.description)).trim();
      const title = str(video.title).trim();
      // The video itself has no downloadable file with a community token (§4): the link is `url`.
      return { title: title ? truncate(title) : titleFrom(text, ref), text, url, media: [] };
    }
    case 'topic': {
      const res = await api.call<unknown>('board.getTopics', {
        group_id: groupId,
        topic_ids: ref.itemId,
        // First post of the topic, full text (preview_length 0 = not shortened).
        preview: 1,
        preview_length: 0,
      });
      const topic = pick(res, ref);
      if (!topic) return undefined;
      const first = isObject(topic.first_comment) ? str(topic.first_comment.text) : str(topic.first_comment);
      const text = renderVkText(first).trim();
      const title = str(topic.title).trim();
      return { title: title ? truncate(title) : titleFrom(text, ref), text, url, media: [] };
    }
  }
}

/** The item with the ref's id from an answer that is `{items: [...]}` or a bare array (5.199 shapes differ per method). */
function pick(res: unknown, ref: PublicationRef): Record<string, unknown> | undefined {
  const items = Array.isArray(res) ? res : isObject(res) && Array.isArray(res.items) ? res.items : [];
  const objects = items.filter(isObject);
  return objects.find((o) => num(o.id) === ref.itemId) ?? (objects.length === 1 ? objects[0] : undefined);
}

function minimalInfo(ref: PublicationRef): PublicationInfo {
  return { title: fallbackTitle(ref), text: '', url: vkPublicationUrl(ref), media: [] as MediaRef[] };
}

const KIND_NAMES: Record<PublicationRef['kind'], string> = { wall: 'Post', photo: 'Photo', video: 'Video', topic: 'Topic' };

function fallbackTitle(ref: PublicationRef): string {
  return `${KIND_NAMES[ref.kind]} ${ref.ownerId}_${ref.itemId}`;
}

/** The first non-empty line of `text`, at most VK_PUBLICATION_TITLE_MAX characters; the fallback title when there is none. */
function titleFrom(text: string, ref: PublicationRef): string {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return line ? truncate(line) : fallbackTitle(ref);
}

function truncate(line: string): string {
  const chars = [...line];
  if (chars.length <= VK_PUBLICATION_TITLE_MAX) return line;
  return `${chars.slice(0, VK_PUBLICATION_TITLE_MAX - 1).join('').trimEnd()}…`;
}

function checkRef(ref: PublicationRef): void {
  if (!Number.isSafeInteger(ref.ownerId) || ref.ownerId === 0 || !Number.isSafeInteger(ref.itemId) || ref.itemId <= 0) {
    throw new ChannelPermanentError('bad_publication', `not a VK publication: ${ref.kind} ${ref.ownerId}_${ref.itemId}`, 'refused');
  }
}

function toId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n > 0 && Number.isSafeInteger(n) ? n : undefined;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
