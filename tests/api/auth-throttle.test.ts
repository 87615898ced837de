/**
 * Failed authentication is throttled per client address (api/auth-throttle.ts): wrong API tokens,
 * wrong VK secrets, bad WhatsApp signatures and verify tokens. These tests go through a real HTTP
 * server, so the address is the socket's (requests are sent from 127.0.0.1 and 127.0.0.2).
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailureThrottle, normalizeAddress } from '../../api/auth-throttle.js';
import { startApiServer, type ApiServer } from '../../api/server.js';
import { FileStore } from '../../runtime/file-store.js';
import { createLogger } from '../../runtime/logger.js';
import { signedWebhook } from '../fakes/graph-api.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { fixturePath } from '../support/fixtures.js';
import { noTemporal, OWNER_TOKEN, testConfig } from './helpers.js';

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: any;
}

/** One request on a fresh connection from the local address `from` (loopback: any 127.x.y.z). */
function send(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; from?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] ??= 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers, agent: false, localAddress: opts.from ?? '127.0.0.1' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // plain text
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function expect429(res: Res, maxSeconds: number): number {
  expect(res.status, res.text).toBe(429);
  expect(res.body.error.code).toBe('too_many_requests');
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
  expect(res.body.error.details).toEqual({ retryAfterSeconds: retryAfter });
  return retryAfter;
}

async function metricValue(base: string, name: string, kind: string): Promise<number> {
  const text = (await send(base, 'GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{kind="${kind}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let t: TestDatabase;
const servers: ApiServer[] = [];

async function startServer(env: Record<string, string> = {}) {
  const config = testConfig({ PORT: '0', ...env });
  const server = await startApiServer({ config, db: t.db, temporal: noTemporal, files: new FileStore(config.filesDir), logger: createLogger('silent') });
  servers.push(server);
  return { config, url: server.url };
}

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await t?.drop();
});

describe('the failure counter', () => {
  it('blocks after the limit for one window, counts per key, and keeps a bounded number of keys', () => {
    let now = 1_000_000;
    const throttle = new FailureThrottle({ limit: 3, windowMs: 10_000, maxKeys: 100, now: () => now });
    expect([throttle.fail('a'), throttle.fail('a')]).toEqual([false, false]);
    expect(throttle.blockedFor('a')).toBe(0);
    expect(throttle.fail('a')).toBe(true);
    expect(throttle.blockedFor('a')).toBe(10_000);
    expect(throttle.blockedFor('b')).toBe(0);
    now += 9_999;
    expect(throttle.blockedFor('a')).toBe(1);
    now += 1;
    expect(throttle.blockedFor('a')).toBe(0);
    // A fresh window: two more failures do not block again.
    throttle.fail('a');
    throttle.fail('a');
    expect(throttle.blockedFor('a')).toBe(0);
    // Failures spread wider than the window never block.
    now += 10_000;
    throttle.fail('a');
    expect(throttle.blockedFor('a')).toBe(0);

    for (let i = 0; i < 10_000; i++) throttle.fail(`flood-${i}`);
    expect(throttle.size).toBe(100);
  });

  it('never blocks with limit 0 (switched off)', () => {
    const throttle = new FailureThrottle({ limit: 0, windowMs: 10_000 });
    for (let i = 0; i < 100; i++) throttle.fail('a');
    expect(throttle.blockedFor('a')).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it('counts IPv4-mapped IPv6 as IPv4 and IPv6 per /64', () => {
    expect(normalizeAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeAddress('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(normalizeAddress('2001:DB8:0:0:ffff::2')).toBe('2001:db8:0:0::/64');
    expect(normalizeAddress('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(normalizeAddress('::1')).toBe('0:0:0:0::/64');
    expect(normalizeAddress('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(normalizeAddress('not an address')).toBe('invalid');
    expect(normalizeAddress(undefined)).toBe('unknown');
  });
});

describe('wrong API tokens, with the default settings', () => {
  let url: string;
  beforeAll(async () => {
    const s = await startServer();
    expect([s.config.AUTH_FAILURE_LIMIT, s.config.AUTH_FAILURE_WINDOW_SECONDS, s.config.TRUST_PROXY]).toEqual([20, 60, 0]);
    url = s.url;
  });

  it('answer 401 twenty times, then 429 with Retry-After for every request of that address, even with a valid token', async () => {
    const failuresBefore = await metricValue(url, 'taskwire_auth_failures_total', 'api_token');
    const throttledBefore = await metricValue(url, 'taskwire_auth_throttled_total', 'api_token');
    // A request without a token is refused but guesses nothing: it does not count.
    expect((await send(url, 'GET', '/api/tasks')).status).toBe(401);
    for (let i = 0; i < 20; i++) {
      const res = await send(url, 'GET', '/api/tasks', { token: `tw_guess_${i}` });
      expect(res.status, `attempt ${i + 1}`).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    expect429(await send(url, 'GET', '/api/tasks', { token: 'tw_guess_21' }), 60);
    // The token is not looked at: the right one is refused the same way.
    const retryAfter = expect429(await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN }), 60);
    expect(retryAfter).toBeGreaterThanOrEqual(55);
    expect429(await send(url, 'POST', '/api/employees', { token: OWNER_TOKEN, body: JSON.stringify({ name: 'X', role: 'agent' }) }), 60);
    expect429(await send(url, 'GET', '/api/tasks'), 60);
    // X-Forwarded-For is not trusted by default: a client cannot pick another address with it.
    expect429(await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, headers: { 'x-forwarded-for': '198.51.100.23' } }), 60);

    // Another address is not affected.
    expect((await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, from: '127.0.0.2' })).status).toBe(200);
    expect((await send(url, 'GET', '/api/tasks', { token: 'tw_wrong', from: '127.0.0.2' })).status).toBe(401);
    // What needs no authentication still answers.
    expect((await send(url, 'GET', '/healthz')).status).toBe(200);

    expect(await metricValue(url, 'taskwire_auth_failures_total', 'api_token')).toBe(failuresBefore + 21);
    expect(await metricValue(url, 'taskwire_auth_throttled_total', 'api_token')).toBe(throttledBefore + 5);
  });

  it('documents 429 on the routes behind authentication', async () => {
    const doc = (await send(url, 'GET', '/openapi.json')).body;
    expect(doc.paths['/api/tasks'].get.responses['429']).toMatchObject({ headers: { 'Retry-After': expect.any(Object) } });
    expect(doc.paths['/api/channels/{id}'].patch.responses['429']).toBeDefined();
    expect(doc.paths['/webhooks/vk'].post.responses['429']).toBeDefined();
    expect(doc.paths['/webhooks/whatsapp'].post.responses['429']).toBeDefined();
    expect(doc.paths['/healthz'].get.responses['429']).toBeUndefined();
  });
});

describe('a valid token between wrong ones', () => {
  it('does not reset the count', async () => {
    const { url } = await startServer({ AUTH_FAILURE_LIMIT: '3' });
    expect((await send(url, 'GET', '/api/tasks', { token: 'tw_wrong_1' })).status).toBe(401);
    expect((await send(url, 'GET', '/api/tasks', { token: 'tw_wrong_2' })).status).toBe(401);
    expect((await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN })).status).toBe(200);
    expect((await send(url, 'GET', '/api/tasks', { token: 'tw_wrong_3' })).status).toBe(401);
    expect429(await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN }), 60);
  });
});

