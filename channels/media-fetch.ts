/**
 * Bounded fetching of inbound media (issue 10): a webhook names the URL, so it is fetched only
 * over http(s) from `MEDIA_ALLOWED_HOSTS`, redirects are followed by hand (a few hops, each to an
 * allowed host, never from https down to http), and the body is counted while it streams and
 * abandoned past `MAX_MEDIA_BYTES`. A refusal is a `MediaRefusedError` (permanent: the file becomes
 * a note in the comment); trouble that may pass (5xx, 429, timeouts, refused connections) is a
 * `ChannelTransientError`.
 */
import { hostAllowed, DEFAULT_MEDIA_ALLOWED_HOSTS } from './media-hosts.js';
import { isRetryableStatus, isTimeout, networkError, retryAfterMs } from './http.js';
import { ChannelPermanentError, ChannelTransientError } from './types.js';

export interface MediaFetchPolicy {
  /** Normalised host patterns (channels/media-hosts.ts). */
  allowedHosts: readonly string[];
  /** Larger files are refused (announced size) or abandoned while streaming. */
  maxBytes: number;
  /**
   * Tries of a file that keeps failing for a reason that may pass; at the last one it is recorded
   * as missing instead of failing the activity again (activities/media.ts).
   */
  fetchAttempts: number;
  /** Redirect hops followed per file. */
  maxRedirects: number;
}

export const DEFAULT_MAX_MEDIA_BYTES = 104_857_600;
export const DEFAULT_MEDIA_FETCH_ATTEMPTS = 5;
export const DEFAULT_MEDIA_MAX_REDIRECTS = 5;
/** A CDN's Retry-After is honoured up to this; a day-long wait would hold the conversation. */
const MAX_RETRY_AFTER_MS = 30_000;

export const DEFAULT_MEDIA_POLICY: MediaFetchPolicy = {
  allowedHosts: DEFAULT_MEDIA_ALLOWED_HOSTS,
  maxBytes: DEFAULT_MAX_MEDIA_BYTES,
  fetchAttempts: DEFAULT_MEDIA_FETCH_ATTEMPTS,
  maxRedirects: DEFAULT_MEDIA_MAX_REDIRECTS,
};

export function mediaPolicy(overrides: Partial<MediaFetchPolicy> = {}): MediaFetchPolicy {
  return { ...DEFAULT_MEDIA_POLICY, ...overrides };
}

export type MediaRefusal = 'bad_url' | 'scheme' | 'host' | 'redirect' | 'too_large';

/** A media URL taskwire will not fetch, or a file it will not keep: final, with a reason for people. */
export class MediaRefusedError extends ChannelPermanentError {
  constructor(
    readonly reason: MediaRefusal,
    /** For the comment: "host "localhost" is not in MEDIA_ALLOWED_HOSTS". */
    readonly explanation: string,
  ) {
    super(`media_${reason}`, explanation, 'refused');
    this.name = 'MediaRefusedError';
  }
}

export interface FetchedMediaFile {
  bytes: Uint8Array;
  contentType: string | null;
  contentDisposition: string | null;
  /** The URL the file finally came from (after redirects). */
  url: string;
}

export interface MediaFetchOptions {
  policy: MediaFetchPolicy;
  fetch?: typeof fetch;
  /** Sent to the first host and to redirects on the same host only (a token never leaves it). */
  headers?: Record<string, string>;
  /** For the whole download: every hop and the body. */
  timeoutMs: number;
  /** Names the channel in transient errors: "VK download". */
  what: string;
}

/** Why `raw` may not be fetched under `policy`, or the parsed URL. */
export function checkMediaUrl(raw: string, policy: Pick<MediaFetchPolicy, 'allowedHosts'>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new MediaRefusedError('bad_url', 'the link is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MediaRefusedError('scheme', `only http and https links are fetched, not ${url.protocol}`);
  }
  if (url.username || url.password) throw new MediaRefusedError('bad_url', 'links with a user name or password are not fetched');
  if (!hostAllowed(url.hostname, policy.allowedHosts)) {
    throw new MediaRefusedError('host', `host "${url.hostname}" is not in MEDIA_ALLOWED_HOSTS`);
  }
  return url;
}

