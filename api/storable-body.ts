/**
 * 400 for a JSON body with a string PostgreSQL cannot store (NUL, a lone UTF-16 surrogate),
 * naming the field — instead of a 500 from the database after the route has begun its work.
 */
import type { MiddlewareHandler } from 'hono';
import { findUnstorable } from '../runtime/storable-text.js';
import type { AppEnv } from './env.js';
import { badRequest } from './errors.js';

export function rejectUnstorableStrings(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const type = c.req.header('content-type') ?? '';
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && /\bjson\b/i.test(type)) {
      // Hono keeps the parsed body: the route's validator reads the same one. Malformed JSON is
      // the validator's to answer.
      const body = await c.req.json().catch(() => undefined);
      const field = body === undefined ? undefined : findUnstorable(body);
      if (field !== undefined) throw badRequest(field || 'body', 'contains a character that cannot be stored (NUL or a lone UTF-16 surrogate)');
    }
    for (const [name, value] of Object.entries(c.req.query())) {
      if (findUnstorable(value) !== undefined) throw badRequest(name, 'contains a character that cannot be stored (NUL or a lone UTF-16 surrogate)');
    }
    await next();
  };
}
