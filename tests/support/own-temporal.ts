/**
 * A Temporal dev server of one test file, with its history on disk: stopped and started again
 * (same port, same database file), running workflows carry on — a Temporal outage and restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { freePort } from '../../runtime/free-port.js';
import { ensureSearchAttributes } from '../../runtime/search-attributes.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../runtime/temporal-dev-server.js';

export interface OwnTemporal {
  /** host:port, the same across restarts. */
  readonly address: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it and removes its files. */
  close(): Promise<void>;
}

export async function ownTemporal(): Promise<OwnTemporal> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskwire-outage-'));
  const port = await freePort();
  let server: TemporalDevServer | undefined;
  const own: OwnTemporal = {
    get address() {
      return server?.address ?? `127.0.0.1:${port}`;
    },
    async start() {
      // The CLI picks its HTTP API port itself, and on a busy machine that port can be taken before it
      // binds ("address already in use"): try again, as `npm start`'s supervisor does.
      for (let attempt = 1; ; attempt++) {
        try {
          server = await startTemporalDevServer({ binary: inject('temporalCli'), headless: true, port, dbFilename: path.join(dir, 'temporal.db') });
          break;
        } catch (err) {
          if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
        }
      }
      const c = await Connection.connect({ address: server.address });
      await ensureSearchAttributes(c, 'default');
      await c.close();
    },
    async stop() {
      await server?.stop();
    },
    async close() {
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}
