/**
 * Bulk sends end to end (contract: POST /api/channels/:id/bulk-sends, GET /api/bulk-sends/:id,
 * GET /api/broadcasts): every recipient gets the message exactly once, even when the worker is
 * SIGKILLed in the middle of the job; every message is a held broadcast (rules 22–23) that reaches
 * a task only when the recipient replies, before the reply.
 *
 * Workers run in child processes (tests/support/child-worker.ts) so one can die mid-send; a
 * single worker process serves the tests after the crash test.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../worker/index.js';
import { textWebhook } from '../fakes/graph-api.js';
import { startChildWorker, type ChildWorker } from '../support/child-worker.js';
import { startHarness, type Harness } from '../support/harness.js';
import { replayAll } from '../support/replay.js';

let h: Harness;
const children: ChildWorker[] = [];
let bundleDir: string | undefined;
/** Fast enough for 200 sends (plus 200 profile look-ups on the same queue) in a few seconds. */
const WORKER_ENV: Record<string, string> = { VK_RATE_LIMIT_PER_SECOND: '100' };

beforeAll(async () => {
  h = await startHarness();
  // Bundled once here, so each worker process (two in the crash test) starts in a second or two.
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  bundleDir = await mkdtemp(path.join(os.tmpdir(), 'taskwire-bundle-'));
  WORKER_ENV.WORKFLOW_BUNDLE_PATH = path.join(bundleDir, 'workflows.js');
  await writeFile(WORKER_ENV.WORKFLOW_BUNDLE_PATH, code);
});

afterAll(async () => {
  for (const c of children) await c.kill();
  await h?.close();
  if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
});

/** The live worker process, started if none is running (tests can run alone with -t). */
async function ensureWorker(): Promise<void> {
  const alive = children.some((c) => c.process.exitCode === null && c.process.signalCode === null);
  if (!alive) children.push(await startChildWorker(h.config, WORKER_ENV));
}

let vkChannelId: string | undefined;
async function vkChannel(): Promise<string> {
  vkChannelId ??= await h.createVkChannel();
  return vkChannelId;
}

let waChannelId: string | undefined;
let waJobId: string | undefined;
async function waChannel(): Promise<string> {
  waChannelId ??= await h.createWaChannel();
  return waChannelId;
}

