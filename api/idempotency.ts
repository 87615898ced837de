/**
 * `Idempotency-Key` for every POST, PUT, PATCH and DELETE under /api: a retry never acts twice.
 *
 * Each such request is recorded under (employee, key) — the caller's key, or one generated here
 * and given back in the `Idempotency-Key` response header — with its method, path and body hash:
 * - the first attempt claims the key and runs; its answer is stored unless it is a 5xx (those are
 *   retryable: the key is released and a retry runs again);
 * - a retry with the same request gets the stored answer (`Idempotent-Replayed: true`), or — for
 *   routes that asked for it (comments, edits, first contact) — is handed back to the route, which
 *   answers with the current state (a reply first answered 202 `pending` shows `sent` later);
 * - the same key with another method, path or body: 422 `idempotency_key_reused`;
 * - while the first attempt still runs: 409 `request_in_progress` (`Retry-After`). A running
 *   attempt renews a short lease; one that died (crash) is taken over after it.
 * Routes whose change is a database transaction store their answer in it (`commitAnswer`), so a
 * crash between the change and the record cannot make a retry act again. Records are kept
 * `IDEMPOTENCY_RETENTION_SECONDS` (then the key is new again and the row is purged).
 *
 * Stored answers are encrypted (AES-256-GCM) with a key derived from the caller's API token and
 * the idempotency key: the database alone never reveals them (an employee's token, shown once, is
 * replayed to its creator only).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import {
  claimRequest,
  finishRequest,
  purgeRequests,
  releaseRequest,
  renewLease,
  replaceAnswer,
  type OwnedRequest,
} from '../db/queries/idempotent-requests.js';
import { bearerToken } from './auth.js';
import type { AppDeps } from './deps.js';
import type { AppEnv } from './env.js';
import { ApiError, badRequest, conflict, unprocessable } from './errors.js';
import { IDEMPOTENCY_KEY_PATTERN } from './schemas.js';

/** A running attempt's claim lasts this long unless renewed (a crashed attempt is taken over after it). */
export const LEASE_SECONDS = 10;
const RENEW_EVERY_MS = 3_000;
const PURGE_EVERY_MS = 10 * 60_000;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What a route stores to answer a retry itself (ids, the Temporal update to wait for). No secrets. */
export type RetryState = Record<string, unknown>;

export interface Replay {
  /** The answer given before. */
  status: number;
  body: unknown;
  state: RetryState;
}

export interface IdempotencyContext {
  key: string;
  employeeId: string;
  /** Set when this attempt runs the request (not a retry). */
  owned?: OwnedRequest;
  /** Set when a retry is handed back to the route. */
  replay?: Replay;
  /** What the route wants back on a retry; stored with the answer. */
  retryState?: RetryState;
  /** The answer was stored in the route's own transaction. */
  committed: boolean;
  secret: Buffer;
}

export function idempotentRequests(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const { db, config, logger } = deps;
  let lastPurge = 0;

  return async (c, next) => {
    if (!MUTATING.has(c.req.method)) return next();
    const employee = c.get('employee');
    const given = c.req.header('idempotency-key');
    if (given !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(given)) {
      throw badRequest('Idempotency-Key', 'must be 8–100 characters of A–Z, a–z, 0–9, _ . : -');
    }
    const key = given ?? `auto-${randomUUID()}`;
    const ctx: IdempotencyContext = {
      key,
      employeeId: employee.id,
      committed: false,
      secret: answerKey(bearerToken(c.req.header('authorization')) ?? '', employee.id, key),
    };
    c.set('idempotency', ctx);
    // On every answer, errors included: the key to retry with.
    c.header('Idempotency-Key', key);

    if (Date.now() - lastPurge > PURGE_EVERY_MS) {
      lastPurge = Date.now();
      void purgeRequests(db, config.IDEMPOTENCY_RETENTION_SECONDS).then(
        (n) => n > 0 && logger.debug({ purged: n }, 'idempotent requests purged'),
        (err: unknown) => logger.warn({ err }, 'idempotent requests: purge failed'),
      );
    }

    const url = new URL(c.req.url);
    const attempt = randomUUID();
    const claim = await claimRequest(db, {
      employeeId: employee.id,
      key,
      method: c.req.method,
      path: url.pathname + url.search,
      bodyHash: hashBody(await c.req.text().catch(() => '')),
      attempt,
      leaseSeconds: LEASE_SECONDS,
      retentionSeconds: config.IDEMPOTENCY_RETENTION_SECONDS,
    });

    switch (claim.kind) {
      case 'mismatch':
        throw unprocessable('idempotency_key_reused', `this Idempotency-Key was used for another request (${claim.existing.method} ${claim.existing.path}, or another body)`, {
          idempotencyKey: key,
        });
      case 'in_progress':
        c.header('Retry-After', '1');
        throw conflict('request_in_progress', 'the first request with this Idempotency-Key is still running; retry in a moment', { idempotencyKey: key });
      case 'done': {
        const row = claim.existing;
        const stored = openAnswer(ctx.secret, row.answer);
        if (!row.replay) return storedResponse(c, row.status ?? 200, stored, key);
        // The route answers with the current state; a newer answer replaces the stored one.
        ctx.replay = { status: row.status ?? 200, body: parseJson(stored.body), state: row.replay };
        await next();
        c.res.headers.set('Idempotent-Replayed', 'true');
        if (c.res.status < 500) {
          const answer = await readAnswer(c.res);
          await replaceAnswer(db, { employeeId: employee.id, key }, { status: c.res.status, answer: seal(ctx.secret, answer), replay: ctx.retryState ?? null }).catch(
            (err: unknown) => logger.warn({ err, key }, 'idempotent request: newer answer not stored'),
          );
        }
        return;
      }
      case 'claimed':
        break;
    }

    const owned: OwnedRequest = { employeeId: employee.id, key, attempt };
    ctx.owned = owned;
    const renew = setInterval(() => {
      renewLease(db, owned, LEASE_SECONDS).catch(() => undefined);
    }, RENEW_EVERY_MS);
    renew.unref();
    try {
      await next();
    } finally {
      clearInterval(renew);
    }

    const status = c.res.status;
    try {
      if (status >= 500) await releaseRequest(db, owned);
      else if (!ctx.committed) await finishRequest(db, owned, { status, answer: seal(ctx.secret, await readAnswer(c.res)), replay: ctx.retryState ?? null });
    } catch (err) {
      // The answer stands. The claim runs out with its lease; a retry then runs the request again,
      // which every route survives without acting twice (update ids, request keys).
      logger.warn({ err, key, status }, 'idempotent request: answer not recorded');
    }
  };
}

