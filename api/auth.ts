/**
 * Bearer tokens. A token is `tw_` + 32 random bytes (base64url); only its sha256 (hex) is stored
 * in employees.token_hash, so a database leak does not leak usable tokens.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/index.js';
import type { Employee, Role } from '../db/schema.js';
import { findEmployeeByTokenHash, insertEmployee } from '../db/queries/employees.js';
import { forbidden, unauthorized } from './errors.js';
import { cachedEmployeeByToken } from './read-cache.js';
import type { AuthGuard } from './auth-throttle.js';
import type { AppEnv } from './env.js';

export const TOKEN_PREFIX = 'tw_';
/** Longer "tokens" are refused before hashing (BOOTSTRAP_ADMIN_TOKEN may be any string ≥ 16 chars). */
const MAX_TOKEN_LENGTH = 512;

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** `Authorization: Bearer <token>` → the token, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer[ \t]+(\S+)[ \t]*$/i);
  const token = m?.[1];
  return token && token.length <= MAX_TOKEN_LENGTH ? token : undefined;
}

/** The employee a token belongs to, or undefined (a found one is kept a second: read-cache.ts). */
export async function authenticate(db: Db, token: string): Promise<Employee | undefined> {
  const hash = hashToken(token);
  const employee = await cachedEmployeeByToken(db, hash, () => findEmployeeByTokenHash(db, hash));
  if (!employee) return undefined;
  // The lookup is by hash already; compare again in constant time so no code path branches on a partial match.
  const a = Buffer.from(employee.token_hash, 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b) ? employee : undefined;
}

/**
 * Requires a valid bearer token; puts the employee on the context (`c.get('employee')`).
 * With a guard, an address that presented too many wrong tokens gets 429 before its token is
 * looked at; a request without an Authorization header is refused but not counted.
 */
export function bearerAuth(db: Db, guard?: AuthGuard): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const attempt = guard?.attempt(c, 'api', 'api_token');
    const blocked = attempt?.blocked();
    if (blocked) return blocked;
    const header = c.req.header('authorization');
    const token = bearerToken(header);
    const employee = token ? await authenticate(db, token) : undefined;
    if (!employee) {
      if (header !== undefined) attempt?.failed();
      throw token ? unauthorized('the API token is not valid') : unauthorized();
    }
    c.set('employee', employee);
    await next();
  };
}

/** 403 unless the authenticated employee has one of `roles`. Use after bearerAuth. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    assertRole(c.get('employee'), ...roles);
    await next();
  };
}

export function assertRole(employee: Employee | undefined, ...roles: Role[]): asserts employee is Employee {
  if (!employee) throw unauthorized();
  if (!roles.includes(employee.role)) {
    throw forbidden(`this needs the role ${roles.join(' or ')}; you are ${employee.role}`);
  }
}

/**
 * If `token` is given and the account has no employees yet, creates the owner (role owner,
 * name Owner) with that token. Safe to call from several processes at once and on every start:
 * a transaction-scoped advisory lock serialises the check and the insert.
 * Returns the created owner, or null when nothing was done.
 */
export async function bootstrapOwner(db: Db, token?: string): Promise<Employee | null> {
  if (!token) return null;
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('taskwire:bootstrap-owner'))`.execute(trx);
    const any = await trx.selectFrom('employees').select('id').limit(1).executeTakeFirst();
    if (any) return null;
    return insertEmployee(trx, { name: 'Owner', role: 'owner', tokenHash: hashToken(token) });
  });
}

/** Constant-time comparison of secrets of any length. */
export function secretsEqual(given: string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '', 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Compare equal-length buffers always, so the time does not reveal the expected length.
  const same = timingSafeEqual(Buffer.concat([a, Buffer.alloc(Math.max(0, b.length - a.length))]).subarray(0, b.length), b);
  return same && a.length === b.length && given !== undefined;
}