describe('behind a trusted proxy (TRUST_PROXY=1), 3 failures per 2 s', () => {
  let url: string;
  const via = (clientChain: string) => ({ 'x-forwarded-for': clientChain });
  beforeAll(async () => {
    url = (await startServer({ TRUST_PROXY: '1', AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_SECONDS: '2' })).url;
  });

  it('counts the address the proxy saw, and lets it in again after the window', async () => {
    for (let i = 0; i < 3; i++) expect((await send(url, 'GET', '/api/tasks', { token: 'tw_wrong', headers: via('203.0.113.7') })).status).toBe(401);
    expect429(await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, headers: via('203.0.113.7') }), 2);
    // Another client behind the same proxy is not affected.
    expect((await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, headers: via('203.0.113.8') })).status).toBe(200);
    // What the client put in front of the proxy's entry is ignored.
    expect429(await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, headers: via('203.0.113.8, 203.0.113.7') }), 2);

    const statuses = new Set<number>();
    await until(
      async () => {
        const res = await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, headers: via('203.0.113.7') });
        statuses.add(res.status);
        return res.status === 200 ? res : undefined;
      },
      10_000,
      'the block to end',
    );
    expect([...statuses].sort()).toEqual([200, 429]);
  });

  it('counts an IPv6 client per /64', async () => {
    for (let i = 0; i < 3; i++) expect((await send(url, 'GET', '/api/tasks', { token: 'tw_wrong', headers: via('2001:db8:5::1') })).status).toBe(401);
    expect429(await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, headers: via('2001:db8:5:0:abcd::99') }), 2);
    expect((await send(url, 'GET', '/api/tasks', { token: OWNER_TOKEN, headers: via('2001:db8:5:1::1') })).status).toBe(200);
  });
});