async function progressOf(id: string) {
  const res = await h.api('GET', `/api/bulk-sends/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { id: string; total: number; sent: number; failed: number; status: 'running' | 'done' };
}

async function untilDone(id: string, timeoutMs = 60_000) {
  return h.eventually(async () => {
    const p = await progressOf(id);
    return p.status === 'done' ? p : undefined;
  }, timeoutMs, `bulk send ${id} done`);
}

async function contactOf(kind: 'vk' | 'whatsapp', externalId: string): Promise<string | undefined> {
  const row = await h.db
    .selectFrom('contact_identities')
    .select('contact_id')
    .where('channel_kind', '=', kind)
    .where('external_id', '=', externalId)
    .executeTakeFirst();
  return row?.contact_id;
}

async function heldBroadcasts(channelId: string): Promise<any[]> {
  const res = await h.api('GET', `/api/broadcasts?channelId=${channelId}&status=held&limit=1000`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items;
}

describe('VK: the worker is SIGKILLed halfway through 200 recipients', () => {
  it('every recipient gets the message exactly once, the job ends done, every message is a held broadcast with no task', async () => {
    await ensureWorker();
    const channelId = await vkChannel();
    const peers = Array.from({ length: 200 }, (_, i) => 640100001 + i);
    const text = 'Весенняя распродажа: −20% на все диваны до воскресенья';

    const res = await h.api('POST', `/api/channels/${channelId}/bulk-sends`, { recipients: peers.map((vkUserId) => ({ vkUserId })), text });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toEqual({ id: expect.any(String), total: 200 });
    const jobId: string = res.body.id;

    // Halfway (the second page of 100 recipients is under way), hold the next ten messages.send
    // calls: every send lane of the job is then blocked inside a VK call, with nothing answered.
    await h.vk.waitFor(() => h.vk.sent.length >= 105, 60_000, '105 messages delivered');
    const holds = Array.from({ length: 10 }, () => h.vk.holdNext('messages.send'));
    await Promise.race([
      Promise.all(holds.map((x) => x.arrived)),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the held sends did not arrive')), 30_000)),
    ]);
    const mid = await progressOf(jobId);
    expect(mid).toMatchObject({ total: 200, failed: 0, status: 'running' });
    expect(mid.sent).toBeGreaterThanOrEqual(100);
    expect(mid.sent).toBeLessThan(200);

    // The recipients sent so far have been handed to their conversations; let those record them
    // first, so the crash hits only the sends. (A conversation whose profile look-up — ensureContact,
    // no heartbeat, 2-minute start-to-close — dies with the worker would record its broadcast only
    // minutes later.)
    await h.eventually(async () => {
      const [p, n] = await Promise.all([
        progressOf(jobId),
        h.db.selectFrom('broadcasts').select((eb) => eb.fn.countAll<string>().as('n')).where('bulk_send_id', '=', jobId).executeTakeFirstOrThrow(),
      ]);
      return Number(n.n) === p.sent;
    }, 30_000, 'the conversations of the recipients sent so far');

    // The worker dies; VK then processes the ten held requests (it got them), the answers are lost.
    await children.at(-1)!.kill();
    for (const x of holds) x.release();
    await Promise.all(holds.map((x) => x.released));
    const deliveredAtCrash = h.vk.sent.length;
    expect(deliveredAtCrash).toBeGreaterThanOrEqual(115);
    expect(deliveredAtCrash).toBeLessThan(200);

    await ensureWorker();
    const done = await untilDone(jobId, 90_000);
    expect(done).toEqual({ id: jobId, total: 200, sent: 200, failed: 0, status: 'done' });

    // Exactly one delivered message per recipient (VK de-duplicated the retried random_ids).
    const delivered = new Map<number, number>();
    for (const m of h.vk.sent.filter((m) => m.text === text)) delivered.set(m.peerId, (delivered.get(m.peerId) ?? 0) + 1);
    expect(delivered.size).toBe(200);
    expect([...delivered.keys()].sort((a, b) => a - b)).toEqual(peers);
    expect([...delivered.values()].every((n) => n === 1)).toBe(true);
    // The crash did hit sends in flight: their retries repeated the same random_id.
    const requests = new Map<string, number>();
    for (const c of h.vk.calls.filter((c) => c.method === 'messages.send' && c.params.message === text)) {
      requests.set(`${c.params.peer_id}:${c.params.random_id}`, (requests.get(`${c.params.peer_id}:${c.params.random_id}`) ?? 0) + 1);
    }
    expect(requests.size).toBe(200);
    expect([...requests.values()].filter((n) => n > 1).length).toBeGreaterThanOrEqual(10);

    // Each recipient's conversation holds exactly one broadcast (rule 22: a broadcast by origin).
    const held = await h.eventually(async () => {
      const items = await heldBroadcasts(channelId);
      return items.length >= 200 ? items : undefined;
    }, 60_000, '200 held broadcasts');
    expect(held).toHaveLength(200);
    expect(held.every((b) => b.bulkSendId === jobId && b.text === text && b.status === 'held')).toBe(true);
    const contactIds = await Promise.all(peers.map((p) => contactOf('vk', String(p))));
    expect(contactIds.every(Boolean)).toBe(true);
    const perContact = new Map<string, number>();
    for (const b of held) perContact.set(b.contactId, (perContact.get(b.contactId) ?? 0) + 1);
    expect([...perContact.keys()].sort()).toEqual([...(contactIds as string[])].sort());
    expect([...perContact.values()].every((n) => n === 1)).toBe(true);
    const rows = await h.db.selectFrom('broadcasts').select(['contact_id', 'status', 'is_broadcast']).where('bulk_send_id', '=', jobId).execute();
    expect(rows).toHaveLength(200);
    expect(rows.every((r) => r.status === 'held' && r.is_broadcast)).toBe(true);

    // Profiles came in one users.get per page of 100 (not one per recipient), names included.
    const profileCalls = h.vk.calls.filter((c) => c.method === 'users.get');
    expect(profileCalls.length).toBeLessThanOrEqual(4);
    expect(profileCalls.every((c) => c.params.user_ids!.split(',').length > 1)).toBe(true);
    const named = await h.db.selectFrom('contacts').select('name').where('id', 'in', contactIds as string[]).execute();
    expect(named.filter((c) => c.name.startsWith('VK user '))).toEqual([]);

    // Rule 23: no task, no comment until the recipient replies.
    expect((await h.api('GET', `/api/tasks?channelId=${channelId}`)).body.items).toEqual([]);
    for (const contactId of contactIds.slice(0, 5)) {
      expect((await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items).toEqual([]);
    }
    const comments = await h.db
      .selectFrom('comments as c')
      .innerJoin('tasks as t', 't.id', 'c.task_id')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('t.contact_id', 'in', contactIds as string[])
      .executeTakeFirstOrThrow();
    expect(Number(comments.n)).toBe(0);
  }, 180_000);
});

describe('WhatsApp template bulk send', () => {
  it('progress, held broadcasts, then a reply brings the broadcast into the task before the reply', async () => {
    await ensureWorker();
    const channelId = await waChannel();
    const phones = ['+7 999 001-00-01', '+7 999 001-00-02', '+7 999 001-00-03'];
    const waIds = ['79990010001', '79990010002', '79990010003'];
    const template = { name: 'spring_sale', language: 'ru', parameters: ['20%'] };

    // The first send waits in Meta, so the job is seen running.
    const hold = h.graph.holdNext('messages');
    const res = await h.api('POST', `/api/channels/${channelId}/bulk-sends`, { recipients: phones.map((phone) => ({ phone })), template });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toEqual({ id: expect.any(String), total: 3 });
    const jobId: string = res.body.id;
    waJobId = jobId;
    await hold.arrived;
    const running = await progressOf(jobId);
    expect(running).toMatchObject({ id: jobId, total: 3, failed: 0, status: 'running' });
    expect(running.sent).toBeLessThan(3);
    hold.release();

    expect(await untilDone(jobId)).toEqual({ id: jobId, total: 3, sent: 3, failed: 0, status: 'done' });
    const sent = h.graph.sent.filter((m) => waIds.includes(m.waId));
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((m) => m.waId))).toEqual(new Set(waIds));
    for (const m of sent) {
      expect(m.type).toBe('template');
      expect(m.template).toMatchObject({ name: 'spring_sale', language: 'ru', bodyParameters: ['20%'] });
      // The recipient id travels as callback data (Meta echoes it in status webhooks).
      expect(m.bizOpaqueCallbackData).toMatch(/^\d+$/);
    }
    expect(new Set(sent.map((m) => m.bizOpaqueCallbackData)).size).toBe(3);

    // Held broadcasts, no tasks.
    const held = await h.eventually(async () => {
      const items = (await heldBroadcasts(channelId)).filter((b) => b.bulkSendId === jobId);
      return items.length >= 3 ? items : undefined;
    }, 30_000, '3 held broadcasts');
    expect(held).toHaveLength(3);
    const contactIds = await Promise.all(waIds.map((w) => contactOf('whatsapp', w)));
    expect(new Set(held.map((b) => b.contactId))).toEqual(new Set(contactIds));
    expect((await h.api('GET', `/api/tasks?channelId=${channelId}`)).body.items).toEqual([]);

    // The first recipient replies at once (an auto-reply: the same second as the broadcast, and
    // WhatsApp times are whole seconds): the broadcast comes first, then the reply, in one task.
    const replyText = 'А на кресла скидка тоже действует?';
    const broadcastSentAt = Date.parse(held.find((b) => b.contactId === contactIds[0]).sentAt);
    const posted = await h.postWa(textWebhook({ from: waIds[0]!, name: 'Иван Петров', text: replyText, timestamp: Math.floor(broadcastSentAt / 1000) }));
    expect(posted.status).toBe(200);
    const task = await h.eventually(async () => (await h.api('GET', `/api/tasks?contactId=${contactIds[0]}`)).body.items[0], 30_000, 'task of the replying recipient');
    const comments = await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      return t.body.comments.length >= 2 ? (t.body.comments as any[]) : undefined;
    }, 30_000, 'two comments');
    expect(comments).toHaveLength(2);
    expect(comments[0]).toMatchObject({ direction: 'outbound', author: { type: 'channel' }, broadcast: true });
    expect(comments[0].text).toContain('spring_sale');
    expect(comments[1]).toMatchObject({ direction: 'inbound', author: { type: 'contact', id: contactIds[0] }, text: replyText });
    expect(comments[1].broadcast).toBeUndefined();

    // That broadcast is attached to the comment; the others are still held, with no task.
    const attached = (await h.api('GET', `/api/broadcasts?channelId=${channelId}&status=attached`)).body.items.filter((b: any) => b.bulkSendId === jobId);
    expect(attached).toEqual([expect.objectContaining({ contactId: contactIds[0], commentId: comments[0].id })]);
    const stillHeld = (await heldBroadcasts(channelId)).filter((b) => b.bulkSendId === jobId);
    expect(new Set(stillHeld.map((b) => b.contactId))).toEqual(new Set(contactIds.slice(1)));
    for (const contactId of contactIds.slice(1)) {
      expect((await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items).toEqual([]);
    }
  }, 90_000);
});

describe('validation and access', () => {
  function expectError(res: { status: number; body: any }, status: number, code?: string) {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    if (code) expect(res.body.error.code).toBe(code);
  }

  it('refuses recipients of the wrong kind, templates on VK, no content, agents and unknown channels', async () => {
    const vk = await vkChannel();
    const wa = await waChannel();
    const before = await h.db.selectFrom('bulk_sends').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();

    expectError(await h.api('POST', `/api/channels/${vk}/bulk-sends`, { recipients: [{ phone: '+79990010009' }], text: 'Привет' }), 400, 'invalid_request');
    expectError(await h.api('POST', `/api/channels/${wa}/bulk-sends`, { recipients: [{ vkUserId: 640300001 }], template: { name: 'x', language: 'ru' } }), 400, 'invalid_request');
    const national = await h.api('POST', `/api/channels/${wa}/bulk-sends`, { recipients: [{ phone: '+79990010009' }, { phone: '8 999 001-00-09' }], template: { name: 'x', language: 'ru' } });
    expectError(national, 400, 'invalid_request');
    expect(national.body.error.details.field).toBe('recipients.1.phone');
    expectError(
      await h.api('POST', `/api/channels/${vk}/bulk-sends`, { recipients: [{ vkUserId: 640300001 }], template: { name: 'spring_sale', language: 'ru' } }),
      400,
      'invalid_request',
    );
    expectError(await h.api('POST', `/api/channels/${vk}/bulk-sends`, { recipients: [{ vkUserId: 640300001 }] }), 400, 'invalid_request');
    expectError(await h.api('POST', `/api/channels/${vk}/bulk-sends`, { recipients: [], text: 'Привет' }), 400, 'invalid_request');
    expectError(await h.api('POST', '/api/channels/987654321/bulk-sends', { recipients: [{ vkUserId: 640300001 }], text: 'Привет' }), 404, 'not_found');
    expectError(await h.api('GET', '/api/bulk-sends/987654321'), 404, 'not_found');

    const agent = await h.api('POST', '/api/employees', { name: 'Агент Рассылок', role: 'agent' });
    expect(agent.status, JSON.stringify(agent.body)).toBe(201);
    expectError(await h.api('POST', `/api/channels/${vk}/bulk-sends`, { recipients: [{ vkUserId: 640300001 }], text: 'Привет' }, agent.body.token), 403, 'forbidden');

    // Nothing was created, nothing sent.
    const after = await h.db.selectFrom('bulk_sends').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    expect(h.vk.sent.filter((m) => m.peerId === 640300001)).toEqual([]);
  });

  it('duplicate recipients are sent once: total counts distinct people', async () => {
    await ensureWorker();
    const vk = await vkChannel();
    const text = 'Напоминаем: завтра последний день акции';
    const res = await h.api('POST', `/api/channels/${vk}/bulk-sends`, {
      recipients: [{ vkUserId: 640300002 }, { vkUserId: '640300002' }, { vkUserId: 640300003 }, { vkUserId: 640300002 }],
      text,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.total).toBe(2);
    expect(await untilDone(res.body.id)).toEqual({ id: res.body.id, total: 2, sent: 2, failed: 0, status: 'done' });
    const sent = h.vk.sent.filter((m) => m.text === text);
    expect(sent.map((m) => m.peerId).sort()).toEqual([640300002, 640300003]);
  }, 60_000);
});

it('bulk-send and conversation histories (live, and the recorded WhatsApp job) replay without nondeterminism', async () => {
  const { replayed, failures } = await replayAll(h, 'bulk-send', (id) => id === `bulk-send/${h.config.TEMPORAL_TASK_QUEUE}/${waJobId}` || id.endsWith('/79990010002'));
  expect(failures).toEqual([]);
  expect(replayed).toBeGreaterThan(200);
}, 180_000);
