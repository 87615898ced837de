/**
 * The VK implementation of the channel contract (channels/types.ts): profiles, media download,
 * sending (with uploads) and editing private messages with a community token; publication
 * comment threads through `publications` (channels/vk/publications.ts).
 */
import type { Channel } from '../../db/schema.js';
import type { MediaRef } from '../../workflows/shared/types.js';
import { vkCapabilities } from './capabilities.js';
import {
  ChannelPermanentError,
  ChannelTransientError,
  type ChannelAdapter,
  type DownloadedFile,
  type EditRequest,
  type OutboundMessage,
  type Profile,
  type SendResult,
} from '../types.js';
import { VkApiClient, vkClientForChannel } from './api-client.js';
import { createVkPublications } from './publications.js';
import { filenameFromDisposition } from '../http.js';
import { filenameFromUrl } from '../filenames.js';
import { baseMime, pickMime } from '../mime.js';
import { fnv1a32 } from '../text.js';
import { vkProfileUrl } from './links.js';
import { DEFAULT_MEDIA_POLICY, fetchMediaFile, type MediaFetchPolicy } from '../media-fetch.js';

export interface VkAdapterOptions {
  /** e.g. `https://api.vk.com/method`. */
  baseUrl: string;
  /** e.g. `5.199`. */
  version: string;
  fetch?: typeof fetch;
  /** Per API call; default 20 s. */
  timeoutMs?: number;
  /** Per media download (every redirect hop and the body); default 30 s. */
  downloadTimeoutMs?: number;
  /** Allowed hosts, size cap, tries (MEDIA_ALLOWED_HOSTS...); default the VK and Meta CDNs, 100 MB. */
  media?: MediaFetchPolicy;
}

/** §8: SDKs split at 4096 characters; error 914 above that. */
export const VK_MAX_TEXT_LENGTH = 4096;
/** §6.1/§8: 10 attachments per message (VK clients' cap; the API limit is unconfirmed). */
export const VK_MAX_ATTACHMENTS = 10;
/** §6.7 limits, checked before uploading so an impossible file fails clearly instead of retrying. */
const MAX_PHOTO_BYTES = 50 * 1024 * 1024;
const MAX_DOC_BYTES = 200 * 1024 * 1024;
/** Formats VK takes as message photos; other images go as documents. */
const PHOTO_MIME = new Set(['image/jpeg', 'image/jpg', 'image/pjpeg', 'image/png', 'image/gif']);
/** §6.7: documents may be "any format except MP3 and executables". */
const FORBIDDEN_DOC_EXT = /\.(mp3|exe|bat|cmd|com|msi|scr|apk|sh)$/i;

type OutboundFile = OutboundMessage['files'][number];