/** Is `raw` a URL the policy lets us fetch? */
export function mediaUrlAllowed(raw: string, policy: Pick<MediaFetchPolicy, 'allowedHosts'>): boolean {
  try {
    checkMediaUrl(raw, policy);
    return true;
  } catch {
    return false;
  }
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);

/**
 * GETs `rawUrl` under `opts.policy`. Non-2xx answers other than redirects: 5xx / 429 / 408 are
 * transient; the rest a permanent `http_<status>` ("file not available").
 */
export async function fetchMediaFile(rawUrl: string, opts: MediaFetchOptions): Promise<FetchedMediaFile> {
  const fetchFn = opts.fetch ?? globalThis.fetch;
  const { policy, what } = opts;
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const first = checkMediaUrl(rawUrl, policy);
  let url = first;
  for (let hop = 0; ; hop++) {
    const sameHost = url.host === first.host;
    let res: Response;
    try {
      res = await fetchFn(url, { redirect: 'manual', signal, headers: sameHost ? (opts.headers ?? {}) : {} });
    } catch (err) {
      throw networkError(what, err);
    }
    if (REDIRECT.has(res.status)) {
      await discard(res);
      const location = res.headers.get('location');
      if (!location) throw new ChannelPermanentError(`http_${res.status}`, `file not available (HTTP ${res.status} without a Location)`, 'refused');
      if (hop + 1 > policy.maxRedirects) throw new MediaRefusedError('redirect', `more than ${policy.maxRedirects} redirects`);
      let next: URL;
      try {
        next = checkMediaUrl(new URL(location, url).toString(), policy);
      } catch (err) {
        if (err instanceof MediaRefusedError && err.reason !== 'bad_url') {
          throw new MediaRefusedError('redirect', `redirected to a link that is not fetched: ${err.explanation}`);
        }
        throw new MediaRefusedError('redirect', 'redirected to an invalid link');
      }
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        throw new MediaRefusedError('redirect', 'redirected from https to plain http');
      }
      url = next;
      continue;
    }
    if (!res.ok) {
      await discard(res);
      const code = `http_${res.status}`;
      if (isRetryableStatus(res.status)) {
        const wait = retryAfterMs(res);
        throw new ChannelTransientError(code, `${what}: HTTP ${res.status}`, wait === undefined ? undefined : Math.min(wait, MAX_RETRY_AFTER_MS));
      }
      // 404/410 gone; 403 is what an expired signed link answers: retrying does not help either.
      throw new ChannelPermanentError(code, `file not available (HTTP ${res.status})`, 'refused');
    }
    const announced = Number(res.headers.get('content-length'));
    if (Number.isFinite(announced) && announced > policy.maxBytes) {
      await discard(res);
      throw tooLarge(policy.maxBytes, announced);
    }
    const bytes = await readCapped(res, policy.maxBytes, what);
    return { bytes, contentType: res.headers.get('content-type'), contentDisposition: res.headers.get('content-disposition'), url: url.toString() };
  }
}

/** The body, never holding more than `max` bytes: past that the stream is cancelled. */
async function readCapped(res: Response, max: number, what: string): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge(max);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof MediaRefusedError) throw err;
    if (isTimeout(err)) throw new ChannelTransientError('timeout', `${what}: timed out reading the file`);
    throw new ChannelTransientError('network', `${what}: connection lost while reading the file`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function tooLarge(max: number, announced?: number): MediaRefusedError {
  const limit = `MAX_MEDIA_BYTES (${formatBytes(max)})`;
  return new MediaRefusedError('too_large', announced === undefined ? `the file is larger than ${limit}` : `the file is ${formatBytes(announced)}, more than ${limit}`);
}

/** 104857600 → "100 MB"; 1536000 → "1.5 MB"; 1500 → "1,500 bytes". */
export function formatBytes(n: number): string {
  const MB = 1024 * 1024;
  if (n >= MB) return `${(Math.round((n / MB) * 10) / 10).toLocaleString('en-US')} MB`;
  return `${n.toLocaleString('en-US')} bytes`;
}

async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}
