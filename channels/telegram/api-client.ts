/**
 * A small Telegram Bot API client (shared/reference/telegram-bot-api.md): `POST {base}/bot<token>/<method>`
 * with a JSON body, or multipart/form-data when a file is uploaded; file downloads from
 * `{base}/file/bot<token>/<file_path>` under the media policy; and classification of the
 * `{ok: false, error_code, description, parameters}` envelope into the channel contract's errors:
 *
 * - 429 → transient, `retryAfterMs` from `parameters.retry_after` (code 429: Telegram answered, nothing was sent);
 * - 5xx, network errors, timeouts → transient (string codes: the outcome of a send is unknown);
 * - 403 (blocked, deactivated, can't initiate) → permanent `messages_denied`;
 * - 401 / 404 (token refused) and every other 4xx → permanent `refused`.
 *
 * The token is part of every URL, so no URL ever goes into an error: errors name the method only,
 * and every message built here passes through `redact` in case a lower layer quoted the URL.
 */
import { ChannelPermanentError, ChannelTransientError } from '../types.js';
import { errorText, isObject, isRetryableStatus, isTimeout } from '../http.js';
import { DEFAULT_MEDIA_POLICY, fetchMediaFile, MediaRefusedError, type MediaFetchPolicy } from '../media-fetch.js';

export const DEFAULT_TELEGRAM_API_BASE_URL = 'https://api.telegram.org';

export interface TelegramApiClientOptions {
  /** `https://api.telegram.org` (no trailing slash needed). */
  baseUrl: string;
  botToken: string;
  fetch?: typeof fetch;
  /** Per API call (default 20 s). */
  timeoutMs?: number;
  /** Per upload (default 120 s: files up to 50 MB). */
  uploadTimeoutMs?: number;
  /** Per file download (default 60 s). */
  downloadTimeoutMs?: number;
  /** Size cap and tries; the API's own host is always allowed for downloads (its URL is ours, not a webhook's). */
  media?: MediaFetchPolicy;
}

/** The error envelope (HTTP status equals `error_code`). */
export interface TelegramErrorBody {
  ok: false;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

/** The parts of a sent / edited `Message` taskwire reads. */
export interface TgSentMessage {
  message_id: number;
  chat: { id: number };
  date?: number;
  text?: string;
  caption?: string;
}

export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
}

export interface TgChat {
  id: number;
  type: string;
  first_name?: string;
  last_name?: string;
  username?: string;
  title?: string;
}

export interface TgFile {
  file_id: string;
  file_unique_id: string;
  file_size?: number;
  file_path?: string;
}

/** A file part of a multipart upload: `field` is the method's file parameter (`photo`, `document`...). */
export interface TelegramUpload {
  field: string;
  bytes: Uint8Array;
  filename: string;
  mimeType: string;
}

/** The cloud Bot API serves downloads up to 20 MB (getFile answers `file is too big` beyond). */
export const TELEGRAM_MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;
/** A 429 without `retry_after` waits this long (about one message per second per chat). */
const DEFAULT_RETRY_AFTER_MS = 1_000;

/** Is this 400 Telegram's "nothing changed" answer to an edit (a success for taskwire)? */
export function isNotModified(err: unknown): boolean {
  return err instanceof ChannelPermanentError && err.channelCode === 400 && /message is not modified/i.test(err.channelMessage);
}

/** Is this Telegram's 20 MB download limit (`400 Bad Request: file is too big`)? */
export function isFileTooBig(err: unknown): boolean {
  return err instanceof ChannelPermanentError && err.channelCode === 400 && /file is too big/i.test(err.channelMessage);
}

/** Map an answer that is not `ok` onto the channel contract (see the file comment). */
export function classifyTelegramError(what: string, httpStatus: number, body: unknown): ChannelTransientError | ChannelPermanentError {
  const envelope = isObject(body) && body.ok === false ? (body as unknown as TelegramErrorBody) : undefined;
  const code = typeof envelope?.error_code === 'number' ? envelope.error_code : httpStatus;
  const description = typeof envelope?.description === 'string' && envelope.description ? envelope.description : `HTTP ${httpStatus}`;
  const params = isObject(envelope?.parameters) ? envelope.parameters : {};
  if (code === 429) {
    const seconds = typeof params.retry_after === 'number' && params.retry_after >= 0 ? params.retry_after : undefined;
    return new ChannelTransientError(429, `${what}: ${description}`, seconds === undefined ? DEFAULT_RETRY_AFTER_MS : seconds * 1000);
  }
  // (429 was answered above, with Telegram's wait.)
  if (isRetryableStatus(code) || (!envelope && httpStatus >= 500)) {
    return new ChannelTransientError(`http_${code}`, `${what}: ${description}`);
  }
  if (code === 403) return new ChannelPermanentError(403, description, 'messages_denied');
  if (code === 401 || (code === 404 && !envelope?.description?.startsWith('Bad Request'))) {
    return new ChannelPermanentError(code, `the bot token was refused (${description})`, 'refused');
  }
  const migrated = typeof params.migrate_to_chat_id === 'number' ? ` (the chat moved to ${params.migrate_to_chat_id})` : '';
  return new ChannelPermanentError(code, `${description}${migrated}`, 'refused');
}