describe('wrong webhook secrets and signatures, with the default settings', () => {
  let url: string;
  const VK = { groupId: 218000001, secret: 'CALLBACK-SECRET-xyz', confirmationCode: 'CONFIRM-7f3a2b' };
  const WA = { phoneNumberId: '106540352242922', appSecret: 'APP-SECRET-0f0f0f', verifyToken: 'VERIFY-TOKEN-1234' };
  const vkConfirmation = (secret: string) => JSON.stringify({ type: 'confirmation', group_id: VK.groupId, event_id: 'c1', v: '5.199', secret });

  beforeAll(async () => {
    url = (await startServer()).url;
    const vk = await send(url, 'POST', '/api/channels', {
      token: OWNER_TOKEN,
      body: JSON.stringify({ kind: 'vk', name: 'VK', groupId: VK.groupId, accessToken: 'vk1.a.token', confirmationCode: VK.confirmationCode, secret: VK.secret }),
    });
    expect(vk.status, vk.text).toBe(201);
    const wa = await send(url, 'POST', '/api/channels', {
      token: OWNER_TOKEN,
      body: JSON.stringify({ kind: 'whatsapp', name: 'WA', phoneNumberId: WA.phoneNumberId, wabaId: '102290129340398', accessToken: 'EAAG-token', appSecret: WA.appSecret, verifyToken: WA.verifyToken }),
    });
    expect(wa.status, wa.text).toBe(201);
  });

  it('VK: twenty wrong secrets, then 429 even with the right one; other addresses and the API go on', async () => {
    const failuresBefore = await metricValue(url, 'taskwire_auth_failures_total', 'webhook_secret');
    const throttledBefore = await metricValue(url, 'taskwire_auth_throttled_total', 'webhook_secret');
    for (let i = 0; i < 20; i++) expect((await send(url, 'POST', '/webhooks/vk', { body: vkConfirmation(`guess-${i}`) })).status).toBe(403);
    expect429(await send(url, 'POST', '/webhooks/vk', { body: vkConfirmation(VK.secret) }), 60);

    const other = await send(url, 'POST', '/webhooks/vk', { body: vkConfirmation(VK.secret), from: '127.0.0.2' });
    expect([other.status, other.text]).toEqual([200, VK.confirmationCode]);
    // Counted apart from the API: agents behind the same address still work.
    expect((await send(url, 'GET', '/api/channels', { token: OWNER_TOKEN })).status).toBe(200);

    expect(await metricValue(url, 'taskwire_auth_failures_total', 'webhook_secret')).toBe(failuresBefore + 20);
    expect(await metricValue(url, 'taskwire_auth_throttled_total', 'webhook_secret')).toBe(throttledBefore + 1);
  });

  it('WhatsApp: twenty bad signatures, then 429 even for a correctly signed POST', async () => {
    const raw = await readFile(fixturePath('whatsapp', 'message.text.json'), 'utf8');
    const failuresBefore = await metricValue(url, 'taskwire_auth_failures_total', 'webhook_secret');
    for (let i = 0; i < 20; i++) {
      const res = await send(url, 'POST', '/webhooks/whatsapp', { body: raw, headers: { 'x-hub-signature-256': signedWebhook(raw, `guess-${i}`).signature } });
      expect(res.status, res.text).toBe(401);
    }
    expect429(await send(url, 'POST', '/webhooks/whatsapp', { body: raw, headers: { 'x-hub-signature-256': signedWebhook(raw, WA.appSecret).signature } }), 60);
    const other = await send(url, 'POST', '/webhooks/whatsapp', { body: raw, from: '127.0.0.2', headers: { 'x-hub-signature-256': signedWebhook(raw, 'guess').signature } });
    expect(other.status).toBe(401);
    expect(await metricValue(url, 'taskwire_auth_failures_total', 'webhook_secret')).toBe(failuresBefore + 21);
  });

  it('WhatsApp verification: twenty wrong verify tokens, then 429 even with the right one', async () => {
    const verify = (token: string) => `/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1903260781&hub.verify_token=${encodeURIComponent(token)}`;
    for (let i = 0; i < 20; i++) expect((await send(url, 'GET', verify(`guess-${i}`))).status).toBe(403);
    expect429(await send(url, 'GET', verify(WA.verifyToken)), 60);
    const other = await send(url, 'GET', verify(WA.verifyToken), { from: '127.0.0.2' });
    expect([other.status, other.text]).toEqual([200, '1903260781']);
  });
});
