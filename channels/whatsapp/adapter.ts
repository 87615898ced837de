/**
 * The WhatsApp Cloud API implementation of the channel contract (channels/types.ts): sending text,
 * one file per message (uploaded, then sent by media id) and template messages; downloading inbound
 * media. The channel row gives the phone number id (`external_id`) and the token (`credentials`).
 *
 * Cloud API has no idempotency on sends: `biz_opaque_callback_data` carries the delivery's key so
 * status webhooks can be matched even when the HTTP answer was lost, but a retried send after a
 * lost answer is a second message. Editing and deleting sent messages does not exist (§12).
 */
import type { Channel } from '../../db/schema.js';
import type { MediaRef } from '../../workflows/shared/types.js';
import { whatsAppCapabilities } from './capabilities.js';
import {
  ChannelPermanentError,
  ChannelTransientError,
  type ChannelAdapter,
  type DownloadedFile,
  type OutboundMessage,
  type Profile,
  type SendResult,
} from '../types.js';
import { WhatsAppApiClient, type FetchedMedia, type GraphSendResponse } from './api-client.js';
import { GENERIC_MIME, baseMime, extensionFor, pickMime } from '../mime.js';
import { sanitizeFilename } from '../filenames.js';
import { phoneFromDigits } from '../phone.js';
import { filenameFromDisposition } from '../http.js';
import { DEFAULT_MEDIA_POLICY, MediaRefusedError, checkMediaUrl, formatBytes, mediaUrlAllowed, type MediaFetchPolicy } from '../media-fetch.js';

export interface WhatsAppAdapterOptions {
  /** e.g. `https://graph.facebook.com/v21.0`. */
  baseUrl: string;
  fetch?: typeof fetch;
  /** Per API call; default 20 s. */
  timeoutMs?: number;
  /** Per upload; default 120 s. */
  uploadTimeoutMs?: number;
  /** Per media download; default 60 s. */
  downloadTimeoutMs?: number;
  userAgent?: string;
  /**
   * May the access token be sent to this webhook-supplied media `url`? Default: HTTPS on Meta's
   * domains (§8.1: lookaside.fbsbx.com, *.fbcdn.net...) or the API's own origin. URLs that fail go
   * through `GET /<media-id>` instead.
   */
  isTrustedMediaUrl?: (url: URL) => boolean;
  /**
   * Allowed media hosts (MEDIA_ALLOWED_HOSTS), size cap, tries; default Meta's and VK's CDNs, 100 MB.
   * Both the webhook `url` and the URL `GET /<media-id>` returns must be on an allowed host.
   */
  media?: MediaFetchPolicy;
}

/** §4: text body ≤ 4096 characters. */
export const WHATSAPP_MAX_TEXT_LENGTH = 4096;
/** §4: captions ≤ 1024 characters (image, video, document only). */
export const WHATSAPP_MAX_CAPTION_LENGTH = 1024;
/** §10: `biz_opaque_callback_data` ≤ 512 characters. */
const MAX_CALLBACK_DATA = 512;

export type WhatsAppMediaType = 'image' | 'video' | 'audio' | 'sticker' | 'document';

/** §8.3: what each message type accepts and how large it may be. */
const MB = 1024 * 1024;
const IMAGE_MIME = new Set(['image/jpeg', 'image/png']);
const VIDEO_MIME = new Set(['video/mp4', 'video/3gpp']);
const AUDIO_MIME = new Set(['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg']);
const MIME_ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'audio/mp3': 'audio/mpeg',
  'audio/x-m4a': 'audio/mp4',
  'audio/m4a': 'audio/mp4',
  'audio/opus': 'audio/ogg',
};
const LIMITS: Record<WhatsAppMediaType, number> = {
  image: 5 * MB,
  video: 16 * MB,
  audio: 16 * MB,
  // 100 KB static / 500 KB animated; we cannot tell which, so the larger bound (Meta refuses the rest with 131053).
  sticker: 500 * 1024,
  document: 100 * MB,
};

