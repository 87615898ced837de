/**
 * A whole taskwire for a benchmark, started the way `npm start` / the test harness wire it, but
 * private to this process: embedded PostgreSQL in a temp folder, an in-memory headless Temporal
 * dev server on free ports (with `--metrics-port`), the loopback fake VK API and fake WhatsApp Graph
 * API (`WHATSAPP_API_BASE_URL` points at it), migrations, search
 * attributes, the workers in-process and the real HTTP server on a free port.
 *
 * Everything started is registered for `close()`, which stops it in reverse order and removes
 * the temp folder; it is idempotent and also runs when start fails half-way.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { startApiServer, type ApiServer } from '../../api/server.js';
import { createAdapters } from '../../channels/index.js';
import { createDb, migrateToLatest, type Db } from '../../db/index.js';
import { loadConfig, type Config } from '../../runtime/config.js';
import { startEmbeddedPostgres } from '../../runtime/embedded-postgres.js';
import { FileStore } from '../../runtime/file-store.js';
import { freePort } from '../../runtime/free-port.js';
import { createLogger, type Logger } from '../../runtime/logger.js';
import { ensureSearchAttributes } from '../../runtime/search-attributes.js';
import { findOrBuildTemporalCli } from '../../runtime/temporal-cli.js';
import { startTemporalDevServer } from '../../runtime/temporal-dev-server.js';
import { startFakeGraph, type FakeGraph } from '../../tests/fakes/graph-api.js';
import { startFakeVk, type FakeVk } from '../../tests/fakes/vk-api.js';
import { startWorkers, type RunningWorkers } from '../../worker/index.js';
import { installTemporalRuntime } from '../../worker/runtime.js';

const STEP_TIMEOUT_MS = 20_000;

export interface StackOptions {
  /** Level of taskwire's own logs (pino JSON on stdout). Default 'warn': per-request info lines would drown the output. */
  logLevel?: string;
  /** Extra configuration variables (as in the environment). */
  env?: Record<string, string>;
  /** PostgreSQL flags, e.g. ['-c', 'fsync=off']. Default none (as `npm start`). */
  postgresFlags?: string[];
  /** Extra `temporal server start-dev` arguments (e.g. --dynamic-config-value k=v). */
  temporalExtraArgs?: string[];
  /** The dev server's state in a SQLite file in the run's folder, as `npm start` (default: in memory). */
  temporalDb?: boolean;
  say?: (line: string) => void;
}

