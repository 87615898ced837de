/**
 * The Telegram Bot API implementation of the channel contract (channels/types.ts): text replies
 * (`sendMessage`), one file per message with a caption (`sendPhoto` / `sendVideo` / `sendVoice` /
 * `sendAudio` / `sendDocument`, chosen by MIME type and size), edits of both (`editMessageText`,
 * `editMessageCaption`; "message is not modified" is a success), and inbound file downloads
 * (`getFile`, then the file URL) within the cloud Bot API's 20 MB limit. The channel row's
 * credentials give the bot token (channels/telegram/credentials.ts).
 *
 * Double sends. The Bot API has no idempotency key, and a bot never receives its own messages in
 * updates, so nothing tells a retry whether the first attempt was delivered. The window is the
 * single HTTP exchange of one send: the request reached Telegram but its answer was not recorded
 * (the worker died mid-request, a timeout, a lost connection, a 5xx from a proxy after Telegram
 * acted). This adapter keeps it that narrow: it never retries a send itself, sends one API message
 * per delivery (the pipeline splits texts and files beforehand, so `maxTextLength`,
 * `filesPerMessage` and `maxCaptionLength` below decide the split), and it marks errors whose
 * outcome is known apart: a 429 (code 429, numeric: Telegram answered, nothing was sent) or any
 * 4xx is an answer; `timeout`, `network` and `http_5xx` (string codes) are an unknown outcome.
 * Only the fallback of a refused photo to a document makes a second call, after a 400 (nothing sent).
 */
import type { Channel } from '../../db/schema.js';
import type { MediaRef } from '../../workflows/shared/types.js';
import { ChannelPermanentError, type ChannelAdapter, type DownloadedFile, type EditRequest, type OutboundMessage, type Profile, type SendResult } from '../types.js';
import { DEFAULT_MEDIA_POLICY, formatBytes, MediaRefusedError, type MediaFetchPolicy } from '../media-fetch.js';
import { isFileTooBig, TELEGRAM_MAX_DOWNLOAD_BYTES, TelegramApiClient, type TgSentMessage } from './api-client.js';
import { telegramCapabilities } from './capabilities.js';
import { telegramCredentialsSchema } from './credentials.js';
import { personName, telegramMessageId } from './updates.js';

export interface TelegramAdapterOptions {
  /** `TELEGRAM_API_BASE_URL`, default `https://api.telegram.org`. */
  baseUrl: string;
  fetch?: typeof fetch;
  /** Per API call; default 20 s. */
  timeoutMs?: number;
  /** Per upload; default 120 s. */
  uploadTimeoutMs?: number;
  /** Per file download; default 60 s. */
  downloadTimeoutMs?: number;
  /** MAX_MEDIA_BYTES and tries (the API host itself is allowed for downloads). */
  media?: MediaFetchPolicy;
}

/** The contract with this channel's kind; assignable to `ChannelAdapter` once `'telegram'` is a ChannelKind. */
export type TelegramAdapter = ChannelAdapter;

/** `sendMessage` text: ≤ 4096 characters. */
export const TELEGRAM_MAX_TEXT_LENGTH = telegramCapabilities.maxTextLength;
/** Captions of photos, videos, audio, voice and documents: ≤ 1024 characters. */
export const TELEGRAM_MAX_CAPTION_LENGTH = telegramCapabilities.maxCaptionLength;
const MB = 1024 * 1024;
/** Uploads through the cloud Bot API: 50 MB; photos 10 MB (larger ones go as documents). */
export const TELEGRAM_MAX_UPLOAD_BYTES = 50 * MB;
const MAX_PHOTO_BYTES = 10 * MB;

export interface TelegramSendMethod {
  method: 'sendPhoto' | 'sendVideo' | 'sendVoice' | 'sendAudio' | 'sendDocument';
  /** The multipart field the file goes in. */
  field: 'photo' | 'video' | 'voice' | 'audio' | 'document';
}

const DOCUMENT: TelegramSendMethod = { method: 'sendDocument', field: 'document' };
const BY_MIME: Record<string, TelegramSendMethod> = {
  'image/jpeg': { method: 'sendPhoto', field: 'photo' },
  'image/png': { method: 'sendPhoto', field: 'photo' },
  'video/mp4': { method: 'sendVideo', field: 'video' },
  'audio/ogg': { method: 'sendVoice', field: 'voice' },
  'audio/mpeg': { method: 'sendAudio', field: 'audio' },
  'audio/mp4': { method: 'sendAudio', field: 'audio' },
  'audio/x-m4a': { method: 'sendAudio', field: 'audio' },
};

