/**
 * A small WhatsApp Cloud API (Graph) client (reference: shared/reference/whatsapp-cloud-api.md §4, §8, §9):
 * JSON POSTs to `/<phone-number-id>/messages`, multipart uploads to `/<phone-number-id>/media`, the
 * two-step media download, and classification of the Graph error envelope into the channel
 * contract's transient / permanent errors. It never logs; the token travels only in the
 * `Authorization` header (never in a URL, a body or an error message).
 */
import { ChannelPermanentError, ChannelTransientError } from '../types.js';
import { isObject, isRetryableStatus, isTimeout, networkError, retryAfterMs } from '../http.js';
import { DEFAULT_MEDIA_POLICY, fetchMediaFile, type MediaFetchPolicy } from '../media-fetch.js';

export interface WhatsAppApiClientOptions {
  /** e.g. `https://graph.facebook.com/v21.0` (no trailing slash needed). */
  baseUrl: string;
  accessToken: string;
  fetch?: typeof fetch;
  /** Per API call (default 20 s). */
  timeoutMs?: number;
  /** Per upload (default 120 s: documents up to 100 MB). */
  uploadTimeoutMs?: number;
  /** Per media file download, every redirect hop and the body (default 60 s). */
  downloadTimeoutMs?: number;
  /** Allowed media hosts and the size cap (default: Meta's and VK's CDNs, 100 MB). */
  media?: MediaFetchPolicy;
  /** Sent on every request; the media CDN refuses requests without one (§8.1). */
  userAgent?: string;
}

/** The Graph error object (`{error: {...}}`, §9.1). */
export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  error_data?: { messaging_product?: string; details?: string };
  fbtrace_id?: string;
}

/** POST /<pnid>/messages → 200 (§4.1). */
export interface GraphSendResponse {
  messaging_product?: string;
  contacts?: Array<{ input?: string; wa_id?: string; user_id?: string }>;
  messages?: Array<{ id: string; message_status?: string }>;
}

/** GET /<media-id> (§8.1 step 1). */
export interface GraphMediaInfo {
  url: string;
  mime_type?: string;
  sha256?: string;
  /** A number in real answers, a string in Meta's docs. */
  file_size?: number | string;
  id?: string;
  messaging_product?: string;
}

export interface FetchedMedia {
  bytes: Uint8Array;
  contentType: string | null;
  contentDisposition: string | null;
}

export const DEFAULT_USER_AGENT = 'taskwire/0.1 (WhatsApp Cloud API client)';

/** §10 / §9.2 waits: W codes get a suggested delay, R codes Temporal's own backoff. */
const THROUGHPUT_RETRY_MS = 2_000; // 130429: 80 mps per number, back off briefly
const PAIR_RATE_RETRY_MS = 8_000; // 131056: about one message per 6 s to one user
const APP_RATE_RETRY_MS = 60_000; // 4 / 80007: hourly call budgets
const MAINTENANCE_RETRY_MS = 60_000; // 131057: "retry after ~1 min"
const TRANSIENT_CODES = new Set([1, 2, 131016, 133004, 131000]);

/**
 * Map a Graph error onto the channel contract (§9.2), by `code` (never by text). Everything not
 * known to be temporary is permanent; 131047 means the 24-hour window is closed, 131050 that the
 * person stopped (marketing) messages from the business.
 */
export function classifyGraphError(
  what: string,
  error: GraphErrorBody,
  httpStatus?: number,
  retryAfterHeaderMs?: number,
): ChannelTransientError | ChannelPermanentError {
  const raw = error.code as unknown;
  const code = typeof raw === 'number' && Number.isFinite(raw) ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
  const title = errorTitle(error);
  const details = error.error_data?.details;
  const channelMessage = details && details !== title ? `${title}: ${details}` : title;
  // Logged by the pipeline: details and fbtrace_id are what Meta support asks for.
  const logText = `${what} failed (${code ?? `HTTP ${httpStatus ?? '?'}`}): ${channelMessage}${error.fbtrace_id ? ` [fbtrace_id ${error.fbtrace_id}]` : ''}`;
  const wait = (ms: number) => Math.max(ms, retryAfterHeaderMs ?? 0);

  switch (code) {
    case 130429:
      return new ChannelTransientError(code, logText, wait(THROUGHPUT_RETRY_MS));
    case 131056:
      return new ChannelTransientError(code, logText, wait(PAIR_RATE_RETRY_MS));
    case 4:
    case 80007:
      return new ChannelTransientError(code, logText, wait(APP_RATE_RETRY_MS));
    case 131057:
      return new ChannelTransientError(code, logText, wait(MAINTENANCE_RETRY_MS));
    case 131047:
      return new ChannelPermanentError(code, channelMessage, 'reply_window_closed');
    case 131050:
      return new ChannelPermanentError(code, channelMessage, 'messages_denied');
  }
  if (code !== undefined && TRANSIENT_CODES.has(code)) return new ChannelTransientError(code, logText, retryAfterHeaderMs);
  if (code === undefined) {
    // An envelope without a usable code on a 5xx / 429 / 408 is the server's trouble, not ours.
    const status = httpStatus ?? 0;
    if (isRetryableStatus(status)) return new ChannelTransientError(`http_${status}`, logText, retryAfterHeaderMs);
    return new ChannelPermanentError(status ? `http_${status}` : 'unknown', channelMessage, 'refused');
  }
  return new ChannelPermanentError(code, channelMessage, 'refused');
}

