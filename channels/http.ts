/** HTTP helpers every channel client shares: failure classification, response headers, guards for untyped JSON. */
import { ChannelTransientError } from './types.js';

export function networkError(what: string, err: unknown): ChannelTransientError {
  if (isTimeout(err)) return new ChannelTransientError('timeout', `${what}: timed out`);
  return new ChannelTransientError('network', `${what}: network error (${errorText(err)})`);
}

export function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? `: ${cause.message}` : '';
    return `${err.message}${causeText}`;
  }
  return String(err);
}

/** `Retry-After` in seconds or as an HTTP date → ms; undefined when absent or unreadable. */
export function retryAfterMs(res: Response): number | undefined {
  const header = res.headers.get('retry-after');
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(header);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - Date.now());
}

/** 5xx, 429 (too many requests) and 408 (request timeout): the server's trouble, worth retrying. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function arrayOrEmpty(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The file name a Content-Disposition header gives (RFC 6266 `filename*` first). */
export function filenameFromDisposition(cd: string | null | undefined): string | undefined {
  if (!cd) return undefined;
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(cd);
  if (star?.[1]) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      /* fall through */
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/.exec(cd);
  return plain?.[1]?.trim() || undefined;
}
