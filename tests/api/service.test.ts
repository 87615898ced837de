import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bootstrapOwner } from '../../api/auth.js';
import { metrics } from '../../api/metrics.js';
import { startApiServer } from '../../api/server.js';
import { createDb } from '../../db/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { call, OWNER_TOKEN, testApp, testConfig } from './helpers.js';

let t: TestDatabase;
let connection: Connection;
let temporal: Client;
let app: ReturnType<typeof testApp>['app'];

beforeAll(async () => {
  t = await createTestDatabase();
  await bootstrapOwner(t.db, OWNER_TOKEN);
  connection = await Connection.connect({ address: inject('temporalAddress') });
  temporal = new Client({ connection });
  app = testApp(t.db, { temporal }).app;
});
afterAll(async () => {
  await connection?.close();
  await t?.drop();
});

/** A database nobody listens on: every query fails with ECONNREFUSED. */
function deadDb() {
  return createDb('postgres://taskwire:x@127.0.0.1:1/none', { max: 1 });
}

describe('service endpoints', () => {
  it('/healthz answers ok', async () => {
    const res = await call(app, 'GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('/readyz checks the database and Temporal', async () => {
    const ok = await call(app, 'GET', '/readyz');
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toEqual({ status: 'ok', checks: { database: 'ok', temporal: 'ok' } });

    const noTemporal = testApp(t.db).app; // its Temporal stand-in always fails
    const res = await call(noTemporal, 'GET', '/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: 'unavailable', checks: { database: 'ok', temporal: 'failed' }, error: { code: 'unavailable' } });

    const db = deadDb();
    try {
      const noDb = await call(testApp(db, { temporal }).app, 'GET', '/readyz');
      expect(noDb.status).toBe(503);
      expect(noDb.body.checks).toEqual({ database: 'failed', temporal: 'ok' });
    } finally {
      await db.destroy();
    }
  });

  it('/readyz gives up on a hanging dependency after about 2 s', async () => {
    const hanging = { connection: { withDeadline: (_: unknown, fn: () => Promise<unknown>) => fn() }, workflowService: { getSystemInfo: () => new Promise(() => {}) } };
    const started = Date.now();
    const res = await call(testApp(t.db, { temporal: hanging as never }).app, 'GET', '/readyz');
    expect(res.status).toBe(503);
    expect(res.body.checks.temporal).toBe('failed');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('/metrics exposes process metrics and the taskwire counters', async () => {
    await call(app, 'GET', '/api/channels/12', { token: OWNER_TOKEN });
    metrics.webhookEvents.inc({ channel: 'vk', result: 'accepted' });
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('# TYPE taskwire_http_requests_total counter');
    expect(text).toMatch(/taskwire_http_requests_total\{method="GET",route="\/api\/channels\/:id",status="404"\} \d+/);
    expect(text).toContain('# TYPE taskwire_http_request_duration_seconds histogram');
    expect(text).toContain('taskwire_http_request_duration_seconds_bucket{');
    expect(text).toMatch(/taskwire_webhook_events_total\{channel="vk",result="accepted"\} \d+/);
    // Unmatched paths share one label value (bounded cardinality).
    await call(app, 'GET', '/no/such/path/123');
    expect(await (await app.request('/metrics')).text()).toMatch(/route="unmatched",status="404"/);
  });

  it('/openapi.json documents the API (OpenAPI 3.1, bearer scheme)', async () => {
    const res = await call(app, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('taskwire');
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const expected: Array<[string, string]> = [
      ['/api/employees', 'post'],
      ['/api/employees', 'get'],
      ['/api/task-templates', 'post'],
      ['/api/channels', 'post'],
      ['/api/channels', 'get'],
      ['/api/channels/{id}', 'get'],
      ['/api/channels/{id}', 'patch'],
      ['/api/contacts/{id}', 'get'],
      ['/api/contacts', 'get'],
      ['/api/quick-replies', 'get'],
      ['/api/quick-replies', 'post'],
      ['/api/quick-replies/{id}', 'patch'],
      ['/api/quick-replies/{id}', 'delete'],
      ['/healthz', 'get'],
      ['/readyz', 'get'],
      ['/metrics', 'get'],
    ];
    for (const [path, method] of expected) expect(doc.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
    expect(doc.paths['/api/channels'].post.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz'].get.security).toBeUndefined();
    // The channel body is the VK | WhatsApp union with the contract's fields.
    const schemas = doc.components.schemas;
    expect(Object.keys(schemas.CreateVkChannel.properties)).toEqual(
      expect.arrayContaining(['kind', 'name', 'groupId', 'accessToken', 'confirmationCode', 'secret', 'settings']),
    );
    expect(Object.keys(schemas.CreateWhatsAppChannel.properties)).toEqual(
      expect.arrayContaining(['kind', 'name', 'phoneNumberId', 'wabaId', 'accessToken', 'appSecret', 'verifyToken', 'settings']),
    );
    // Secrets are inputs only.
    expect(Object.keys(schemas.Channel.properties)).not.toContain('accessToken');
  });

  it('/docs renders a page that loads /openapi.json', async () => {
    const res = await app.request('/docs');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('/openapi.json');
    expect(res.headers.get('content-type')).toContain('text/html');
  });

  it('echoes a well-formed X-Request-Id and makes one otherwise', async () => {
    const given = await app.request('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const made = await app.request('/healthz');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('errors', () => {
  it('answers unknown paths with a JSON 404', async () => {
    const res = await call(app, 'GET', '/nothing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it('refuses malformed JSON with 400 malformed_json', async () => {
    const res = await call(app, 'POST', '/api/quick-replies', { token: OWNER_TOKEN, body: '{"title": "x", ' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('malformed_json');
  });

  it('refuses a body that is not JSON with 415', async () => {
    const res = await call(app, 'POST', '/api/quick-replies', { token: OWNER_TOKEN, body: 'title=x', headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('refuses oversized bodies with 413 (API and webhooks have their own limits)', async () => {
    const big = JSON.stringify({ title: 'x', text: 'a'.repeat(70_000) });
    const api = await call(app, 'POST', '/api/quick-replies', { token: OWNER_TOKEN, body: big });
    expect(api.status).toBe(413);
    expect(api.body.error).toMatchObject({ code: 'payload_too_large', details: { limitBytes: 65_536 } });
    // With a Content-Length header too (what a real client sends).
    const withLength = await call(app, 'POST', '/api/quick-replies', {
      token: OWNER_TOKEN,
      body: big,
      headers: { 'content-length': String(Buffer.byteLength(big)) },
    });
    expect(withLength.status).toBe(413);
    expect((await t.db.selectFrom('quick_replies').select('id').execute()).length).toBe(0);

    const hook = await call(app, 'POST', '/webhooks/vk', { body: JSON.stringify({ type: 'message_new', pad: 'a'.repeat(5000) }) });
    expect(hook.status).toBe(413);
    expect(hook.body.error).toMatchObject({ code: 'payload_too_large', details: { limitBytes: 4096 } });
  });

  it('answers 503 unavailable when the database cannot be reached', async () => {
    const db = deadDb();
    try {
      const down = testApp(db).app;
      const res = await call(down, 'GET', '/api/channels', { token: OWNER_TOKEN });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      expect(res.headers.get('retry-after')).toBeTruthy();
      expect(res.text).not.toContain('ECONNREFUSED');
    } finally {
      await db.destroy();
    }
  });
});

describe('startApiServer', () => {
  it('listens on a free port, bootstraps the owner and closes', async () => {
    const fresh = await createTestDatabase();
    try {
      const config = testConfig({ PORT: '0', PUBLIC_URL: '' });
      const { deps } = testApp(fresh.db, { config });
      const server = await startApiServer(deps);
      try {
        expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(server.url).not.toMatch(/:0$/);
        const health = await fetch(`${server.url}/healthz`);
        expect(await health.json()).toEqual({ status: 'ok' });
        const list = await fetch(`${server.url}/api/employees`, { headers: { authorization: `Bearer ${OWNER_TOKEN}` } });
        expect(list.status).toBe(200);
        // Without PUBLIC_URL, webhook URLs name the real port.
        const ch = await fetch(`${server.url}/api/channels`, {
          method: 'POST',
          headers: { authorization: `Bearer ${OWNER_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ kind: 'vk', name: 'x', groupId: 5, accessToken: 'a', confirmationCode: 'b', secret: 'c' }),
        });
        expect(ch.status).toBe(201);
        expect(((await ch.json()) as { webhookUrl: string }).webhookUrl).toBe(`${server.url}/webhooks/vk`);
      } finally {
        await server.close();
      }
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    } finally {
      await fresh.drop();
    }
  });
});