/** The MIME type as Cloud API names it: lowercase, no parameters, common aliases folded. */
export function normalizeMime(mimeType: string): string {
  const m = baseMime(mimeType || GENERIC_MIME);
  return MIME_ALIASES[m] ?? m;
}

/**
 * How a file travels (§4, §8.3): JPEG/PNG as an image, MP4/3GPP as a video, supported audio as
 * audio, WebP as a sticker, each within its size limit; everything else (and anything too large
 * for its own type) as a document, which takes any type up to 100 MB.
 */
export function whatsAppMediaType(mimeType: string, size: number): WhatsAppMediaType {
  const mime = normalizeMime(mimeType);
  const fits = (t: WhatsAppMediaType) => size <= LIMITS[t];
  if (IMAGE_MIME.has(mime) && fits('image')) return 'image';
  if (VIDEO_MIME.has(mime) && fits('video')) return 'video';
  if (AUDIO_MIME.has(mime) && fits('audio')) return 'audio';
  if (mime === 'image/webp' && fits('sticker')) return 'sticker';
  return 'document';
}

/** Only images, videos and documents carry a caption (§4); audio and stickers cannot. */
export function canCarryCaption(type: WhatsAppMediaType): boolean {
  return type === 'image' || type === 'video' || type === 'document';
}

const META_MEDIA_DOMAINS = ['fbsbx.com', 'fbcdn.net', 'facebook.com', 'whatsapp.net', 'whatsapp.com'];

type OutboundFile = OutboundMessage['files'][number];

