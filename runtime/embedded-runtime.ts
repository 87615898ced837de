/**
 * The embedded runtime of `npm start`: PostgreSQL and the Temporal dev server as supervised
 * children (runtime/supervisor.ts), with the state under DATA_DIR.
 *
 * After a crash (`kill -9` of taskwire, a power cut) the next start finds what the last run left:
 * - `DATA_DIR/taskwire.pid` names the run that owns DATA_DIR. A live owner (a second `npm start`,
 *   or the last run still shutting down) is waited for with backoff, then named in the error.
 * - With the lock held, a postmaster or dev server of an earlier run that is still alive (its
 *   parent died, and it has not noticed yet) is shut down before ours starts; stale
 *   `postmaster.pid` files of dead processes are PostgreSQL's own business.
 * - Every start is retried with backoff within STARTUP_TIMEOUT_SECONDS.
 *
 * While taskwire runs, a child that dies is restarted on the same port with the same data; when it
 * cannot be brought back, `onFatal` is called and the owner exits non-zero.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { commandLineOf, endLeftover, processMatches } from './child-process.js';
import type { Config } from './config.js';
import { queryOnce, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { freePort } from './free-port.js';
import type { Logger } from './logger.js';
import { Supervisor } from './supervisor.js';
import { findOrBuildTemporalCli } from './temporal-cli.js';
import { frontendAnswers, startTemporalDevServer, type TemporalDevServer } from './temporal-dev-server.js';

export type EmbeddedChild = 'postgres' | 'temporal';

export interface EmbeddedRuntimeOptions {
  postgres: boolean;
  temporal: boolean;
  /** A child that cannot be restarted: the owner shuts down and exits non-zero. */
  onFatal(err: Error): void;
  /** Every restart of a child (for metrics). */
  onRestart?(child: EmbeddedChild): void;
}

export interface EmbeddedRuntime {
  databaseUrl?: string;
  temporalAddress?: string;
  temporalUiUrl?: string;
  /** Current pids (for the chaos run and diagnostics). */
  pids(): Partial<Record<EmbeddedChild, number>>;
  /** Stops Temporal, then PostgreSQL, then releases DATA_DIR. */
  close(): Promise<void>;
}

type LockFile = { pid: number; cmdline: string; startedAt: string };

