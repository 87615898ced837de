/**
 * The one place where failures become the contract's error answer:
 * `{"error": {"code": "<machine_code>", "message": "<for a person>", "details": {...}}}`.
 * Handlers throw `ApiError` (or let typed failures bubble up); `handleError` is the app's onError.
 */
import { ApplicationFailure } from '@temporalio/common';
import { isGrpcServiceError } from '@temporalio/client';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { ActivityFailureType, FailureType } from '../workflows/shared/errors.js';
import type { AppEnv } from './env.js';

export type ErrorDetails = Record<string, unknown>;

export interface ErrorBody {
  error: { code: string; message: string; details?: ErrorDetails };
}

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

export function errorBody(code: string, message: string, details?: ErrorDetails): ErrorBody {
  return { error: details && Object.keys(details).length > 0 ? { code, message, details } : { code, message } };
}

/** 400 `invalid_request`; `details.field` names the field (dotted path, e.g. `settings.historyMessages`). */
export function badRequest(field: string, message: string, details: ErrorDetails = {}): ApiError {
  return new ApiError(400, 'invalid_request', `${field}: ${message}`, { field, ...details });
}
export function malformedJson(message = 'the request body is not valid JSON'): ApiError {
  return new ApiError(400, 'malformed_json', message);
}
export function unauthorized(message = 'a valid API token is required (Authorization: Bearer <token>)'): ApiError {
  return new ApiError(401, 'unauthorized', message);
}
export function forbidden(message = 'your role does not allow this'): ApiError {
  return new ApiError(403, 'forbidden', message);
}
/** 404 `not_found`, e.g. `notFound('channel', id)`. */
export function notFound(what: string, id?: string): ApiError {
  return new ApiError(404, 'not_found', id === undefined ? `${what} not found` : `${what} ${id} not found`, id === undefined ? { resource: what } : { resource: what, id });
}
export function conflict(code: string, message: string, details?: ErrorDetails): ApiError {
  return new ApiError(409, code, message, details);
}
export function payloadTooLarge(limitBytes: number): ApiError {
  return new ApiError(413, 'payload_too_large', `the request body exceeds ${limitBytes} bytes`, { limitBytes });
}
export function unprocessable(code: string, message: string, details?: ErrorDetails): ApiError {
  return new ApiError(422, code, message, details);
}
export function unavailable(message = 'a backing service is unavailable, retry later', details?: ErrorDetails): ApiError {
  return new ApiError(503, 'unavailable', message, details);
}

/** Turns a zod failure into 400 `invalid_request` naming the first failing field. */
export function validationError(error: ZodError, target?: string): ApiError {
  const issue = error.issues[0];
  if (!issue) return badRequest(target === 'json' || !target ? 'body' : target, 'invalid');
  const path = issue.path.map(String);
  // Unknown keys are reported on their parent object; name the key itself.
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
  const field = path.length > 0 ? path.join('.') : target === 'json' || !target ? 'body' : target;
  const issues = error.issues.slice(0, 10).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  return badRequest(field, issue.message, issues.length > 1 ? { issues } : {});
}

/** `id` path parameters are bigint ids; anything else simply does not exist. */
export function parseId(raw: string, what: string): string {
  if (!/^[1-9]\d{0,17}$/.test(raw)) throw notFound(what, raw);
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Classification of foreign errors

const PG_UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000', '08001', '08003', '08004', '08006', '08007', '08P01', // connection exceptions
]);
const NET_UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE',
]);
const PG_UNAVAILABLE_MESSAGE =
  /^Connection terminated|timeout exceeded when trying to connect|connection error and is not queryable|Cannot use a pool after calling end/;
/** gRPC UNAVAILABLE (14) and DEADLINE_EXCEEDED (4): the Temporal frontend can't be reached in time. */
const GRPC_UNAVAILABLE_CODES = new Set([14, 4]);

/** err, its causes and (for AggregateError) its members; bounded. */
function* chain(err: unknown, depth = 0): Generator<unknown> {
  if (err === null || err === undefined || depth > 6) return;
  yield err;
  if (err instanceof AggregateError) for (const e of err.errors) yield* chain(e, depth + 1);
  if (typeof err === 'object' && 'cause' in err) yield* chain((err as { cause: unknown }).cause, depth + 1);
}

/** True when the error means the database could not be reached (as opposed to a bad query). */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (const e of chain(err)) {
    if (typeof e !== 'object' || e === null) continue;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (PG_UNAVAILABLE_CODES.has(code) || NET_UNAVAILABLE_CODES.has(code))) return true;
    if (e instanceof Error && PG_UNAVAILABLE_MESSAGE.test(e.message)) return true;
  }
  return false;
}