export class TelegramApiClient {
  private readonly base: string;
  private readonly media: MediaFetchPolicy;
  /** The base URL does not parse: every call fails as misconfigured (never as a network error naming the URL). */
  private readonly badBase: boolean;

  constructor(private readonly opts: TelegramApiClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    const media = opts.media ?? DEFAULT_MEDIA_POLICY;
    try {
      this.media = { ...media, allowedHosts: [...media.allowedHosts, new URL(this.base).hostname] };
      this.badBase = false;
    } catch {
      this.media = media;
      this.badBase = true;
    }
  }

  private get token(): string {
    return this.opts.botToken;
  }

  private get fetchFn(): typeof fetch {
    return this.opts.fetch ?? globalThis.fetch;
  }

  getMe(): Promise<TgUser> {
    return this.call('getMe', {});
  }

  setWebhook(params: { url: string; secret_token: string; allowed_updates?: string[]; drop_pending_updates?: boolean; max_connections?: number }): Promise<true> {
    return this.call('setWebhook', params);
  }

  getChat(chatId: string | number): Promise<TgChat> {
    return this.call('getChat', { chat_id: chatId });
  }

  getFile(fileId: string): Promise<TgFile> {
    return this.call('getFile', { file_id: fileId });
  }

  sendMessage(params: Record<string, unknown>): Promise<TgSentMessage> {
    return this.call('sendMessage', params);
  }

  /** `sendPhoto`, `sendDocument`, `sendVoice`, `sendVideo`, `sendAudio` with the file as a multipart part. */
  sendFile(method: string, params: Record<string, unknown>, file: TelegramUpload): Promise<TgSentMessage> {
    return this.call(method, params, file);
  }

  /** The edited message, or `undefined` when Telegram says nothing changed (a success). */
  async editMessageText(params: { chat_id: string | number; message_id: number; text: string }): Promise<TgSentMessage | undefined> {
    return this.unlessNotModified(this.call('editMessageText', params));
  }

  async editMessageCaption(params: { chat_id: string | number; message_id: number; caption: string }): Promise<TgSentMessage | undefined> {
    return this.unlessNotModified(this.call('editMessageCaption', params));
  }

  /** GET `{base}/file/bot<token>/<file_path>` under the media policy (size cap, streaming). */
  async downloadFile(filePath: string): Promise<{ bytes: Uint8Array; contentType: string | null }> {
    const path = filePath.split('/').map(encodeURIComponent).join('/');
    try {
      const f = await fetchMediaFile(`${this.base}/file/bot${this.token}/${path}`, {
        policy: this.media,
        fetch: this.fetchFn,
        timeoutMs: this.opts.downloadTimeoutMs ?? 60_000,
        what: 'Telegram file download',
      });
      return { bytes: f.bytes, contentType: f.contentType };
    } catch (err) {
      throw this.redactError(err);
    }
  }

  /** One method call: JSON parameters, or multipart with `file` (objects in form fields are JSON text). */
  async call<T>(method: string, params: Record<string, unknown>, file?: TelegramUpload): Promise<T> {
    const what = `Telegram ${method}`;
    if (this.badBase) throw new ChannelPermanentError('misconfigured', 'TELEGRAM_API_BASE_URL is not a valid URL', 'refused');
    let body: string | FormData;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (file) {
      const form = new FormData();
      for (const [k, v] of Object.entries(params)) {
        if (v !== undefined) form.append(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
      }
      // A fresh ArrayBuffer-backed copy: Blob wants ArrayBuffer, not a shared buffer.
      form.append(file.field, new Blob([new Uint8Array(file.bytes)], { type: file.mimeType }), file.filename);
      body = form;
    } else {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(params);
    }
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(`${this.base}/bot${this.token}/${method}`, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(file ? (this.opts.uploadTimeoutMs ?? 120_000) : (this.opts.timeoutMs ?? 20_000)),
      });
      text = await res.text();
    } catch (err) {
      if (isTimeout(err)) throw new ChannelTransientError('timeout', `${what}: timed out`);
      throw new ChannelTransientError('network', this.redact(`${what}: network error (${errorText(err)})`));
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok || !isObject(json) || json.ok !== true) {
      if (res.ok && json === undefined) throw new ChannelTransientError('bad_response', `${what}: answer is not JSON`);
      throw this.redactError(classifyTelegramError(what, res.status, json));
    }
    if (!('result' in json)) throw new ChannelTransientError('bad_response', `${what}: no result in the answer`);
    return json.result as T;
  }

  private async unlessNotModified<T>(p: Promise<T>): Promise<T | undefined> {
    try {
      return await p;
    } catch (err) {
      if (isNotModified(err)) return undefined;
      throw err;
    }
  }

  /** The token replaced wherever it appears (a description or a lower layer's message quoting a URL). */
  private redact(s: string): string {
    return this.token ? s.split(this.token).join('<bot token>') : s;
  }

  private redactError(err: unknown): unknown {
    if (err instanceof MediaRefusedError) return new MediaRefusedError(err.reason, this.redact(err.explanation));
    if (err instanceof ChannelPermanentError) return new ChannelPermanentError(err.channelCode, this.redact(err.channelMessage), err.meaning);
    if (err instanceof ChannelTransientError) return new ChannelTransientError(err.channelCode, this.redact(err.message), err.retryAfterMs);
    if (err instanceof Error) return new Error(this.redact(err.message));
    return err;
  }
}