function ctxOf(c: Context<AppEnv>): IdempotencyContext | undefined {
  return c.get('idempotency') as IdempotencyContext | undefined;
}

/** The request's idempotency key (the caller's, or the generated one). */
export function idempotencyKeyOf(c: Context<AppEnv>): string {
  const ctx = ctxOf(c);
  if (!ctx) throw new Error('idempotentRequests middleware is not installed for this route');
  return ctx.key;
}

/** A workflow update id for this request: the same for every retry, distinct between employees. */
export function requestIdFor(c: Context<AppEnv>, scope: string): string {
  return `${scope}:${c.get('employee').id}:${idempotencyKeyOf(c)}`;
}

/** A retry of a request whose route asked (with `answerRetriesHere`) to answer retries itself. */
export function replayOf(c: Context<AppEnv>): Replay | undefined {
  return ctxOf(c)?.replay;
}

/** A retry of this request comes back to the route with `state` (see `replayOf`) instead of the stored answer. */
export function answerRetriesHere(c: Context<AppEnv>, state: RetryState): void {
  const ctx = ctxOf(c);
  if (ctx) ctx.retryState = state;
}

/**
 * Stores the answer in the route's own transaction, together with its change: committed, a retry
 * replays it; rolled back, nothing was done. Throws 409 when another attempt took the request over.
 */
export async function commitAnswer(c: Context<AppEnv>, trx: Transaction<Database>, status: number, body: unknown): Promise<void> {
  const ctx = ctxOf(c);
  if (!ctx?.owned) return;
  const answer = JSON.stringify((status === 204 ? { contentType: null, body: '' } : { contentType: 'application/json', body: JSON.stringify(body) }) satisfies StoredBody);
  if (!(await finishRequest(trx, ctx.owned, { status, answer: seal(ctx.secret, answer), replay: null }))) {
    throw conflict('request_in_progress', 'another attempt of this request took it over; retry in a moment', { idempotencyKey: ctx.key });
  }
  ctx.committed = true;
}

// ---- stored answers ----

interface StoredBody {
  contentType: string | null;
  body: string;
}

async function readAnswer(res: Response): Promise<string> {
  const body = res.status === 204 || res.body === null ? '' : await res.clone().text();
  return JSON.stringify({ contentType: res.headers.get('content-type'), body } satisfies StoredBody);
}

function storedResponse(c: Context<AppEnv>, status: number, stored: StoredBody, key: string): Response {
  const headers: Record<string, string> = { 'Idempotency-Key': key, 'Idempotent-Replayed': 'true' };
  if (stored.contentType) headers['content-type'] = stored.contentType;
  return c.newResponse(status === 204 ? null : stored.body, status as 200, headers);
}

function openAnswer(secret: Buffer, sealed: Buffer | null): StoredBody {
  if (!sealed) return { contentType: null, body: '' };
  try {
    return JSON.parse(unseal(secret, sealed)) as StoredBody;
  } catch {
    // Only the token that made the request can open its answer (the key is scoped to its employee).
    throw new ApiError(409, 'idempotency_key_reused', 'the stored answer of this Idempotency-Key cannot be opened with this API token');
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The body as JSON with its keys sorted (a retry may serialise differently), else as sent. */
export function hashBody(text: string): string {
  let canonical = text;
  try {
    canonical = canonicalJson(JSON.parse(text));
  } catch {
    // not JSON (or nested beyond the stack): the bytes as sent
  }
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function answerKey(token: string, employeeId: string, key: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, 'taskwire/idempotent-answer', `${employeeId}:${key}`, 32));
}

function seal(secret: Buffer, plain: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

function unseal(secret: Buffer, sealed: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', secret, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
}