export function createVkAdapter(opts: VkAdapterOptions): ChannelAdapter {
  const fetchFn = opts.fetch ?? globalThis.fetch;
  const downloadTimeoutMs = opts.downloadTimeoutMs ?? 30_000;
  const mediaPolicy = opts.media ?? DEFAULT_MEDIA_POLICY;

  function client(channel: Channel): VkApiClient {
    return vkClientForChannel(channel, { ...opts, fetch: fetchFn });
  }

  async function fetchProfile(channel: Channel, peerId: string): Promise<Profile> {
    return (await fetchProfiles(channel, [peerId]))[peerId]!;
  }

  /** §2 users.get: up to 1,000 ids per call; unknown or deleted users get a placeholder name. */
  async function fetchProfiles(channel: Channel, peerIds: string[]): Promise<Record<string, Profile>> {
    const out: Record<string, Profile> = {};
    for (let i = 0; i < peerIds.length; i += 1000) {
      const ids = peerIds.slice(i, i + 1000);
      const users = await client(channel).call<VkUser[]>('users.get', { user_ids: ids.join(','), fields: 'screen_name,photo_100' });
      const byId = new Map((Array.isArray(users) ? users : []).map((u) => [String(u.id), u]));
      for (const id of ids) out[id] = toProfile(id, ids.length === 1 && Array.isArray(users) ? (users[0] ?? undefined) : byId.get(id));
    }
    return out;
  }

  function toProfile(peerId: string, user: VkUser | undefined): Profile {
    const fallback = `VK user ${peerId}`;
    if (!user) return { name: fallback, extra: { vkId: Number(peerId), profileUrl: vkProfileUrl(peerId) } };
    const first = (user.first_name ?? '').trim();
    const last = (user.last_name ?? '').trim();
    const placeholder = first === '' || (user.deactivated !== undefined && first === 'DELETED');
    const name = placeholder ? fallback : `${first} ${last}`.trim();
    const extra: Record<string, unknown> = { vkId: user.id ?? Number(peerId), profileUrl: vkProfileUrl(user.id ?? peerId) };
    if (user.screen_name) extra.screenName = user.screen_name;
    if (user.photo_100) extra.photoUrl = user.photo_100;
    if (user.deactivated) extra.deactivated = user.deactivated;
    return { name, extra };
  }

  async function download(_channel: Channel, media: MediaRef): Promise<DownloadedFile> {
    if (media.linkOnly || !media.url) {
      throw new ChannelPermanentError('no_file', `VK ${media.kind} has no downloadable file`, 'refused');
    }
    // §4: signed CDN links; plain GET, follow redirects (vk.com/doc… → *.userapi.com), no token.
    const res = await fetchMediaFile(media.url, { policy: mediaPolicy, fetch: fetchFn, timeoutMs: downloadTimeoutMs, what: 'VK download' });
    const filename = media.filename ?? filenameFromDisposition(res.contentDisposition) ?? filenameFromUrl(res.url) ?? 'file';
    return { bytes: res.bytes, filename, mimeType: pickMime(res.contentType, media.mimeType, filename) };
  }

  async function send(channel: Channel, message: OutboundMessage): Promise<SendResult> {
    const api = client(channel);
    const peerId = toPeerId(message.peerId);
    if (message.files.length > VK_MAX_ATTACHMENTS) {
      throw new ChannelPermanentError('too_many_files', `VK takes at most ${VK_MAX_ATTACHMENTS} files per message`, 'refused');
    }
    const attachments: string[] = [];
    // Uploads are repeated on a retry (new attachment ids); messages.send stays idempotent through random_id.
    for (const file of message.files) attachments.push(await uploadAttachment(api, peerId, file));

    const replyTo = message.replyToExternalId && /^\d+$/.test(message.replyToExternalId) ? Number(message.replyToExternalId) : undefined;
    const messageId = await api.call<number>('messages.send', {
      peer_id: peerId,
      random_id: toRandomId(message.idempotencyKey),
      message: message.text === '' ? undefined : message.text,
      attachment: attachments.length ? attachments.join(',') : undefined,
      reply_to: replyTo,
    });
    if (typeof messageId !== 'number' || !(messageId > 0)) {
      throw new ChannelTransientError('bad_response', `VK messages.send: unexpected answer ${JSON.stringify(messageId)}`);
    }
    // messages.edit replaces the attachment list (§6.2): keep it so an edit can pass it again.
    const result: SendResult = { externalId: String(messageId) };
    if (attachments.length) result.extra = { attachment: attachments.join(',') };
    return result;
  }

  async function edit(channel: Channel, request: EditRequest): Promise<void> {
    const attachment = typeof request.extra?.attachment === 'string' ? request.extra.attachment : undefined;
    const cmid = request.extra?.conversationMessageId;
    if (!/^\d+$/.test(request.externalId)) {
      throw new ChannelPermanentError('bad_message_id', `not a VK message id: ${request.externalId}`, 'refused');
    }
    await client(channel).call<number>('messages.edit', {
      peer_id: toPeerId(request.peerId),
      message_id: Number(request.externalId),
      conversation_message_id: typeof cmid === 'number' ? cmid : undefined,
      message: request.text,
      attachment,
      keep_forward_messages: 1,
      keep_snippets: 1,
    });
  }

  return {
    kind: 'vk',
    capabilities: vkCapabilities,
    fetchProfile,
    fetchProfiles,
    download,
    mediaPolicy,
    send,
    edit,
    publications: createVkPublications({ ...opts, fetch: fetchFn }),
  };
}