/** How a file travels: JPEG/PNG up to 10 MB as a photo, MP4 as a video, OGG as voice, MP3/M4A as audio, the rest as a document. */
export function telegramSendMethod(mimeType: string, size: number): TelegramSendMethod {
  const mime = (mimeType.split(';')[0] ?? '').trim().toLowerCase();
  const m = BY_MIME[mime];
  if (!m || (m.field === 'photo' && size > MAX_PHOTO_BYTES)) return DOCUMENT;
  return m;
}

export function createTelegramAdapter(opts: TelegramAdapterOptions): TelegramAdapter {
  const mediaPolicy = opts.media ?? DEFAULT_MEDIA_POLICY;

  function client(channel: Channel): TelegramApiClient {
    const creds = telegramCredentialsSchema.safeParse(channel.credentials);
    if (!creds.success) throw new ChannelPermanentError('misconfigured', `channel ${channel.id} has no valid Telegram bot token`, 'refused');
    return new TelegramApiClient({
      baseUrl: opts.baseUrl,
      botToken: creds.data.botToken,
      media: mediaPolicy,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.uploadTimeoutMs !== undefined ? { uploadTimeoutMs: opts.uploadTimeoutMs } : {}),
      ...(opts.downloadTimeoutMs !== undefined ? { downloadTimeoutMs: opts.downloadTimeoutMs } : {}),
    });
  }

  /** Rarely needed: every message's `from` carries the name. `getChat` for a person known by id only. */
  async function fetchProfile(channel: Channel, peerId: string): Promise<Profile> {
    const chat = await client(channel).getChat(toChatId(peerId));
    const name = personName(chat) ?? (chat.username ? `@${chat.username}` : `Telegram ${peerId}`);
    return chat.username ? { name, extra: { username: chat.username } } : { name };
  }

  async function download(channel: Channel, media: MediaRef): Promise<DownloadedFile> {
    if (!media.mediaId) throw new ChannelPermanentError('no_media_id', `Telegram ${media.kind} has no file id to download`, 'refused');
    checkSize(media, media.size);
    const api = client(channel);
    let info;
    try {
      info = await api.getFile(media.mediaId);
    } catch (err) {
      if (isFileTooBig(err)) throw tooBigForBots(media);
      throw err;
    }
    checkSize(media, info.file_size);
    if (!info.file_path) throw new ChannelPermanentError('no_file_path', 'Telegram gave no path to download the file from', 'refused');
    const fetched = await api.downloadFile(info.file_path);
    const served = fetched.contentType?.split(';')[0]?.trim().toLowerCase();
    const mimeType = media.mimeType ?? (served && served !== 'application/octet-stream' ? served : 'application/octet-stream');
    const filename = media.filename ?? info.file_path.split('/').pop() ?? `${media.kind}-${media.mediaId}`;
    return { bytes: fetched.bytes, filename, mimeType };
  }

  /** A size the update or getFile announced, over Telegram's 20 MB or MAX_MEDIA_BYTES: refused before any download. */
  function checkSize(media: MediaRef, size: number | undefined): void {
    if (size === undefined || !Number.isFinite(size)) return;
    if (size > TELEGRAM_MAX_DOWNLOAD_BYTES) throw tooBigForBots(media, size);
    if (size > mediaPolicy.maxBytes) {
      throw new MediaRefusedError('too_large', `the file is ${formatBytes(size)}, more than MAX_MEDIA_BYTES (${formatBytes(mediaPolicy.maxBytes)})`);
    }
  }

  async function send(channel: Channel, message: OutboundMessage): Promise<SendResult> {
    const api = client(channel);
    const chatId = toChatId(message.peerId);
    if (message.template) throw new ChannelPermanentError('templates_not_supported', 'Telegram has no template messages', 'refused');
    if (message.files.length > 1) throw new ChannelPermanentError('too_many_files', 'one file per Telegram message', 'refused');
    // The quote goes on the first message this call sends; a quoted message that is gone is no reason to fail.
    let reply = replyParameters(message.replyToExternalId);
    const quote = () => {
      const r = reply;
      reply = undefined;
      return r ? { reply_parameters: r } : {};
    };
    const sendText = async (text: string): Promise<TgSentMessage> => {
      if (text.length > TELEGRAM_MAX_TEXT_LENGTH) {
        throw new ChannelPermanentError('text_too_long', `a Telegram message takes at most ${TELEGRAM_MAX_TEXT_LENGTH} characters`, 'refused');
      }
      return api.sendMessage({ chat_id: chatId, text, ...quote() });
    };

    const file = message.files[0];
    if (!file) {
      if (!message.text) throw new ChannelPermanentError('empty_message', 'nothing to send: no text and no file', 'refused');
      return { externalId: telegramMessageId(chatId, (await sendText(message.text)).message_id) };
    }
    if (file.bytes.byteLength > TELEGRAM_MAX_UPLOAD_BYTES) {
      throw new ChannelPermanentError('file_too_large', `"${file.filename}" is ${formatBytes(file.bytes.byteLength)}; bots can send files up to 50 MB`, 'refused');
    }
    // A caption longer than Telegram takes goes first as a message of its own (the pipeline avoids
    // this by planning such texts as separate deliveries; a direct caller still gets it delivered).
    let textMessageId: number | undefined;
    if (message.text.length > TELEGRAM_MAX_CAPTION_LENGTH) textMessageId = (await sendText(message.text)).message_id;
    const caption = textMessageId === undefined && message.text ? { caption: message.text } : {};
    const how = telegramSendMethod(file.mimeType, file.bytes.byteLength);
    const upload = (m: TelegramSendMethod, params: Record<string, unknown>) =>
      api.sendFile(m.method, { chat_id: chatId, ...caption, ...params }, { field: m.field, bytes: file.bytes, filename: file.filename || 'file', mimeType: file.mimeType });
    const params = quote();
    let sent: TgSentMessage;
    try {
      sent = await upload(how, params);
    } catch (err) {
      // A photo Telegram cannot process (dimensions, format) was refused with a 400: nothing was
      // sent, so the same file goes again as a document.
      if (how.field !== 'photo' || !(err instanceof ChannelPermanentError) || err.channelCode !== 400) throw err;
      sent = await upload(DOCUMENT, params);
    }
    const extra: Record<string, unknown> = textMessageId === undefined ? { caption: true } : { textMessageId: String(textMessageId) };
    return { externalId: telegramMessageId(chatId, sent.message_id), extra };
  }

  /** Text messages by `editMessageText`; a file's caption by `editMessageCaption` (extra.caption); a text sent ahead of its file by its own id. */
  async function edit(channel: Channel, request: EditRequest): Promise<void> {
    const api = client(channel);
    const chatId = toChatId(request.peerId);
    const textId = typeof request.extra?.textMessageId === 'string' ? request.extra.textMessageId : undefined;
    if (request.extra?.caption === true && !textId) {
      if (request.text.length > TELEGRAM_MAX_CAPTION_LENGTH) {
        throw new ChannelPermanentError('caption_too_long', `the reply is a file whose caption takes at most ${TELEGRAM_MAX_CAPTION_LENGTH} characters`, 'refused');
      }
      await api.editMessageCaption({ chat_id: chatId, message_id: toMessageId(request.externalId), caption: request.text });
      return;
    }
    if (!request.text) throw new ChannelPermanentError('empty_message', 'a Telegram text message cannot be edited to nothing', 'refused');
    await api.editMessageText({ chat_id: chatId, message_id: toMessageId(textId ?? request.externalId), text: request.text });
  }

  return {
    kind: 'telegram',
    capabilities: telegramCapabilities,
    fetchProfile,
    download,
    mediaPolicy,
    send,
    edit,
  };
}

