/**
 * WhatsApp Cloud API webhook authentication (reference: shared/reference/whatsapp-cloud-api.md §1).
 *
 * POSTs carry `X-Hub-Signature-256: sha256=<64 hex>`, the HMAC-SHA256 of the exact request bytes
 * keyed with the Meta app secret (§1.2). The bytes must be the ones that came off the socket:
 * Meta's encoder escapes non-ASCII and `/` differently from JSON.stringify, so a re-serialised body
 * never verifies. (The GET handshake, §1.1, is answered by api/routes/webhooks-whatsapp.ts.)
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

