/**
 * Requests made with an Idempotency-Key (api/idempotency.ts): claimed before the route runs,
 * answered (or released) after it. Times are the database's, so API replicas agree on leases.
 */
import { sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Database, IdempotentRequest } from '../schema.js';

type Q = Kysely<Database> | Transaction<Database>;

export interface RequestFingerprint {
  employeeId: string;
  key: string;
  method: string;
  path: string;
  bodyHash: string;
}

export type Claim =
  /** This attempt owns the request: run it. `takenOver`: an earlier attempt died without answering. */
  | { kind: 'claimed'; takenOver: boolean }
  /** Another attempt is at work and renewing its lease. */
  | { kind: 'in_progress' }
  /** The key was used for another method, path or body. */
  | { kind: 'mismatch'; existing: Pick<IdempotentRequest, 'method' | 'path'> }
  | { kind: 'done'; existing: IdempotentRequest };

const secs = (n: number) => sql<Date>`now() + make_interval(secs => ${n})`;

/**
 * Claims (employee, key) for `attempt`. A row older than the retention is forgotten (the key is
 * new again); a running row whose lease ran out is taken over if the request is the same.
 */
export async function claimRequest(
  db: Q,
  r: RequestFingerprint & { attempt: string; leaseSeconds: number; retentionSeconds: number },
): Promise<Claim> {
  const fresh = {
    employee_id: r.employeeId,
    key: r.key,
    method: r.method,
    path: r.path,
    body_hash: r.bodyHash,
    state: 'running' as const,
    attempt: r.attempt,
    locked_until: secs(r.leaseSeconds),
    status: null,
    answer: null,
    replay: null,
    created_at: sql<Date>`now()`,
    updated_at: sql<Date>`now()`,
  };
  for (let round = 0; round < 3; round++) {
    const inserted = await db
      .insertInto('idempotent_requests')
      .values(fresh)
      .onConflict((oc) => oc.columns(['employee_id', 'key']).doNothing())
      .returning('attempt')
      .executeTakeFirst();
    if (inserted) return { kind: 'claimed', takenOver: false };

    const existing = await db
      .selectFrom('idempotent_requests')
      .selectAll()
      .select([
        sql<boolean>`created_at < now() - make_interval(secs => ${r.retentionSeconds})`.as('expired'),
        sql<boolean>`locked_until < now()`.as('lease_over'),
      ])
      .where('employee_id', '=', r.employeeId)
      .where('key', '=', r.key)
      .executeTakeFirst();
    if (!existing) continue; // purged meanwhile: insert again
    const { expired, lease_over, ...row } = existing;

    if (expired) {
      // Forgotten: the key starts over (compare-and-set on the row we saw).
      const renewed = await db
        .updateTable('idempotent_requests')
        .set(fresh)
        .where('employee_id', '=', r.employeeId)
        .where('key', '=', r.key)
        .where('attempt', '=', row.attempt)
        .returning('attempt')
        .executeTakeFirst();
      if (renewed) return { kind: 'claimed', takenOver: false };
      continue;
    }
    if (row.method !== r.method || row.path !== r.path || row.body_hash !== r.bodyHash) {
      return { kind: 'mismatch', existing: { method: row.method, path: row.path } };
    }
    if (row.state === 'done') return { kind: 'done', existing: row };
    if (!lease_over) return { kind: 'in_progress' };
    const taken = await db
      .updateTable('idempotent_requests')
      .set({ attempt: r.attempt, locked_until: secs(r.leaseSeconds), updated_at: sql<Date>`now()` })
      .where('employee_id', '=', r.employeeId)
      .where('key', '=', r.key)
      .where('state', '=', 'running')
      .where('attempt', '=', row.attempt)
      .returning('attempt')
      .executeTakeFirst();
    return taken ? { kind: 'claimed', takenOver: true } : { kind: 'in_progress' };
  }
  return { kind: 'in_progress' };
}

export interface OwnedRequest {
  employeeId: string;
  key: string;
  attempt: string;
}

/** The request's row while this attempt still runs it (the lease is its own). */
function ownedBy(r: OwnedRequest) {
  return (eb: ExpressionBuilder<Database, 'idempotent_requests'>) =>
    eb.and({ employee_id: r.employeeId, key: r.key, attempt: r.attempt, state: 'running' });
}

/** Keeps a running request's lease; false when another attempt owns it now. */
export async function renewLease(db: Q, r: OwnedRequest, leaseSeconds: number): Promise<boolean> {
  const res = await db
    .updateTable('idempotent_requests')
    .set({ locked_until: secs(leaseSeconds) })
    .where(ownedBy(r))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export interface StoredAnswer {
  status: number;
  answer: Buffer;
  replay: Record<string, unknown> | null;
}

/** Records the answer of the attempt that owns the request; false when it no longer does. */
export async function finishRequest(db: Q, r: OwnedRequest, a: StoredAnswer): Promise<boolean> {
  const res = await db
    .updateTable('idempotent_requests')
    .set({ state: 'done', status: a.status, answer: a.answer, replay: a.replay === null ? null : JSON.stringify(a.replay), updated_at: sql<Date>`now()` })
    .where(ownedBy(r))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** A retry answered by its route (with the current state): the newer answer replaces the stored one. */
export async function replaceAnswer(db: Q, r: { employeeId: string; key: string }, a: StoredAnswer): Promise<void> {
  await db
    .updateTable('idempotent_requests')
    .set({ status: a.status, answer: a.answer, replay: a.replay === null ? null : JSON.stringify(a.replay), updated_at: sql<Date>`now()` })
    .where('employee_id', '=', r.employeeId)
    .where('key', '=', r.key)
    .where('state', '=', 'done')
    .execute();
}

/** Forgets a request that was not answered for good (a 5xx): a retry runs it again. */
export async function releaseRequest(db: Q, r: OwnedRequest): Promise<void> {
  await db
    .deleteFrom('idempotent_requests')
    .where(ownedBy(r))
    .execute();
}

/** Deletes requests older than the retention; returns how many. */
export async function purgeRequests(db: Q, retentionSeconds: number): Promise<number> {
  const res = await db
    .deleteFrom('idempotent_requests')
    .where(sql<boolean>`created_at < now() - make_interval(secs => ${retentionSeconds})`)
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
