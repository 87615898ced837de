/**
 * A small VK API client (reference §5–§7): form-encoded POSTs, the `{response}` / `{error}`
 * envelope, and error classification into the channel contract's transient / permanent errors.
 * It never logs, and the token travels only in the request body (never in a URL or an error).
 */
import type { Channel } from '../../db/schema.js';
import { ChannelPermanentError, ChannelTransientError } from '../types.js';
import { errorText, isObject, isRetryableStatus, isTimeout, networkError, retryAfterMs } from '../http.js';

export type VkParams = Record<string, string | number | boolean | undefined>;

export interface VkApiClientOptions {
  /** e.g. `https://api.vk.com/method` (no trailing slash needed). */
  baseUrl: string;
  /** e.g. `5.199`. */
  version: string;
  accessToken: string;
  fetch?: typeof fetch;
  /** Per API call (default 20 s). */
  timeoutMs?: number;
  /** Per upload POST (default 120 s: files up to 200 MB). */
  uploadTimeoutMs?: number;
}

export interface VkApiErrorBody {
  error_code: number;
  error_msg: string;
  error_subcode?: number;
  request_params?: Array<{ key: string; value: string }>;
}

/** §7: worth retrying. 6 = rate limit, 9 = flood control, 1/10 = VK's own failures. */
const RATE_LIMIT_RETRY_MS = 1133; // vk-io waits this long after error 6
const FLOOD_CONTROL_RETRY_MS = 60_000; // §7 "do not hammer; delay minutes"
/** §7 last row: upload/save failures mean "redo the whole upload from step 1" → retry the activity. */
const UPLOAD_REDO_CODES = new Set([22, 114, 118, 121, 129]);
const UPLOAD_SAVE_METHODS = new Set(['photos.saveMessagesPhoto', 'docs.save']);
const MESSAGES_DENIED_CODES = new Set([18, 900, 901, 902]);

/**
 * Map a VK `error` object onto the channel contract (§7). Everything not listed as transient is
 * permanent, among them wall.createComment's 212/213 (comments / replies closed), 222 (links
 * forbidden) and 223 (too many replies), and 27 (a user-only method called with a community token).
 */
export function classifyVkError(method: string, error: VkApiErrorBody): ChannelTransientError | ChannelPermanentError {
  const code = error.error_code;
  const msg = error.error_msg || 'unknown VK error';
  const text = `VK ${method} failed (${code}): ${msg}`;
  switch (code) {
    case 1:
    case 10:
      return new ChannelTransientError(code, text);
    case 6:
      return new ChannelTransientError(code, text, RATE_LIMIT_RETRY_MS);
    case 9:
      return new ChannelTransientError(code, text, FLOOD_CONTROL_RETRY_MS);
  }
  if (UPLOAD_REDO_CODES.has(code) && UPLOAD_SAVE_METHODS.has(method)) return new ChannelTransientError(code, text);
  if (code === 950) return new ChannelPermanentError(code, msg, 'reply_window_closed');
  if (MESSAGES_DENIED_CODES.has(code)) return new ChannelPermanentError(code, msg, 'messages_denied');
  return new ChannelPermanentError(code, msg, 'refused');
}

