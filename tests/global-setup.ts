/**
 * Once per `vitest run`: one in-memory Temporal dev server and one PostgreSQL cluster in a fresh
 * temp folder, both on free ports. Test files reach them through `inject(...)`
 * (tests/support/provided.d.ts) and isolate themselves: their own database
 * (tests/support/db.ts), task queues and workflow ids.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../runtime/embedded-postgres.js';
import { findOrBuildTemporalCli } from '../runtime/temporal-cli.js';
import { startTemporalDevServer } from '../runtime/temporal-dev-server.js';

const debug = process.env.TEST_SERVERS_DEBUG === '1';
const say = (line: string) => console.log(`[global-setup] ${line}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const cli = await findOrBuildTemporalCli({ log: say });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'taskwire-test-'));
  // As root, PostgreSQL runs as the 'postgres' user, which must be able to enter this folder.
  await chmod(tmp, 0o755);

  const stops: Array<() => Promise<void>> = [];
  const teardown = async () => {
    const t0 = Date.now();
    await Promise.allSettled(stops.map((s) => s()));
    await rm(tmp, { recursive: true, force: true });
    say(`servers stopped (${Date.now() - t0} ms)`);
  };

  try {
    const [temporal, postgres] = await Promise.allSettled([
      (async () => {
        const t0 = Date.now();
        // The CLI picks its HTTP API port itself; on a busy machine it can be taken before the
        // server binds it ("address already in use"): try again.
        const start = () =>
          startTemporalDevServer({ binary: cli, headless: true, log: debug ? (l) => console.log(`[temporal] ${l}`) : undefined });
        const s = await start().catch((err: unknown) => {
          if (!/address already in use/.test(String(err))) throw err;
          return start();
        });
        stops.push(s.stop);
        say(`temporal dev server at ${s.address} (${Date.now() - t0} ms)`);
        return s;
      })(),
      (async () => {
        const t0 = Date.now();
        const s = await startEmbeddedPostgres({
          dataDir: path.join(tmp, 'pg'),
          database: 'postgres',
          log: debug ? (l) => console.log(`[postgres] ${l}`) : undefined,
          // A throwaway cluster: durability buys nothing, speed does. Each test file creates its
          // own database, up to two files run at once, each with a pool or two.
          postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300'],
        });
        stops.push(s.stop);
        say(`PostgreSQL at 127.0.0.1:${s.port} (${Date.now() - t0} ms)`);
        return s;
      })(),
    ]);
    if (temporal.status === 'rejected') throw temporal.reason;
    if (postgres.status === 'rejected') throw postgres.reason;

    project.provide('temporalCli', cli);
    project.provide('temporalAddress', temporal.value.address);
    project.provide('databaseAdminUrl', postgres.value.adminUrl);
    say(`ready in ${Date.now() - started} ms`);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
