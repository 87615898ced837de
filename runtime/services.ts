/**
 * The composition root: builds what the API and the worker need from the configuration, starting
 * the embedded PostgreSQL and the Temporal dev server when no external ones are configured.
 * Used by scripts/start.ts (everything in one process), api/main.ts and worker/main.ts.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDb, migrateToLatest, type Db } from '../db/index.js';
import type { Config } from './config.js';
import { startEmbeddedRuntime, type EmbeddedChild, type EmbeddedRuntime } from './embedded-runtime.js';
import { FileStore } from './file-store.js';
import type { Logger } from './logger.js';
import { ensureSearchAttributes } from './search-attributes.js';

export interface Services {
  config: Config;
  db: Db;
  /** Where `db` connects (the embedded PostgreSQL's when DATABASE_URL is unset): holds the password, never log it. */
  databaseUrl: string;
  files: FileStore;
  logger: Logger;
  temporalAddress: string;
  /** The embedded dev server's UI, when `npm start` runs one. */
  temporalUiUrl?: string;
  /** Pids of the embedded children (PostgreSQL, Temporal) that run now. */
  embeddedPids(): Partial<Record<EmbeddedChild, number>>;
  /** Closes connections and stops embedded servers, in reverse order of start. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** Start embedded PostgreSQL / Temporal when DATABASE_URL / TEMPORAL_ADDRESS are unset. */
  embedded: boolean;
  /** An embedded child that cannot be restarted (default: log it; `npm start` exits non-zero). */
  onFatal?(err: Error): void;
  onRestart?(child: EmbeddedChild): void;
}

export async function startServices(config: Config, logger: Logger, opts: ServiceOptions): Promise<Services> {
  const closers: Array<() => Promise<void>> = [];
  let embedded: EmbeddedRuntime | undefined;
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((err) => logger.warn({ err: String(err) }, 'shutdown step failed'));
  };
  try {
    let databaseUrl = config.DATABASE_URL;
    let temporalAddress = config.TEMPORAL_ADDRESS;
    const need = { postgres: !databaseUrl, temporal: !temporalAddress };
    if ((need.postgres || need.temporal) && !opts.embedded) {
      throw new Error(
        need.postgres
          ? 'DATABASE_URL is not set (only `npm start` starts an embedded PostgreSQL)'
          : 'TEMPORAL_ADDRESS is not set (only `npm start` starts a local Temporal dev server)',
      );
    }
    if (need.postgres || need.temporal) {
      embedded = await startEmbeddedRuntime(config, logger, {
        ...need,
        onFatal: opts.onFatal ?? ((err) => logger.fatal({ err: err.message }, 'an embedded server cannot be restarted')),
        onRestart: opts.onRestart,
      });
      closers.push(() => embedded!.close());
      databaseUrl ??= embedded.databaseUrl;
      temporalAddress ??= embedded.temporalAddress;
    }
    if (!databaseUrl || !temporalAddress) throw new Error('no database or Temporal address after start (a bug)');

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

    return {
      config,
      db,
      databaseUrl,
      files: new FileStore(config.filesDir),
      logger,
      temporalAddress: temporalAddress!,
      temporalUiUrl: embedded?.temporalUiUrl,
      embeddedPids: () => embedded?.pids() ?? {},
      close,
    };
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

/** Every stop (SIGINT/SIGTERM, or a fatal error) ends within this, whatever hangs. */
export const SHUTDOWN_DEADLINE_MS = 15_000;

export interface Shutdown {
  /** Runs the stop steps once and exits with `code` (0 for a signal, 1 for a fatal error). */
  (reason: string, code: number): void;
}

/**
 * Runs `stop` once on SIGINT/SIGTERM (or when the returned function is called), then exits.
 * A stop still running after SHUTDOWN_DEADLINE_MS (less a margin) calls `onDeadline` (kill what
 * is left) and exits non-zero.
 */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>, onDeadline?: () => void): Shutdown {
  let stopping = false;
  const shutdown: Shutdown = (reason, code) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    logger.info({ reason }, 'shutting down');
    setTimeout(() => {
      logger.error({ ms: Date.now() - started }, 'shutdown did not finish in time; ending what is left');
      onDeadline?.();
      process.exit(code || 1);
    }, SHUTDOWN_DEADLINE_MS - 1_000).unref();
    stop().then(
      () => {
        logger.info({ ms: Date.now() - started }, 'stopped');
        process.exit(code);
      },
      (err) => {
        logger.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => shutdown(sig, 0));
  return shutdown;
}
