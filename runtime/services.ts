/**
 * The composition root: builds what the API and the worker need from the configuration, starting
 * the embedded PostgreSQL and the Temporal dev server when no external ones are configured.
 * Used by scripts/start.ts (everything in one process), api/main.ts and worker/main.ts.
 */
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDb, migrateToLatest, type Db } from '../db/index.js';
import type { Config } from './config.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { FileStore } from './file-store.js';
import type { Logger } from './logger.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { findOrBuildTemporalCli } from './temporal-cli.js';
import { startTemporalDevServer } from './temporal-dev-server.js';

export interface Services {
  config: Config;
  db: Db;
  files: FileStore;
  logger: Logger;
  temporalAddress: string;
  /** Closes connections and stops embedded servers, in reverse order of start. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** Start embedded PostgreSQL / Temporal when DATABASE_URL / TEMPORAL_ADDRESS are unset. */
  embedded: boolean;
}

export async function startServices(config: Config, logger: Logger, opts: ServiceOptions): Promise<Services> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((err) => logger.warn({ err: String(err) }, 'shutdown step failed'));
  };
  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      if (!opts.embedded) throw new Error('DATABASE_URL is not set (only `npm start` starts an embedded PostgreSQL)');
      const dataDir = path.join(config.dataDir, 'postgres');
      logger.info({ dataDir }, 'starting embedded PostgreSQL');
      const pg = await startEmbeddedPostgres({ dataDir });
      closers.push(() => pg.stop());
      databaseUrl = pg.url;
    }

    let temporalAddress = config.TEMPORAL_ADDRESS;
    if (!temporalAddress) {
      if (!opts.embedded) throw new Error('TEMPORAL_ADDRESS is not set (only `npm start` starts a local Temporal dev server)');
      const binary = await findOrBuildTemporalCli({ log: (l) => logger.info(l) });
      logger.info({ binary }, 'starting Temporal dev server');
      const server = await startTemporalDevServer({
        binary,
        port: config.TEMPORAL_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        dbFilename: path.join(config.dataDir, 'temporal.db'),
        namespace: config.TEMPORAL_NAMESPACE,
      });
      closers.push(() => server.stop());
      temporalAddress = server.address;
      logger.info({ address: server.address, ui: server.uiUrl }, 'Temporal dev server running');
    }

    const db = createDb(databaseUrl);
    closers.push(() => db.destroy());
    const applied = await migrateToLatest(db);
    if (applied.length) logger.info({ migrations: applied }, 'database migrated');

    // Attributes must exist before any workflow upserts them (also against external servers).
    const connection = await Connection.connect({ address: temporalAddress });
    try {
      await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
    } finally {
      await connection.close();
    }

    return { config, db, files: new FileStore(config.filesDir), logger, temporalAddress, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function connectClient(services: Services): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address: services.temporalAddress });
  return { client: new Client({ connection, namespace: services.config.TEMPORAL_NAMESPACE }), close: () => connection.close() };
}

export async function connectWorker(services: Services): Promise<NativeConnection> {
  return NativeConnection.connect({ address: services.temporalAddress });
}

/** Runs `stop` once on SIGINT/SIGTERM, then exits. */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal: sig }, 'shutting down');
      stop().then(
        () => process.exit(0),
        (err) => {
          logger.error({ err: String(err) }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}