export interface Stack {
  config: Config;
  logger: Logger;
  apiUrl: string;
  ownerToken: string;
  vk: FakeVk;
  /** The fake WhatsApp Cloud (Graph) API the WhatsApp adapter talks to. */
  graph: FakeGraph;
  /** The API's database pool (for the benchmark's own lookups and pg_stat reads). */
  db: Db;
  /** Temporal client (its own gRPC connection, not the API's). */
  client: Client;
  temporalAddress: string;
  temporalPid: number;
  metricsUrl: string;
  postgresDataDir: string;
  workers: RunningWorkers;
  /** Calls the HTTP API as the owner. */
  api<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const say = opts.say ?? (() => {});
  const closers: Array<{ what: string; fn: () => Promise<unknown> }> = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const c of closers.reverse()) {
        let timer: NodeJS.Timeout | undefined;
        try {
          // A step that hangs (e.g. worker shutdown after the server died) must not keep the rest from running.
          await Promise.race([
            c.fn(),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS))),
          ]);
        } catch (err) {
          say(`cleanup: ${c.what} failed: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          clearTimeout(timer);
        }
      }
    })());

  try {
    const logLevel = opts.logLevel ?? 'warn';
    const logger = createLogger(logLevel, 'taskwire-bench');
    // SDK logs through our logger, and no SDK signal handlers: Ctrl-C is the benchmark's.
    installTemporalRuntime(logger);

    const tmp = await mkdtemp(path.join(os.tmpdir(), 'taskwire-bench-'));
    // As root, PostgreSQL runs as the 'postgres' user, which must be able to enter this folder.
    await chmod(tmp, 0o755);
    closers.push({ what: `remove ${tmp}`, fn: () => rm(tmp, { recursive: true, force: true }) });

    const t0 = Date.now();
    const binary = await findOrBuildTemporalCli({ log: say });
    const metricsPort = await freePort('127.0.0.1');
    const postgresDataDir = path.join(tmp, 'pg');
    const [pgResult, temporalResult, vkResult, graphResult] = await Promise.allSettled([
      startEmbeddedPostgres({ dataDir: postgresDataDir, postgresFlags: opts.postgresFlags }),
      startTemporalDevServer({
        binary,
        headless: true,
        ...(opts.temporalDb ? { dbFilename: path.join(tmp, 'temporal', 'temporal.db') } : {}),
        extraArgs: ['--metrics-port', String(metricsPort), ...(opts.temporalExtraArgs ?? [])],
      }),
      startFakeVk(),
      startFakeGraph(),
    ]);
    // Register what did start before failing on what did not.
    if (pgResult.status === 'fulfilled') closers.push({ what: 'stop PostgreSQL', fn: () => pgResult.value.stop() });
    if (temporalResult.status === 'fulfilled') closers.push({ what: 'stop Temporal dev server', fn: () => temporalResult.value.stop() });
    if (vkResult.status === 'fulfilled') closers.push({ what: 'stop fake VK', fn: () => vkResult.value.stop() });
    if (graphResult.status === 'fulfilled') closers.push({ what: 'stop fake Graph', fn: () => graphResult.value.stop() });
    for (const r of [pgResult, temporalResult, vkResult, graphResult]) if (r.status === 'rejected') throw r.reason;
    const pg = (pgResult as PromiseFulfilledResult<Awaited<ReturnType<typeof startEmbeddedPostgres>>>).value;
    const temporal = (temporalResult as PromiseFulfilledResult<Awaited<ReturnType<typeof startTemporalDevServer>>>).value;
    const vk = (vkResult as PromiseFulfilledResult<FakeVk>).value;
    const graph = (graphResult as PromiseFulfilledResult<FakeGraph>).value;
    say(`PostgreSQL :${pg.port}, Temporal ${temporal.address} (metrics :${metricsPort}), fake VK ${vk.origin}, fake Graph ${graph.origin} — ${Date.now() - t0} ms`);

    const ownerToken = `tw_bench_owner_${randomBytes(16).toString('hex')}`;
    const config = loadConfig({
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: temporal.address,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: path.join(tmp, 'data'),
      VK_API_BASE_URL: vk.baseUrl,
      WHATSAPP_API_BASE_URL: graph.baseUrl,
      BOOTSTRAP_ADMIN_TOKEN: ownerToken,
      LOG_LEVEL: logLevel,
      ...(opts.env ?? {}),
    });

    // Two pools, as in the api + worker deployment (docker-compose): API reads (including the
    // benchmark's polling) never queue behind the activities' connections, nor the other way round.
    const workerDb: Db = createDb(config.DATABASE_URL!);
    closers.push({ what: 'close worker DB pool', fn: () => workerDb.destroy() });
    const apiDb: Db = createDb(config.DATABASE_URL!);
    closers.push({ what: 'close API DB pool', fn: () => apiDb.destroy() });
    await migrateToLatest(workerDb);

    const connection = await Connection.connect({ address: temporal.address });
    closers.push({ what: 'close Temporal client connection', fn: () => connection.close() });
    await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });

    const files = new FileStore(config.filesDir);
    const nativeConnection = await NativeConnection.connect({ address: temporal.address });
    closers.push({ what: 'close worker connection', fn: () => nativeConnection.close() });
    const t1 = Date.now();
    const workers = await startWorkers({
      config,
      connection: nativeConnection,
      db: workerDb,
      files,
      adapters: createAdapters(config),
      logger,
    });
    closers.push({ what: 'shut the workers down', fn: () => workers.shutdown() });
    say(`workers running (workflow bundle built in ${Date.now() - t1} ms)`);

    const apiConnection = await Connection.connect({ address: temporal.address });
    closers.push({ what: 'close API Temporal connection', fn: () => apiConnection.close() });
    const apiClient = new Client({ connection: apiConnection, namespace: config.TEMPORAL_NAMESPACE });
    const server: ApiServer = await startApiServer({ config, db: apiDb, databaseUrl: config.DATABASE_URL!, temporal: apiClient, files, logger });
    closers.push({ what: 'close the HTTP server', fn: () => server.close() });
    say(`HTTP API at ${server.url}`);

    const api: Stack['api'] = async (method, p, body) => {
      const res = await fetch(server.url + p, {
        method,
        headers: { authorization: `Bearer ${ownerToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* plain text */
      }
      return { status: res.status, body: parsed };
    };

    return {
      config,
      logger,
      apiUrl: server.url,
      ownerToken,
      vk,
      graph,
      db: apiDb,
      client,
      temporalAddress: temporal.address,
      temporalPid: temporal.pid,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      postgresDataDir,
      workers,
      api,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