export async function startEmbeddedRuntime(config: Config, logger: Logger, opts: EmbeddedRuntimeOptions): Promise<EmbeddedRuntime> {
  const startTimeoutMs = config.STARTUP_TIMEOUT_SECONDS * 1000;
  const unhealthyAfterMs = config.EMBEDDED_UNHEALTHY_SECONDS * 1000;
  await mkdir(config.dataDir, { recursive: true });
  const releaseLock = await lockDataDir(config.dataDir, startTimeoutMs, logger);
  const supervisors: Array<Supervisor<EmbeddedPostgres | TemporalDevServer>> = [];
  let postgres: Supervisor<EmbeddedPostgres> | undefined;
  let temporal: Supervisor<TemporalDevServer> | undefined;
  const close = async () => {
    // Temporal first: its clients (workers) are gone by now; PostgreSQL last.
    for (const s of [temporal, postgres]) await s?.stop().catch((err) => logger.warn({ err: String(err) }, 'stopping an embedded server failed'));
    await releaseLock();
  };

  try {
    const starts: Array<Promise<unknown>> = [];
    if (opts.postgres) {
      const dataDir = path.join(config.dataDir, 'postgres');
      // One port for the life of this process: the pool's URL stays valid across restarts.
      const port = await freePort('127.0.0.1');
      postgres = new Supervisor<EmbeddedPostgres>({
        name: 'PostgreSQL',
        logger,
        startTimeoutMs,
        startOnce: () => startEmbeddedPostgres({ dataDir, port, endLeftover: true, readyTimeoutMs: startTimeoutMs }),
        probe: (pg) => queryOnce(pg.adminUrl, 1_500).then(() => true, () => false),
        unhealthyAfterMs,
        onReady: (pg, restarts) => {
          if (restarts === 0) logger.info({ dataDir, port, pid: pg.pid }, 'embedded PostgreSQL running');
          else opts.onRestart?.('postgres');
        },
        onGiveUp: opts.onFatal,
      });
      logger.info({ dataDir }, 'starting embedded PostgreSQL');
      starts.push(postgres.start());
    }
    if (opts.temporal) {
      const binary = await findOrBuildTemporalCli({ log: (l) => logger.info(l) });
      const pidFile = path.join(config.dataDir, 'temporal.pid');
      const dbFilename = path.join(config.dataDir, 'temporal.db');
      temporal = new Supervisor<TemporalDevServer>({
        name: 'Temporal dev server',
        logger,
        startTimeoutMs,
        startOnce: async () => {
          await endLeftoverDevServer(pidFile, dbFilename, logger);
          const server = await startTemporalDevServer({
            binary,
            port: config.TEMPORAL_PORT,
            uiPort: config.TEMPORAL_UI_PORT,
            dbFilename,
            namespace: config.TEMPORAL_NAMESPACE,
            startTimeoutMs,
            stopTimeoutMs: 4_000,
          });
          await writeFile(pidFile, JSON.stringify({ pid: server.pid }));
          return server;
        },
        probe: (server) => frontendAnswers(server.address, 1_500),
        unhealthyAfterMs,
        onReady: (server, restarts) => {
          if (restarts === 0) logger.info({ address: server.address, ui: server.uiUrl, pid: server.pid }, 'Temporal dev server running');
          else opts.onRestart?.('temporal');
        },
        onGiveUp: opts.onFatal,
      });
      logger.info({ binary }, 'starting Temporal dev server');
      starts.push(temporal.start());
    }
    // Both at once (a restart after a crash is as fast as the slower one), and both settled
    // before an error is thrown, so that close() finds nothing half-started.
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await close();
    throw err;
  }

  return {
    databaseUrl: postgres?.instance?.url,
    temporalAddress: temporal?.instance?.address,
    temporalUiUrl: temporal?.instance?.uiUrl,
    pids: () => ({ postgres: postgres?.instance?.pid, temporal: temporal?.instance?.pid }),
    close,
  };
}

/**
 * Takes DATA_DIR for this process. A lock whose process is gone (a crash) is taken over; a live
 * owner is waited for within `timeoutMs` (the last run may still be shutting down), then named.
 */
async function lockDataDir(dataDir: string, timeoutMs: number, logger: Logger): Promise<() => Promise<void>> {
  const file = path.join(dataDir, 'taskwire.pid');
  const self = commandLineOf(process.pid);
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    const owner = await readJson<LockFile>(file);
    const alive = owner && owner.pid !== process.pid && processMatches(owner.pid, []) && (owner.cmdline === '' || commandLineOf(owner.pid) === owner.cmdline);
    if (!alive) break;
    if (Date.now() + wait > deadline) {
      throw new Error(
        `DATA_DIR ${dataDir} is in use by another taskwire (pid ${owner.pid}, started ${owner.startedAt}, still running after ${Math.round(timeoutMs / 1000)} s): ` +
          'stop it first, or give this one another DATA_DIR',
      );
    }
    if (wait === 100) logger.warn({ pid: owner.pid, dataDir }, 'DATA_DIR is held by another taskwire; waiting for it to exit');
    await new Promise((r) => setTimeout(r, wait));
  }
  const mine: LockFile = { pid: process.pid, cmdline: self, startedAt: new Date().toISOString() };
  await writeFile(file, JSON.stringify(mine));
  return async () => {
    const owner = await readJson<LockFile>(file);
    if (owner?.pid === process.pid) await rm(file, { force: true });
  };
}

/** A dev server of an earlier run on the same SQLite file (its parent crashed) is ended. */
async function endLeftoverDevServer(pidFile: string, dbFilename: string, logger: Logger): Promise<void> {
  const left = await readJson<{ pid: number }>(pidFile);
  if (!left || !processMatches(left.pid, ['start-dev', dbFilename])) return;
  logger.warn({ pid: left.pid }, 'ending the Temporal dev server left by an earlier run');
  if (!(await endLeftover(left.pid, ['start-dev', dbFilename], [['SIGTERM', 5_000], ['SIGKILL', 2_000]]))) {
    throw new Error(`the Temporal dev server of an earlier run (pid ${left.pid}) does not stop`);
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
