import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../runtime/config.js';
import { FileStore } from '../../runtime/file-store.js';
import { loadEmbeddedPostgres } from '../../runtime/embedded-postgres.js';
import { freePort } from '../../runtime/free-port.js';
import { ensureSearchAttributes, indexedValueTypeName, SearchAttributeMismatchError } from '../../runtime/search-attributes.js';
import { findOrBuildTemporalCli } from '../../runtime/temporal-cli.js';
import { startTemporalDevServer } from '../../runtime/temporal-dev-server.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/shared/temporal.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'taskwire-runtime-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('has the defaults of the contract table', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'taskwire',
      TEMPORAL_UI_PORT: 8233,
      DATA_DIR: './.data',
      VK_API_BASE_URL: 'https://api.vk.com/method',
      VK_API_VERSION: '5.199',
      WHATSAPP_API_BASE_URL: 'https://graph.facebook.com/v21.0',
      BROADCAST_WINDOW_SECONDS: 300,
      BROADCAST_THRESHOLD: 3,
      BROADCAST_RETENTION_SECONDS: 2_592_000,
      VK_REPLY_WINDOW_SECONDS: 864_000,
      WHATSAPP_REPLY_WINDOW_SECONDS: 86_400,
    });
    // Unset means: embedded PostgreSQL, local dev server, no bootstrap owner.
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.TEMPORAL_ADDRESS).toBeUndefined();
    expect(c.BOOTSTRAP_ADMIN_TOKEN).toBeUndefined();
    expect(c.dataDir).toBe(path.resolve('.data'));
    expect(c.filesDir).toBe(path.join(path.resolve('.data'), 'files'));
  });

  it('reads values and treats empty strings as unset', () => {
    const c = loadConfig({ PORT: '8080', TEMPORAL_ADDRESS: 'temporal:7233', DATABASE_URL: '', DATA_DIR: '/srv/tw' });
    expect(c.PORT).toBe(8080);
    expect(c.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.dataDir).toBe('/srv/tw');
    expect(c.filesDir).toBe('/srv/tw/files');
  });

  it.each(['abc', '70000', '-1', '1.5'])('rejects PORT=%s with a ConfigError naming PORT', (value) => {
    let error: unknown;
    try {
      loadConfig({ PORT: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    // Named as PORT itself, not only as part of TEMPORAL_PORT.
    expect((error as Error).message).toMatch(/^\s*PORT:/m);
  });
});

describe('createTestDatabase', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('gives a migrated database', async () => {
    const inserted = await t.db
      .insertInto('employees')
      .values({ name: 'Anna', email: 'anna@example.com', role: 'owner', token_hash: 'h-1' })
      .returning(['id', 'created_at'])
      .executeTakeFirstOrThrow();
    expect(typeof inserted.id).toBe('string');
    expect(inserted.created_at).toBeInstanceOf(Date);
    const row = await t.db.selectFrom('employees').selectAll().where('id', '=', inserted.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ name: 'Anna', email: 'anna@example.com', role: 'owner', token_hash: 'h-1' });
    // Constraints of the migration are there too.
    await expect(
      t.db.insertInto('employees').values({ name: 'Bob', role: 'owner', token_hash: 'h-1' }).execute(),
    ).rejects.toThrow(/unique/i);
  });

  it('is isolated and dropped', async () => {
    const other = await createTestDatabase();
    expect(other.url).not.toBe(t.url);
    const count = await other.db.selectFrom('employees').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
    const name = new URL(other.url).pathname.slice(1);
    await other.drop();
    await other.drop(); // idempotent
    const left = await t.db
      .selectFrom('pg_catalog.pg_database' as any)
      .select('datname' as any)
      .where('datname' as any, '=', name)
      .execute();
    expect(left).toHaveLength(0);
  });
});

describe('embedded-postgres package', () => {
  it('leaves no signal/exit hooks behind (they would call process.exit and mask exit codes)', async () => {
    const events = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'message'] as const;
    const before = events.map((e) => process.listenerCount(e));
    await loadEmbeddedPostgres();
    expect(events.map((e) => process.listenerCount(e))).toEqual(before);
  });
});

describe('FileStore', () => {
  it('round-trips bytes and stores the same content once', async () => {
    const store = new FileStore(path.join(tmp, 'files'));
    const bytes = new TextEncoder().encode('hello, taskwire');
    const a = await store.put(bytes, { filename: '../../etc/passwd', mimeType: 'text/plain' });
    const b = await store.put(bytes, { filename: 'again.txt', mimeType: 'text/plain' });
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(b.sha256).toBe(a.sha256);
    expect(a.size).toBe(bytes.byteLength);
    expect(a.filename).not.toContain('/');
    expect(Buffer.from(await store.get(a.sha256)).toString()).toBe('hello, taskwire');
    const shard = await readdir(path.join(tmp, 'files', a.sha256.slice(0, 2)));
    expect(shard).toEqual([a.sha256]); // one file, no temp leftovers
    await expect(store.get('../x')).rejects.toThrow();
  });
});

