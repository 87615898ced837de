/**
 * Schema pieces every route file uses: the error body, id parameters, the bearer security
 * requirement and the standard error responses. The zod schemas here also produce /openapi.json.
 */
import { z } from '@hono/zod-openapi';

export const BEARER_SCHEME = 'bearerAuth';
/** `security` of a route under /api. */
export const bearerSecurity = [{ [BEARER_SCHEME]: [] as string[] }];

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request' }),
      message: z.string().openapi({ example: 'settings.historyMessages: Invalid option: expected one of 1|5|10|20|50' }),
      details: z.record(z.string(), z.unknown()).optional().openapi({ example: { field: 'settings.historyMessages' } }),
    }),
  })
  .openapi('Error');

/** Ids are strings of digits (bigint); numbers are accepted on input. */
export const IdInput = z
  .union([z.string().regex(/^[1-9]\d{0,17}$/, 'must be an id (digits)'), z.number().int().positive()])
  .openapi({ example: '12', description: 'an id (string of digits; a number is accepted)' });
export const idString = (v: string | number): string => String(v);
/** An id in a query string: digits that fit a bigint (a longer one would be a 500 from the database). */
export const IdQuery = z.string().regex(/^[1-9]\d{0,17}$/, 'must be an id (digits)');

export const IdParams = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '12' }),
});

/**
 * `request.headers` of every POST/PUT/PATCH/DELETE route (api/idempotency.ts enforces it for all of
 * them; this documents it).
 */
export const IDEMPOTENCY_KEY_PATTERN = /^[\w.:-]{8,100}$/;

export const idempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .regex(IDEMPOTENCY_KEY_PATTERN)
    .optional()
    .openapi({
      description:
        'Makes a retry safe: a request repeated with the same key (same method, path and body) never acts twice — it gets the first answer ' +
        '(`Idempotent-Replayed: true`; for comments, edits and first contact the current state of the comment). ' +
        'The same key with another request: 422 `idempotency_key_reused`; while the first is still running: 409 `request_in_progress`. ' +
        '5xx answers are not kept (retry with the same key). Keys are per employee, kept IDEMPOTENCY_RETENTION_SECONDS (24 h); ' +
        'without one, the answer\'s `Idempotency-Key` header gives a generated key to retry with. 8–100 characters of [A-Za-z0-9_.:-].',
    }),
});

export const IsoTime = z.string().openapi({ format: 'date-time', example: '2025-01-31T12:00:00.000Z' });

const err = (description: string) => ({ content: { 'application/json': { schema: ErrorSchema } }, description });

/** The statuses an error response is documented for. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 502 | 503;

/** Error responses by status, for `responses: {...errorResponses(400, 401, 403)}`. */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]) {
  const text: Record<number, string> = {
    400: 'Malformed JSON (`malformed_json`) or an invalid field (`invalid_request`, `details.field` names it)',
    401: 'No or bad API token (`unauthorized`)',
    403: 'The role does not allow this (`forbidden`)',
    404: 'Not found (`not_found`)',
    409: 'Conflict',
    413: 'Body too large (`payload_too_large`)',
    415: 'Body is not application/json (`unsupported_media_type`)',
    422: 'Refused by a rule',
    502: 'The channel refused (`details.channelCode`)',
    503: 'The database or Temporal is unavailable, or the conversation has not taken the request yet (`unavailable`); retry with the same Idempotency-Key',
  };
  return Object.fromEntries(statuses.map((s) => [s, err(text[s]!)])) as { [K in S]: ReturnType<typeof err> };
}

export const jsonBody = <T extends z.ZodType>(schema: T, description?: string) => ({
  content: { 'application/json': { schema } },
  required: true,
  ...(description ? { description } : {}),
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

/** A text/plain answer (a webhook's `ok`, a challenge, the metrics). */
export const textResponse = (description: string) => ({
  description,
  content: { 'text/plain': { schema: z.string() } },
});

/** One schema, or the union of several (zod's union wants two or more): e.g. the recipients of every channel kind. */
export function unionOf(schemas: z.ZodType[]): z.ZodType {
  return schemas.length === 1 ? schemas[0]! : z.union(schemas as [z.ZodType, z.ZodType, ...z.ZodType[]]);
}
