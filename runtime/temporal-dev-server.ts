/**
 * Runs `temporal server start-dev` as a child process: for `npm start` without TEMPORAL_ADDRESS
 * (SQLite file under DATA_DIR, UI on) and for the test suite (in memory, headless).
 *
 * We start the binary ourselves instead of `TestWorkflowEnvironment.createLocal`, which gives up
 * after 5 s (too short on a loaded 2-core CI machine) and cannot register attributes on a reused
 * SQLite file.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/shared/temporal.js';
import { canConnect, freePort } from './free-port.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { spawnServerChild, type ChildExit } from './child-process.js';

export interface TemporalDevServerOptions {
  binary: string;
  /** Bind address of the frontend (and the UI). Default 127.0.0.1. */
  ip?: string;
  /** Frontend gRPC port. Default: a free port. */
  port?: number;
  /** UI port. Default: a free port. Ignored when headless. */
  uiPort?: number;
  headless?: boolean;
  /** SQLite file; its folder is created. Without it, state lives in memory and dies with the server. */
  dbFilename?: string;
  /** Namespace to create (besides `default`, which always exists). Default 'default'. */
  namespace?: string;
  /** The server's own output, line by line. */
  log?: (line: string) => void;
  extraArgs?: string[];
  /** How long to wait for the frontend to answer. Default 60 s. */
  startTimeoutMs?: number;
  /** stop(): SIGTERM, then SIGKILL after this long. Default 5 s. */
  stopTimeoutMs?: number;
}

export interface TemporalDevServer {
  /** host:port of the frontend, for Connection/NativeConnection. */
  address: string;
  uiUrl?: string;
  port: number;
  pid: number;
  /** Resolves when the server has exited (stopped or died). */
  exited: Promise<ChildExit>;
  stop(): Promise<void>;
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const namespace = opts.namespace ?? 'default';
  const log = opts.log ?? (() => {});
  const port = opts.port ?? (await freePort(ip));
  const uiPort = opts.headless ? undefined : (opts.uiPort ?? (await freePort(ip)));
  // A wildcard bind is reached through loopback.
  const host = ip === '0.0.0.0' || ip === '::' ? '127.0.0.1' : ip;
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const uiUrl = uiPort === undefined ? undefined : `http://${host.includes(':') ? `[${host}]` : host}:${uiPort}`;

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port)];
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (opts.dbFilename) {
    const db = path.resolve(opts.dbFilename);
    await mkdir(path.dirname(db), { recursive: true });
    args.push('--db-filename', db);
    // SQLite's default rollback journal syncs the journal and the database on every commit; a
    // write-ahead log syncs once, appending. synchronous=FULL keeps every commit durable across a
    // power loss, as before (bench/README.md, "Issue 12, fourth session").
    args.push('--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=FULL');
  }
  args.push('--namespace', namespace);
  for (const sa of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${sa.name}=${sa.type}`);
  args.push(
    '--log-level', 'warn',
    // No phoning home for version checks (offline machines, CI).
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    // Server 1.29 defaults, stated so that an older CLI on PATH behaves the same.
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true',
    ...(opts.extraArgs ?? []),
  );

  // With a fixed port, something already listening there (often a dev server left from an earlier
  // run) would answer our readiness probe before our own server fails to bind: refuse up front.
  for (const p of [port, uiPort]) {
    if (p !== undefined && (await canConnect(host, p, 500))) {
      throw new Error(`cannot start the Temporal dev server: ${host}:${p} is already in use (another Temporal dev server?)`);
    }
  }

  const started = Date.now();
  const child = spawnServerChild(opts.binary, args, { stopSignal: 'SIGTERM', escalate: [['SIGKILL', opts.stopTimeoutMs ?? 5_000]], log });
  const { exited, spawnError, stop } = child;

  const describeFailure = (what: string) =>
    `temporal dev server (${opts.binary} ${args.join(' ')}) ${what}` +
    (child.tail().length ? `\n--- last output ---\n${child.tail().join('\n')}` : '');

  const giveUp = new AbortController();
  try {
    const early = Promise.race([
      exited.then(({ code, signal }) => {
        throw new Error(describeFailure(`exited during start (${signal ?? `exit code ${code}`})`));
      }),
      spawnError.then((err) => {
        throw new Error(describeFailure(`could not be started: ${err.message}`));
      }),
    ]);
    early.catch(() => {}); // handled through the race below
    const ready = waitUntilReady(host, port, address, namespace, opts.startTimeoutMs ?? 60_000, describeFailure, giveUp.signal);
    ready.catch(() => {});
    await Promise.race([early, ready]);
    if (!child.isRunning()) {
      throw new Error(describeFailure('exited right after answering (was another server on the port?)'));
    }
  } catch (err) {
    giveUp.abort();
    await stop();
    throw err;
  }
  log(`temporal dev server ready at ${address}${uiUrl ? `, UI ${uiUrl}` : ''} in ${Date.now() - started} ms`);
  return { address, uiUrl, port, pid: child.pid, exited, stop };
}

/** Whether the frontend at `address` answers GetSystemInfo within `timeoutMs` (a health probe). */
export async function frontendAnswers(address: string, timeoutMs: number): Promise<boolean> {
  const connection = Connection.lazy({ address, connectTimeout: timeoutMs });
  try {
    await connection.withDeadline(Date.now() + timeoutMs, () => connection.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  } finally {
    await connection.close().catch(() => {});
  }
}

/** TCP first (cheap, no gRPC reconnect backoff), then the frontend's GetSystemInfo, then attributes. */
async function waitUntilReady(
  host: string,
  port: number,
  address: string,
  namespace: string,
  timeoutMs: number,
  describeFailure: (what: string) => string,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline && !signal.aborted) {
    if (await canConnect(host, port, 500)) {
      const connection = Connection.lazy({ address, connectTimeout: 2_000 });
      try {
        await connection.ensureConnected();
        await connection.withDeadline(Date.now() + 5_000, () => connection.workflowService.getSystemInfo({}));
        // The namespace is created by the server right after the frontend comes up.
        await connection.withDeadline(Date.now() + 5_000, () =>
          connection.workflowService.describeNamespace({ namespace }),
        );
        await connection.withDeadline(Date.now() + 10_000, () => ensureSearchAttributes(connection, namespace));
        return;
      } catch (err) {
        lastError = err;
        if ((err as Error).name === 'SearchAttributeMismatchError') throw err;
      } finally {
        await connection.close().catch(() => {});
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(describeFailure(`did not answer within ${timeoutMs} ms (last error: ${String(lastError ?? 'connection refused')})`));
}
