import { Kysely, Migrator, PostgresDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_delivery_reports.js';
import * as m0003 from './migrations/0003_broadcasts.js';
import * as m0004 from './migrations/0004_dead_letters.js';
import * as m0005 from './migrations/0005_idempotent_requests.js';
import * as m0006 from './migrations/0006_channel_kinds_from_registry.js';
import * as m0007 from './migrations/0007_replies_that_wait.js';
import * as m0008 from './migrations/0008_edit_history_and_sla.js';
import * as m0009 from './migrations/0009_pending_profiles.js';
import * as m0010 from './migrations/0010_task_change_notifications.js';

export type Db = Kysely<Database>;
export type { Database } from './schema.js';

/** Listed explicitly (not read from a folder) so the same code runs from sources and bundles. */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_delivery_reports': m0002,
  '0003_broadcasts': m0003,
  '0004_dead_letters': m0004,
  '0005_idempotent_requests': m0005,
  '0006_channel_kinds_from_registry': m0006,
  '0007_replies_that_wait': m0007,
  '0008_edit_history_and_sla': m0008,
  '0009_pending_profiles': m0009,
  '0010_task_change_notifications': m0010,
};

export function createDb(databaseUrl: string, opts: { max?: number } = {}): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: opts.max ?? 10 });
  // A client's error (server restart, terminated connection) must not crash the process: the
  // query in flight fails (and is retried by its activity or answered 503), the next one reconnects.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