export function isTemporalUnavailable(err: unknown): boolean {
  for (const e of chain(err)) {
    if (isGrpcServiceError(e) && GRPC_UNAVAILABLE_CODES.has(e.code)) return true;
    if (e instanceof Error && e.name === 'TransportError') return true;
  }
  return false;
}

/** Temporal could not be reached at all (as opposed to a deadline: then the call may have landed). */
export function isTemporalUnreachable(err: unknown): boolean {
  for (const e of chain(err)) {
    if (isGrpcServiceError(e) && e.code === 14) return true;
    if (e instanceof Error && e.name === 'TransportError') return true;
  }
  return false;
}

function failureDetails(f: ApplicationFailure): ErrorDetails {
  const first = f.details?.[0];
  return first && typeof first === 'object' && !Array.isArray(first) ? { ...(first as ErrorDetails) } : {};
}

/** The contract's status and default code for each failure a workflow or activity refuses an action with. */
const FAILURE_ANSWERS: Record<FailureType, { status: ContentfulStatusCode; code: string }> = {
  [FailureType.ReplyWindowClosed]: { status: 422, code: 'reply_window_closed' },
  [FailureType.MessagesDenied]: { status: 422, code: 'messages_denied' },
  [FailureType.ChannelRefused]: { status: 502, code: 'channel_refused' },
  [FailureType.NotSupported]: { status: 409, code: 'not_supported' },
  [FailureType.InvalidRequest]: { status: 400, code: 'invalid_request' },
  [FailureType.NotFound]: { status: 404, code: 'not_found' },
  [FailureType.ChannelInactive]: { status: 422, code: 'channel_inactive' },
};

function isFailureType(type: string | undefined | null): type is FailureType {
  return typeof type === 'string' && Object.hasOwn(FAILURE_ANSWERS, type);
}

/**
 * ApplicationFailures thrown by workflows / activities (workflows/shared/errors.ts) → contract errors.
 * `details.code` (a string) overrides the default machine code where one type covers several cases.
 */
export function failureToApiError(f: ApplicationFailure, c?: Context): ApiError | undefined {
  // The workflow's database work ran out of attempts: nothing was changed.
  if (f.type === ActivityFailureType.DatabaseUnavailable) return unavailable('the database is unavailable, retry later', { service: 'database' });
  if (f.type === ActivityFailureType.InvalidData) return new ApiError(400, 'invalid_request', 'a value could not be stored', {});
  if (!isFailureType(f.type)) return undefined;
  const details = failureDetails(f);
  const { status, code } = FAILURE_ANSWERS[f.type];
  // The contract names the edit case; PATCH is only used for edits of comments.
  const named = f.type === FailureType.NotSupported && c?.req.method === 'PATCH' ? 'edit_not_supported' : code;
  return new ApiError(status, typeof details.code === 'string' ? details.code : named, f.message || 'refused', details);
}

function httpExceptionToApiError(e: HTTPException): ApiError {
  switch (e.status) {
    case 400:
      return /malformed json/i.test(e.message) ? malformedJson() : new ApiError(400, 'bad_request', e.message || 'bad request');
    case 401:
      return unauthorized();
    case 403:
      return forbidden();
    case 404:
      return new ApiError(404, 'not_found', e.message || 'not found');
    case 413:
      return new ApiError(413, 'payload_too_large', 'the request body is too large');
    case 415:
      return new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
    default:
      return new ApiError(e.status as ContentfulStatusCode, `http_${e.status}`, e.message || 'request failed');
  }
}

/** Maps anything thrown to an ApiError. Unknown errors become a 500 that leaks nothing. */
export function toApiError(err: unknown, c?: Context): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) return httpExceptionToApiError(err);
  for (const e of chain(err)) {
    if (e instanceof ApiError) return e;
    if (e instanceof ApplicationFailure) {
      const mapped = failureToApiError(e, c);
      if (mapped) return mapped;
    }
  }
  if (isDatabaseUnavailable(err)) return unavailable('the database is unavailable, retry later', { service: 'database' });
  if (isTemporalUnavailable(err)) return unavailable('Temporal is unavailable, retry later', { service: 'temporal' });
  return new ApiError(500, 'internal', 'internal error');
}

/** The app's single onError. */
export function handleError(
  err: unknown,
  c: Context<AppEnv>,
  log?: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void },
): Response {
  const apiError = toApiError(err, c);
  const requestId = c.get('requestId');
  if (apiError.status >= 500) {
    const logged = { err, requestId, method: c.req.method, path: c.req.path, code: apiError.code };
    if (apiError.status === 500) log?.error(logged, 'request failed');
    else log?.warn(logged, 'request failed: backing service');
  }
  const details = apiError.status === 500 && requestId ? { ...apiError.details, requestId } : apiError.details;
  if (apiError.status === 503) c.header('Retry-After', '5');
  return c.json(errorBody(apiError.code, apiError.message, details), apiError.status);
}