export function createWhatsAppAdapter(opts: WhatsAppAdapterOptions): ChannelAdapter {
  const apiOrigin = new URL(opts.baseUrl).origin;
  const mediaPolicy = opts.media ?? DEFAULT_MEDIA_POLICY;
  const isTrusted =
    opts.isTrustedMediaUrl ??
    ((u: URL) =>
      u.origin === apiOrigin ||
      (u.protocol === 'https:' && META_MEDIA_DOMAINS.some((d) => u.hostname === d || u.hostname.endsWith(`.${d}`))));

  function client(channel: Channel): WhatsAppApiClient {
    const creds = channel.credentials;
    if (creds.kind !== 'whatsapp' || !creds.accessToken) {
      throw new ChannelPermanentError('misconfigured', `channel ${channel.id} has no WhatsApp access token`, 'refused');
    }
    if (!channel.external_id) {
      throw new ChannelPermanentError('misconfigured', `channel ${channel.id} has no WhatsApp phone number id`, 'refused');
    }
    return new WhatsAppApiClient({
      baseUrl: opts.baseUrl,
      accessToken: creds.accessToken,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.uploadTimeoutMs !== undefined ? { uploadTimeoutMs: opts.uploadTimeoutMs } : {}),
      ...(opts.downloadTimeoutMs !== undefined ? { downloadTimeoutMs: opts.downloadTimeoutMs } : {}),
      ...(opts.userAgent ? { userAgent: opts.userAgent } : {}),
      media: mediaPolicy,
    });
  }

  /** WhatsApp has no profile API: the number is all we know (the webhook's profile name is passed as a hint before this). */
  async function fetchProfile(_channel: Channel, peerId: string): Promise<Profile> {
    const phone = phoneFromDigits(peerId);
    return { name: phone, phone };
  }

  async function download(channel: Channel, media: MediaRef): Promise<DownloadedFile> {
    const api = client(channel);
    let fetched: FetchedMedia | undefined;
    let infoMime: string | undefined;

    // The webhook `url` (when present) can be fetched directly with the token (§8.1 step 3); its
    // lifetime and reachability are undocumented, so any failure there (refusal, expiry, network)
    // falls back to a fresh URL from GET /<media-id>, the documented path. A URL that is not on an
    // allowed host, or not one the token may go to, is never fetched.
    const direct = media.url ? trustedUrl(media.url) : undefined;
    if (direct) {
      try {
        fetched = await api.fetchMedia(direct);
      } catch (err) {
        // Too large stays too large: no second download of the same file.
        if (!media.mediaId || (err instanceof MediaRefusedError && err.reason === 'too_large')) throw err;
      }
    }
    if (!fetched) {
      if (!media.mediaId) {
        // A url we will not fetch names the reason (host, scheme); none at all is a broken event.
        if (media.url) checkMediaUrl(media.url, mediaPolicy);
        throw new ChannelPermanentError('no_media_id', `WhatsApp ${media.kind} has no media id to download`, 'refused');
      }
      // The Graph API itself is trusted as configured; the download URL it returns must be allowed.
      const info = await api.getMediaInfo(media.mediaId, channel.external_id);
      infoMime = info.mime_type;
      const size = Number(info.file_size);
      if (Number.isFinite(size) && size > mediaPolicy.maxBytes) {
        throw new MediaRefusedError('too_large', `the file is ${formatBytes(size)}, more than MAX_MEDIA_BYTES (${formatBytes(mediaPolicy.maxBytes)})`);
      }
      fetched = await api.fetchMedia(info.url);
    }

    const served = filenameFromDisposition(fetched.contentDisposition);
    const mimeType = pickMime(fetched.contentType, media.mimeType ?? infoMime, media.filename ?? served);
    const filename =
      media.filename ?? sanitizeFilename(served ?? '', mimeType) ?? `${media.kind}-${media.mediaId ?? 'file'}${extensionFor(mimeType)}`;
    return { bytes: fetched.bytes, filename, mimeType };
  }

  function trustedUrl(raw: string): string | undefined {
    try {
      const u = new URL(raw);
      return isTrusted(u) && mediaUrlAllowed(raw, mediaPolicy) ? u.toString() : undefined;
    } catch {
      return undefined;
    }
  }

  async function send(channel: Channel, message: OutboundMessage): Promise<SendResult> {
    const api = client(channel);
    const pnid = channel.external_id;
    const base: Record<string, unknown> = { messaging_product: 'whatsapp', recipient_type: 'individual', to: toRecipient(message.peerId) };
    const callbackData = message.idempotencyKey ? message.idempotencyKey.slice(0, MAX_CALLBACK_DATA) : undefined;
    // The quote goes on the first message this call sends.
    let context: { message_id: string } | undefined = message.replyToExternalId ? { message_id: message.replyToExternalId } : undefined;
    const post = async (typed: Record<string, unknown>, callback = callbackData): Promise<GraphSendResponse> => {
      const body = { ...base, ...typed, ...(context ? { context } : {}), ...(callback ? { biz_opaque_callback_data: callback } : {}) };
      context = undefined;
      return api.sendMessage(pnid, body);
    };

    if (message.template) {
      if (message.files.length) throw new ChannelPermanentError('template_with_files', 'a WhatsApp template message cannot carry files', 'refused');
      const t = message.template;
      const params = t.parameters ?? [];
      const template: Record<string, unknown> = { name: t.name, language: { code: t.language } };
      if (params.length) template.components = [{ type: 'body', parameters: params.map((text) => ({ type: 'text', text })) }];
      return result(await post({ type: 'template', template }));
    }

    if (message.files.length > 1) {
      throw new ChannelPermanentError('too_many_files', 'WhatsApp takes one file per message', 'refused');
    }
    const file = message.files[0];
    if (!file) {
      if (!message.text) throw new ChannelPermanentError('empty_message', 'nothing to send: no text, file or template', 'refused');
      return result(await post({ type: 'text', text: { body: message.text, preview_url: true } }));
    }

    const type = whatsAppMediaType(file.mimeType, file.bytes.byteLength);
    if (file.bytes.byteLength > LIMITS.document) {
      throw new ChannelPermanentError('file_too_large', `${file.filename} is larger than WhatsApp's 100 MB limit`, 'refused');
    }
    // Upload first: repeating an upload on a retry is harmless, a repeated message is not.
    const mediaId = await api.uploadMedia(pnid, { bytes: file.bytes, filename: uploadFilename(file), mimeType: uploadMime(type, file.mimeType) });

    const captioned = canCarryCaption(type) && message.text.length <= WHATSAPP_MAX_CAPTION_LENGTH;
    let leadingTextId: string | undefined;
    if (message.text && !captioned) {
      // Audio and stickers cannot carry a caption (and a caption has 1024 characters): the text goes
      // as its own message just before the file, so the customer reads it first. Its callback data
      // differs from the key so its statuses are not taken for the delivery's (the file's) ones.
      const key = callbackData ? `${callbackData.slice(0, MAX_CALLBACK_DATA - 5)}:text` : undefined;
      const sent = await post({ type: 'text', text: { body: message.text, preview_url: true } }, key);
      leadingTextId = sent.messages?.[0]?.id;
    }
    const media: Record<string, unknown> = { id: mediaId };
    if (captioned && message.text) media.caption = message.text;
    if (type === 'document') media.filename = file.filename || 'file';
    if (type === 'audio' && normalizeMime(file.mimeType) === 'audio/ogg') media.voice = true;
    const r = result(await post({ type, [type]: media }));
    if (leadingTextId) r.extra = { ...r.extra, textMessageId: leadingTextId };
    return r;
  }

  async function edit(): Promise<void> {
    throw new ChannelPermanentError('edit_not_supported', 'WhatsApp messages cannot be edited once sent (the Cloud API has no edit)', 'refused');
  }

  return {
    kind: 'whatsapp',
    capabilities: whatsAppCapabilities,
    fetchProfile,
    download,
    mediaPolicy,
    send,
    edit,
  };
}

