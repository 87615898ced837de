// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Requests made with an `Idempotency-Key` (or a generated one): one row per (employee, key), the
 * request's fingerprint and, once answered, the answer (encrypted) — so a retry never acts twice.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('idempotent_requests')
    .addColumn('employee_id', 'bigint', (c) => c.notNull().references('employees.id'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    // sha256 (hex) of the body (JSON with its keys sorted).
    .addColumn('body_hash', 'text', (c) => c.notNull())
    // running: the first attempt is at work (or died: `locked_until` passed); done: answered.
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('running', 'done')`))
    // The attempt that owns a running request; renews `locked_until` while it works.
    .addColumn('attempt', 'text', (c) => c.notNull())
    .addColumn('locked_until', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'integer')
    // AES-256-GCM (iv | tag | ciphertext) under a key derived from the caller's API token.
    .addColumn('answer', 'bytea')
    // What the route needs to answer a retry with the current state (ids, the Temporal update).
    .addColumn('replay', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('idempotent_requests_pkey', ['employee_id', 'key'])
    .execute();
  // The purge deletes by age.
  await db.schema.createIndex('idempotent_requests_created_idx').on('idempotent_requests').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('idempotent_requests').ifExists().execute();
}
