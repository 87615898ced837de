/** Request fields the channel definitions share (with OpenAPI docs): secrets and numeric ids. */
import { z } from '@hono/zod-openapi';

/** A write-only secret (token, app secret, verify token). */
export const Secret = (max = 4096) => z.string().min(1).max(max);

/** A positive integer id given as a number or a string of digits; stored as a string. */
export const DigitsId = (what: string) =>
  z
    .union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^[1-9]\d{0,19}$/, `must be a positive integer ${what}`)])
    .openapi({ description: `${what} (a number or a string of digits)` });