describe('Temporal dev server (shared)', () => {
  let connection: Connection;
  beforeAll(async () => {
    connection = await Connection.connect({ address: inject('temporalAddress') });
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('has taskwire search attributes registered with their types', async () => {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const sa of SEARCH_ATTRIBUTES) {
      expect(customAttributes, sa.name).toHaveProperty(sa.name);
      expect(indexedValueTypeName(customAttributes[sa.name]), sa.name).toBe(sa.type);
    }
  });

  it('ensureSearchAttributes is idempotent and refuses a type mismatch', async () => {
    await expect(ensureSearchAttributes(connection, 'default')).resolves.toEqual({ added: [] });
    const err = await ensureSearchAttributes(connection, 'default', [{ name: 'TwChannel', type: 'Int' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SearchAttributeMismatchError);
    expect((err as Error).message).toMatch(/TwChannel is Keyword, expected Int/);
  });
});

describe('startTemporalDevServer', () => {
  it('persists to a SQLite file in a folder it creates, serves the UI, and stops', async () => {
    const dbFilename = path.join(tmp, 'nested', 'state', 'temporal.db');
    const uiPort = await freePort();
    const t0 = Date.now();
    const server = await startTemporalDevServer({ binary: inject('temporalCli'), dbFilename, uiPort });
    const startMs = Date.now() - t0;
    try {
      expect(server.uiUrl).toBe(`http://127.0.0.1:${uiPort}`);
      const res = await fetch(server.uiUrl!);
      expect(res.status).toBe(200);
      await res.body?.cancel();
    } finally {
      await server.stop();
    }
    expect(() => process.kill(server.pid, 0)).toThrow();
    await server.stop(); // idempotent

    // Same file again: the namespace already exists, attributes must still be there.
    const again = await startTemporalDevServer({ binary: inject('temporalCli'), dbFilename, headless: true });
    try {
      expect(again.uiUrl).toBeUndefined();
      const c = await Connection.connect({ address: again.address });
      try {
        const { customAttributes } = await c.operatorService.listSearchAttributes({ namespace: 'default' });
        expect(Object.keys(customAttributes)).toEqual(expect.arrayContaining(SEARCH_ATTRIBUTES.map((s) => s.name)));
      } finally {
        await c.close();
      }
    } finally {
      await again.stop();
    }
    console.log(`dev server with SQLite + UI started in ${startMs} ms`);
  });

  it('refuses a fixed port that is already taken instead of using whatever answers there', async () => {
    const { port } = new URL(`http://${inject('temporalAddress')}`);
    await expect(
      startTemporalDevServer({ binary: inject('temporalCli'), headless: true, port: Number(port) }),
    ).rejects.toThrow(/already in use/);
  });

  it("fails fast with the server's output when it exits during start", async () => {
    const t0 = Date.now();
    const err = await startTemporalDevServer({
      binary: inject('temporalCli'),
      headless: true,
      extraArgs: ['--no-such-flag'],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited during start/);
    expect((err as Error).message).toMatch(/no-such-flag/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

describe('findOrBuildTemporalCli', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('finds the CLI the suite runs with', async () => {
    await expect(findOrBuildTemporalCli()).resolves.toMatch(/temporal(\.exe)?$/);
  });

  it('honours TEMPORAL_CLI pointing at a missing path with a clear error', async () => {
    const missing = path.join(tmp, 'nowhere', 'temporal');
    vi.stubEnv('TEMPORAL_CLI', missing);
    await expect(findOrBuildTemporalCli()).rejects.toThrow(`TEMPORAL_CLI=${missing} does not exist`);
  });

  it('refuses a TEMPORAL_CLI that is not executable', async () => {
    const file = path.join(tmp, 'not-executable');
    await writeFile(file, '#!/bin/sh\n');
    await chmod(file, 0o644);
    vi.stubEnv('TEMPORAL_CLI', file);
    // root may execute any file with an x bit; with none set, access(X_OK) fails for root too.
    await expect(findOrBuildTemporalCli()).rejects.toThrow(/is not an executable file/);
  });

  it('uses a working TEMPORAL_CLI as is', async () => {
    vi.stubEnv('TEMPORAL_CLI', inject('temporalCli'));
    await expect(findOrBuildTemporalCli()).resolves.toBe(inject('temporalCli'));
  });
});