/** What a client for one channel needs besides the channel's token. */
export interface VkChannelClientOptions {
  baseUrl: string;
  version: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** A client with the channel's community token; a channel without one is a permanent misconfiguration. */
export function vkClientForChannel(channel: Channel, opts: VkChannelClientOptions): VkApiClient {
  const creds = channel.credentials;
  if (creds.kind !== 'vk' || !creds.accessToken) {
    throw new ChannelPermanentError('misconfigured', `channel ${channel.id} has no VK access token`, 'refused');
  }
  return new VkApiClient({
    baseUrl: opts.baseUrl,
    version: opts.version,
    accessToken: creds.accessToken,
    fetch: opts.fetch ?? globalThis.fetch,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
}

export class VkApiClient {
  private readonly baseUrl: string;
  private readonly version: string;
  private readonly accessToken: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  private readonly uploadTimeoutMs: number;

  constructor(opts: VkApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.version = opts.version;
    this.accessToken = opts.accessToken;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.uploadTimeoutMs = opts.uploadTimeoutMs ?? 120_000;
  }

  /** Call `method` and return its unwrapped `response`; throws ChannelTransientError / ChannelPermanentError. */
  async call<T>(method: string, params: VkParams = {}): Promise<T> {
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined) continue;
      body.set(key, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
    }
    body.set('v', this.version);
    body.set('access_token', this.accessToken);

    let res: Response;
    try {
      res = await this.fetchFn(`${this.baseUrl}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw networkError(`VK ${method}`, err);
    }
    const json = await readJson(res, `VK ${method}`);
    if (isObject(json) && 'error' in json && isObject(json.error)) {
      const e = json.error;
      throw classifyVkError(method, {
        error_code: typeof e.error_code === 'number' ? e.error_code : Number(e.error_code) || 0,
        error_msg: typeof e.error_msg === 'string' ? e.error_msg : '',
      });
    }
    if (isObject(json) && 'response' in json) return json.response as T;
    throw new ChannelTransientError('bad_response', `VK ${method}: answer has neither response nor error`);
  }

  /**
   * POST one file as multipart/form-data to an upload URL from `*.getMessagesUploadServer`.
   * Upload hosts answer plain JSON without the envelope (vk-io unwraps `response` if present);
   * any failure there is transient: the caller redoes the upload from step 1 (§6.7, §7).
   */
  async uploadFile(
    uploadUrl: string,
    field: 'photo' | 'file',
    file: { bytes: Uint8Array; filename: string; mimeType: string },
  ): Promise<any> {
    const form = new FormData();
    // Copy into a fresh ArrayBuffer-backed view: Blob wants ArrayBuffer, not a shared buffer.
    form.append(field, new Blob([new Uint8Array(file.bytes)], { type: file.mimeType }), file.filename);
    let res: Response;
    try {
      res = await this.fetchFn(uploadUrl, { method: 'POST', body: form, signal: AbortSignal.timeout(this.uploadTimeoutMs) });
    } catch (err) {
      throw networkError('VK upload', err);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new ChannelTransientError(`http_${res.status}`, `VK upload: HTTP ${res.status}`, retryAfterMs(res));
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      throw new ChannelTransientError('bad_response', `VK upload: answer is not JSON (${errorText(err)})`);
    }
    if (isObject(json) && 'response' in json && isObject(json.response)) json = json.response;
    if (!isObject(json)) throw new ChannelTransientError('bad_response', 'VK upload: answer is not an object');
    if (json.error !== undefined && json.error !== null && json.error !== '') {
      const detail = [stringify(json.error), stringify(json.error_descr)].filter(Boolean).join(': ');
      throw new ChannelTransientError('upload_error', `VK upload failed: ${detail}`);
    }
    return json;
  }
}

async function readJson(res: Response, what: string): Promise<unknown> {
  if (isRetryableStatus(res.status)) {
    await res.body?.cancel().catch(() => {});
    throw new ChannelTransientError(`http_${res.status}`, `${what}: HTTP ${res.status}`, retryAfterMs(res));
  }
  if (!res.ok) {
    // VK answers errors with 200; another status means a wrong base URL or a proxy in the way.
    await res.body?.cancel().catch(() => {});
    throw new ChannelPermanentError(`http_${res.status}`, `${what}: HTTP ${res.status}`, 'refused');
  }
  try {
    return await res.json();
  } catch (err) {
    if (isTimeout(err)) throw new ChannelTransientError('timeout', `${what}: timed out reading the answer`);
    throw new ChannelTransientError('bad_response', `${what}: answer is not JSON`);
  }
}

function stringify(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