/** §4.1: `messages[0].id` is the wamid every later status refers to; `contacts[0].wa_id` may differ from the input. */
function result(res: GraphSendResponse): SendResult {
  const id = res?.messages?.[0]?.id;
  if (typeof id !== 'string' || !id) throw new ChannelTransientError('bad_response', 'WhatsApp send: no message id in the answer');
  const extra: Record<string, unknown> = {};
  const waId = res.contacts?.[0]?.wa_id;
  if (waId) extra.waId = waId;
  const status = res.messages?.[0]?.message_status;
  if (status) extra.messageStatus = status;
  return Object.keys(extra).length ? { externalId: id, extra } : { externalId: id };
}

/** §11.1: `+` and the wa_id digits (without `+` the business number's country code may be prepended). */
export function toRecipient(peerId: string): string {
  const digits = peerId.trim().replace(/^\+/, '');
  if (!/^\d{5,20}$/.test(digits)) throw new ChannelPermanentError('bad_peer', `not a WhatsApp number: ${peerId}`, 'refused');
  return `+${digits}`;
}

/** Types the media endpoint takes as they are: the §8.3 image / video / audio / sticker types, documents. */
function acceptedUploadType(mime: string): boolean {
  return IMAGE_MIME.has(mime) || VIDEO_MIME.has(mime) || AUDIO_MIME.has(mime) || mime === 'image/webp' || mime.startsWith('application/') || mime.startsWith('text/');
}

/**
 * The `type` declared on upload. A file sent as a document whose own type the media endpoint does
 * not list (a GIF, a QuickTime video, a WAV) is declared as generic binary: its filename keeps the
 * extension the customer sees, and the declared type does not claim a media kind it is not.
 */
function uploadMime(type: WhatsAppMediaType, mimeType: string): string {
  const mime = normalizeMime(mimeType);
  return type === 'document' && !acceptedUploadType(mime) ? GENERIC_MIME : mime;
}

/** The uploaded file's name: the stored one, with an extension from its type when it has none. */
function uploadFilename(file: OutboundFile): string {
  return sanitizeFilename(file.filename || '', normalizeMime(file.mimeType)) ?? `file${extensionFor(normalizeMime(file.mimeType))}`;
}
