/**
 * Idempotency-Key pieces that need no Temporal: the bulk send's start failures (nothing left
 * behind when surely not started; a 503 naming the job when unconfirmed, started once by the
 * retry), stored answers encrypted, the header documented on every changing route.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapOwner } from '../../api/auth.js';
import { hashBody } from '../../api/idempotency.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { call, OWNER_TOKEN, testApp } from './helpers.js';

/** A gRPC error as @temporalio/client reports it (`code` 14: unreachable, 4: deadline). */
function grpcError(code: number): Error {
  return Object.assign(new Error(code === 14 ? '14 UNAVAILABLE: connect ECONNREFUSED' : '4 DEADLINE_EXCEEDED'), { code, details: 'x', metadata: {} });
}

/** Enough of a Temporal client for starting and describing a bulk send's workflow. */
const temporal = {
  start: async (_wf: unknown, _opts: { workflowId: string }): Promise<unknown> => undefined,
  describe: async (): Promise<unknown> => ({}),
  starts: [] as string[],
};
const fakeClient = {
  withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
  workflow: {
    start: (wf: unknown, opts: { workflowId: string }) => {
      temporal.starts.push(opts.workflowId);
      return temporal.start(wf, opts);
    },
    getHandle: () => ({ describe: () => temporal.describe() }),
  },
} as unknown as Client;

let t: TestDatabase;
let app: ReturnType<typeof testApp>['app'];
let channelId: string;
const owner = { token: OWNER_TOKEN };

beforeAll(async () => {
  t = await createTestDatabase();
  app = testApp(t.db, { temporal: fakeClient }).app;
  await bootstrapOwner(t.db, OWNER_TOKEN);
  const ch = await call(app, 'POST', '/api/channels', {
    ...owner,
    body: { kind: 'vk', name: 'Shop', groupId: 218000001, accessToken: 't', confirmationCode: 'c', secret: 's' },
  });
  expect(ch.status).toBe(201);
  channelId = ch.body.id;
});
afterAll(async () => {
  await t?.drop();
});

const jobs = async () => (await t.db.selectFrom('bulk_sends').select('id').execute()).map((r) => r.id);
const bulk = (text: string, key?: string) =>
  call(app, 'POST', `/api/channels/${channelId}/bulk-sends`, { ...owner, body: { recipients: [{ vkUserId: 1 }, { vkUserId: 2 }], text }, headers: key ? { 'idempotency-key': key } : {} });

describe('a bulk send whose workflow does not start', () => {
  it('Temporal unreachable: 503 and no job left behind', async () => {
    temporal.start = async () => Promise.reject(grpcError(14));
    temporal.describe = async () => Promise.reject(grpcError(14));
    const before = await jobs();
    const res = await bulk('Temporal is down');
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.error.details?.bulkSendId).toBeUndefined();
    expect(await jobs()).toEqual(before);
    expect(await t.db.selectFrom('bulk_send_recipients').select('id').execute()).toHaveLength(0);
  });

  it('start unconfirmed: 503 naming the job; the retry with the key starts that job, not a second one', async () => {
    temporal.start = async () => Promise.reject(grpcError(4));
    temporal.describe = async () => Promise.reject(grpcError(14));
    const before = await jobs();
    const res = await bulk('Maybe started');
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    const key = res.headers.get('idempotency-key')!;
    expect(res.body.error.details).toMatchObject({ bulkSendId: expect.any(String), idempotencyKey: key });
    expect(await jobs()).toEqual([...before, res.body.error.details.bulkSendId]);

    temporal.start = async () => undefined;
    temporal.starts.length = 0;
    const again = await bulk('Maybe started', key);
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect(again.body).toEqual({ id: res.body.error.details.bulkSendId, total: 2 });
    expect(temporal.starts).toEqual([`bulk-send/taskwire/${again.body.id}`]);
    expect(await jobs()).toEqual([...before, again.body.id]);
    // And now it is answered for good.
    const third = await bulk('Maybe started', key);
    expect(third.headers.get('idempotent-replayed')).toBe('true');
    expect(third.body).toEqual(again.body);
  });

  it('start timed out but the workflow exists: 202; surely not started: forgotten', async () => {
    temporal.start = async () => Promise.reject(grpcError(4));
    temporal.describe = async () => ({ status: { name: 'RUNNING' } });
    const started = await bulk('Started after all');
    expect(started.status).toBe(202);
    expect(await jobs()).toContain(started.body.id);

    temporal.describe = async () => Promise.reject(new WorkflowNotFoundError('not found', 'bulk-send/x', undefined));
    const before = await jobs();
    const notStarted = await bulk('Not started');
    expect(notStarted.status).toBe(503);
    expect(await jobs()).toEqual(before);
  });
});

describe('stored answers', () => {
  it('are encrypted: an employee token shown once is not readable in the database, and is replayed to its creator', async () => {
    const key = 'employee-secret-01';
    const res = await call(app, 'POST', '/api/employees', { ...owner, body: { name: 'Anna', role: 'agent' }, headers: { 'idempotency-key': key } });
    expect(res.status).toBe(201);
    const row = await t.db.selectFrom('idempotent_requests').select(['answer', 'state', 'status']).where('key', '=', key).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'done', status: 201 });
    expect(row.answer!.toString('latin1')).not.toContain(res.body.token);
    expect(row.answer!.toString('latin1')).not.toContain('Anna');
    const again = await call(app, 'POST', '/api/employees', { ...owner, body: { name: 'Anna', role: 'agent' }, headers: { 'idempotency-key': key } });
    expect(again.body).toEqual(res.body);
  });

  it('bodies are compared as JSON with sorted keys', () => {
    expect(hashBody('{"a":1,"b":{"c":[1,2],"d":"x"}}')).toBe(hashBody('{ "b": {"d":"x","c":[1,2]}, "a": 1 }'));
    expect(hashBody('{"a":1}')).not.toBe(hashBody('{"a":2}'));
    expect(hashBody('not json')).toBe(hashBody('not json'));
  });
});

it('the OpenAPI document names the Idempotency-Key header on every POST, PUT, PATCH and DELETE under /api', async () => {
  const doc = (await call(app, 'GET', '/openapi.json')).body;
  const missing: string[] = [];
  let routes = 0;
  for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
    if (!path.startsWith('/api/')) continue;
    for (const [method, op] of Object.entries(ops)) {
      if (!['post', 'put', 'patch', 'delete'].includes(method)) continue;
      routes++;
      if (!(op.parameters ?? []).some((p: any) => p.in === 'header' && p.name === 'idempotency-key')) missing.push(`${method.toUpperCase()} ${path}`);
    }
  }
  expect(routes).toBeGreaterThanOrEqual(12);
  expect(missing).toEqual([]);
});