function tooBigForBots(media: MediaRef, size?: number): MediaRefusedError {
  const name = media.filename ? `"${media.filename}"` : `the ${media.kind}`;
  const is = size === undefined ? 'is larger than 20 MB' : `is ${formatBytes(size)}`;
  return new MediaRefusedError('too_large', `${name} ${is}; Telegram lets bots download files up to 20 MB`);
}

/** A private chat's id (= the user id), or a group's negative id. */
export function toChatId(peerId: string): string {
  const id = peerId.trim();
  if (!/^-?\d{1,20}$/.test(id)) throw new ChannelPermanentError('bad_peer', `not a Telegram chat id: ${peerId}`, 'refused');
  return id;
}

/** taskwire's `<chat id>:<message id>` (a bare message id is taken as is). */
const MESSAGE_ID = /^(?:-?\d{1,20}:)?(\d{1,15})$/;

/** The message id in its chat. */
function toMessageId(externalId: string): number {
  const m = MESSAGE_ID.exec(externalId);
  if (!m) throw new ChannelPermanentError('bad_message_id', `not a Telegram message id: ${externalId}`, 'refused');
  return Number(m[1]);
}

function replyParameters(externalId: string | undefined): { message_id: number; allow_sending_without_reply: true } | undefined {
  const m = externalId ? MESSAGE_ID.exec(externalId) : null;
  if (!m) return undefined;
  return { message_id: Number(m[1]), allow_sending_without_reply: true };
}