/** `(#131047) Re-engagement message` → `Re-engagement message`. */
function errorTitle(error: GraphErrorBody): string {
  const m = (error.message ?? '').replace(/^\(#\d+\)\s*/, '').trim();
  return m || 'unknown WhatsApp error';
}

export class WhatsAppApiClient {
  private readonly baseUrl: string;
  private readonly accessToken: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  private readonly uploadTimeoutMs: number;
  private readonly downloadTimeoutMs: number;
  private readonly userAgent: string;
  private readonly media: MediaFetchPolicy;

  constructor(opts: WhatsAppApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.accessToken = opts.accessToken;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.uploadTimeoutMs = opts.uploadTimeoutMs ?? 120_000;
    this.downloadTimeoutMs = opts.downloadTimeoutMs ?? 60_000;
    this.userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
    this.media = opts.media ?? DEFAULT_MEDIA_POLICY;
  }

  /** POST /<pnid>/messages with a JSON body (§4). */
  async sendMessage(phoneNumberId: string, body: Record<string, unknown>): Promise<GraphSendResponse> {
    const path = `/${encodeURIComponent(phoneNumberId)}/messages`;
    const json = await this.request('POST', path, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: this.timeoutMs,
    });
    return json as GraphSendResponse;
  }

  /** POST /<pnid>/media as multipart/form-data (§8.2) → the media id to send by. */
  async uploadMedia(phoneNumberId: string, file: { bytes: Uint8Array; filename: string; mimeType: string }): Promise<string> {
    const form = new FormData();
    form.append('messaging_product', 'whatsapp');
    form.append('type', file.mimeType);
    // Copy into a fresh ArrayBuffer-backed view: Blob wants ArrayBuffer, not a shared buffer.
    form.append('file', new Blob([new Uint8Array(file.bytes)], { type: file.mimeType }), file.filename);
    const path = `/${encodeURIComponent(phoneNumberId)}/media`;
    const json = await this.request('POST', path, { body: form, timeoutMs: this.uploadTimeoutMs });
    const id = isObject(json) ? json.id : undefined;
    if (typeof id !== 'string' && typeof id !== 'number') throw new ChannelTransientError('bad_response', `WhatsApp POST ${path}: no media id in the answer`);
    return String(id);
  }

  /** GET /<media-id> (§8.1 step 1): a short-lived download URL and the file's metadata. */
  async getMediaInfo(mediaId: string, phoneNumberId?: string): Promise<GraphMediaInfo> {
    const query = phoneNumberId ? `?phone_number_id=${encodeURIComponent(phoneNumberId)}` : '';
    const path = `/${encodeURIComponent(mediaId)}`;
    const json = await this.request('GET', `${path}${query}`, { timeoutMs: this.timeoutMs });
    if (!isObject(json) || typeof json.url !== 'string' || !json.url) {
      throw new ChannelTransientError('bad_response', `WhatsApp GET ${path}: no url in the answer`);
    }
    return json as unknown as GraphMediaInfo;
  }

  /**
   * GET a media URL (§8.1 step 2) with the same Bearer token and a User-Agent, under the media
   * policy: an allowed host over http(s), redirects only to allowed hosts (the token only to the
   * same host), at most `MAX_MEDIA_BYTES` (a refusal is a `MediaRefusedError`). 5xx / 429 / 408
   * and network trouble are transient; any other failure is a permanent `http_<status>` the
   * caller may answer by asking for a fresh URL.
   */
  async fetchMedia(url: string): Promise<FetchedMedia> {
    const fetched = await fetchMediaFile(url, {
      policy: this.media,
      fetch: this.fetchFn,
      headers: { authorization: `Bearer ${this.accessToken}`, 'user-agent': this.userAgent },
      timeoutMs: this.downloadTimeoutMs,
      what: 'WhatsApp media download',
    });
    return { bytes: fetched.bytes, contentType: fetched.contentType, contentDisposition: fetched.contentDisposition };
  }

  private async request(
    method: 'GET' | 'POST',
    pathAndQuery: string,
    init: { headers?: Record<string, string>; body?: string | FormData; timeoutMs: number },
  ): Promise<unknown> {
    const what = `WhatsApp ${method} ${pathAndQuery.split('?')[0]}`;
    let res: Response;
    try {
      res = await this.fetchFn(`${this.baseUrl}${pathAndQuery}`, {
        method,
        headers: { ...init.headers, authorization: `Bearer ${this.accessToken}`, accept: 'application/json', 'user-agent': this.userAgent },
        ...(init.body !== undefined ? { body: init.body } : {}),
        signal: AbortSignal.timeout(init.timeoutMs),
      });
    } catch (err) {
      throw networkError(what, err);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (isTimeout(err)) throw new ChannelTransientError('timeout', `${what}: timed out reading the answer`);
      throw new ChannelTransientError('network', `${what}: connection lost while reading the answer`);
    }
    let json: unknown;
    let parsed = false;
    try {
      json = JSON.parse(text);
      parsed = true;
    } catch {
      /* handled below */
    }
    // §9.1: branch on the envelope's code whatever the HTTP status (400 usually, 401 for tokens).
    if (parsed && isObject(json) && isObject(json.error)) {
      throw classifyGraphError(what, json.error as GraphErrorBody, res.ok ? undefined : res.status, retryAfterMs(res));
    }
    if (!res.ok) {
      const code = `http_${res.status}`;
      if (isRetryableStatus(res.status)) {
        throw new ChannelTransientError(code, `${what}: HTTP ${res.status}`, retryAfterMs(res) ?? (res.status === 429 ? THROUGHPUT_RETRY_MS : undefined));
      }
      // Graph answers errors with an envelope; a bare 4xx means a wrong base URL or a proxy in the way.
      throw new ChannelPermanentError(code, `${what}: HTTP ${res.status}`, 'refused');
    }
    if (!parsed) throw new ChannelTransientError('bad_response', `${what}: answer is not JSON`);
    return json;
  }
}