interface VkUser {
  id?: number;
  first_name?: string;
  last_name?: string;
  deactivated?: string;
  screen_name?: string;
  photo_100?: string;
}

/** One file → an attachment string (§6.7): photos through the photo flow, the rest as documents. */
async function uploadAttachment(api: VkApiClient, peerId: number, file: OutboundFile): Promise<string> {
  const mime = baseMime(file.mimeType);
  const payload = { bytes: file.bytes, filename: file.filename, mimeType: file.mimeType };

  if (PHOTO_MIME.has(mime) && file.bytes.byteLength <= MAX_PHOTO_BYTES) {
    const server = await api.call<{ upload_url: string }>('photos.getMessagesUploadServer', { peer_id: peerId });
    const up = await api.uploadFile(requireUrl(server), 'photo', payload);
    if (typeof up.photo !== 'string' || up.photo === '' || up.photo === '[]' || up.server === undefined || !up.hash) {
      throw new ChannelTransientError('upload_error', 'VK photo upload returned no photo');
    }
    const saved = await api.call<Array<{ id: number; owner_id: number; access_key?: string }>>('photos.saveMessagesPhoto', {
      photo: up.photo,
      server: up.server,
      hash: up.hash,
    });
    const photo = Array.isArray(saved) ? saved[0] : undefined;
    if (!photo) throw new ChannelTransientError('bad_response', 'VK photos.saveMessagesPhoto returned nothing');
    return `photo${photo.owner_id}_${photo.id}${photo.access_key ? `_${photo.access_key}` : ''}`;
  }

  const voice = mime === 'audio/ogg' || mime === 'audio/opus';
  if (!voice && FORBIDDEN_DOC_EXT.test(file.filename)) {
    throw new ChannelPermanentError('unsupported_file', `VK does not accept ${file.filename} as a document`, 'refused');
  }
  if (file.bytes.byteLength > MAX_DOC_BYTES) {
    throw new ChannelPermanentError('file_too_large', `${file.filename} is larger than VK's 200 MB limit`, 'refused');
  }
  const server = await api.call<{ upload_url: string }>('docs.getMessagesUploadServer', {
    type: voice ? 'audio_message' : 'doc',
    peer_id: peerId,
  });
  const up = await api.uploadFile(requireUrl(server), 'file', payload);
  if (typeof up.file !== 'string' || up.file === '') throw new ChannelTransientError('upload_error', 'VK document upload returned no file');
  const saved = await api.call<Record<string, unknown>>('docs.save', { file: up.file, title: file.filename });
  const type = typeof saved?.type === 'string' ? saved.type : 'doc';
  const doc = (saved?.[type] ?? saved?.doc) as { id?: number; owner_id?: number; access_key?: string } | undefined;
  if (!doc || typeof doc.id !== 'number' || typeof doc.owner_id !== 'number') {
    throw new ChannelTransientError('bad_response', 'VK docs.save returned no document');
  }
  // §6.7: `doc{owner_id}_{id}`, plus `_{access_key}` when VK returned one.
  return `doc${doc.owner_id}_${doc.id}${doc.access_key ? `_${doc.access_key}` : ''}`;
}

function requireUrl(server: { upload_url?: unknown } | undefined): string {
  if (!server || typeof server.upload_url !== 'string' || !server.upload_url) {
    throw new ChannelTransientError('bad_response', 'VK upload server: no upload_url');
  }
  return server.upload_url;
}

function toPeerId(peerId: string): number {
  if (!/^-?\d+$/.test(peerId)) throw new ChannelPermanentError('bad_peer', `not a VK peer id: ${peerId}`, 'refused');
  return Number(peerId);
}

const INT31 = 2 ** 31;

/**
 * `random_id` from the delivery's idempotency key (§6.1: stable positive int32, reused on retries).
 * Deliveries ids are positive integers below 2^31 and are used as they are; anything else is
 * hashed (FNV-1a) into the same range so the value stays stable across retries.
 */
export function toRandomId(key: string): number {
  if (/^\d+$/.test(key)) {
    const n = Number(key);
    if (n > 0 && n < INT31) return n;
  }
  return (fnv1a32(key) % (INT31 - 1)) + 1;
}
