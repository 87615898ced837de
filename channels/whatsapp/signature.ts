/**
 * WhatsApp Cloud API webhook authentication (reference: shared/reference/whatsapp-cloud-api.md §1).
 *
 * POSTs carry `X-Hub-Signature-256: sha256=<64 hex>`, the HMAC-SHA256 of the exact request bytes
 * keyed with the Meta app secret (§1.2). The bytes must be the ones that came off the socket:
 * Meta's encoder escapes non-ASCII and `/` differently from JSON.stringify, so a re-serialised body
 * never verifies. The GET handshake (§1.1) echoes `hub.challenge` when `hub.verify_token` matches.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEADER = /^sha256=([0-9a-fA-F]{64})$/;

/** `sha256=<lowercase hex>` of `rawBody` with `appSecret`, as Meta sends it (for tests and fakes). */
export function sign(rawBody: Uint8Array | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/**
 * True when `header` is a well-formed `sha256=<64 hex>` value matching the HMAC of `rawBody`.
 * A missing or malformed header, or an empty secret, is false (never a throw). Hex case is not
 * significant; the comparison is constant-time over the 32 digest bytes.
 */
export function verifySignature(rawBody: Uint8Array, header: string | undefined, appSecret: string): boolean {
  if (typeof header !== 'string' || !appSecret) return false;
  const m = HEADER.exec(header.trim());
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Query parameters of the verification GET (`URL.searchParams`, or a plain record of them). */
export type VerificationQuery = URLSearchParams | Record<string, string | string[] | undefined>;

/**
 * The GET handshake (§1.1): the challenge to answer with (200, text/plain) when `hub.mode` is
 * `subscribe` and `hub.verify_token` equals `verifyToken` exactly; otherwise null (answer 403).
 * The challenge is opaque: returned unchanged, never parsed as a number.
 */
export function verificationChallenge(query: VerificationQuery, verifyToken: string): string | null {
  const get = (key: string): string | undefined => {
    if (query instanceof URLSearchParams) return query.get(key) ?? undefined;
    const v = query[key];
    return Array.isArray(v) ? undefined : v;
  };
  const mode = get('hub.mode');
  const token = get('hub.verify_token');
  const challenge = get('hub.challenge');
  if (mode !== 'subscribe' || token === undefined || challenge === undefined || challenge === '' || !verifyToken) return null;
  return constantTimeEqual(token, verifyToken) ? challenge : null;
}

/** Constant-time string equality that does not reveal the expected length through timing. */
export function constantTimeEqual(given: string, expected: string): boolean {
  const a = createHmac('sha256', 'taskwire-compare').update(given, 'utf8').digest();
  const b = createHmac('sha256', 'taskwire-compare').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && given === expected;
}
