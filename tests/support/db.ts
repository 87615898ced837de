/**
 * A fresh, migrated database per test file (or per test) on the shared cluster of
 * tests/global-setup.ts. Names are unique, so files running in parallel never share state.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, migrateToLatest, type Db } from '../../db/index.js';

export interface TestDatabase {
  db: Db;
  url: string;
  /** Closes the pool and drops the database (connections still open are terminated). */
  drop(): Promise<void>;
}

export async function createTestDatabase(opts: { max?: number } = {}): Promise<TestDatabase> {
  const adminUrl = inject('databaseAdminUrl');
  const name = `tw_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`create database ${c.escapeIdentifier(name)}`));

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), { max: opts.max ?? 5 });
  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy().catch(() => {});
    await admin(adminUrl, (c) => c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`)).catch(() => {});
    throw err;
  }

  let dropped: Promise<void> | undefined;
  return {
    db,
    url: url.toString(),
    drop: () =>
      (dropped ??= (async () => {
        await db.destroy();
        await admin(adminUrl, (c) => c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`));
      })()),
  };
}

async function admin(adminUrl: string, fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}
