/**
 * Issue 13: the conversation keeps a scheduled reply's timer durably. The worker is killed and
 * Temporal restarted while the reply waits; it still goes out when due, exactly once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChildWorker, type ChildWorker } from '../support/child-worker.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { ownTemporal, type OwnTemporal } from '../support/own-temporal.js';

let h: Harness;
let server: OwnTemporal;
const children: ChildWorker[] = [];

beforeAll(async () => {
  server = await ownTemporal();
  h = await startHarness({ TEMPORAL_ADDRESS: server.address });
});

afterAll(async () => {
  for (const c of children) await c.kill();
  await h?.close();
  await server?.close();
});

it('a scheduled reply is sent once when due, after a worker kill and a Temporal restart during the wait', async () => {
  children.push(await startChildWorker(h.config));
  await h.createVkChannel();
  const peer = 512360701;
  await h.postVk(vkMessage(await readFixture('vk/message_new.text.json'), { peer, id: 1, text: 'Напомните завтра' }));
  const task = await h.eventually(async () => (await h.api('GET', '/api/tasks')).body.items[0], 30_000, 'task');

  const due = Date.now() + 20_000;
  const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Напоминаем о записи', notifyContact: true, sendAt: new Date(due).toISOString() });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.comment.deliveryStatus).toBe('scheduled');

  // The worker dies (SIGKILL) and Temporal restarts, all while the reply waits.
  await children[0]!.kill();
  await server.stop();
  expect(Date.now(), 'the worker kill and the Temporal stop took longer than the wait').toBeLessThan(due);
  await server.start();
  // No worker ran since the kill: nothing can have been sent, whether or not the reply is due by now.
  expect(h.vk.sent.filter((m) => m.peerId === peer)).toHaveLength(0);
  children.push(await startChildWorker(h.config));

  await h.eventually(async () => h.vk.sent.some((m) => m.peerId === peer), 60_000, 'the scheduled reply');
  expect(Date.now()).toBeGreaterThanOrEqual(due);
  await h.eventually(async () => {
    const c = (await h.api('GET', `/api/tasks/${task.id}`)).body.comments.find((x: any) => x.id === res.body.comment.id);
    return c?.deliveryStatus === 'sent';
  }, 30_000, 'the comment sent');
  // Exactly once: one message in VK, one messages.send random_id.
  await new Promise((r) => setTimeout(r, 1000));
  expect(h.vk.sent.filter((m) => m.peerId === peer).map((m) => m.text)).toEqual(['Напоминаем о записи']);
  const sends = h.vk.calls.filter((c) => c.method === 'messages.send' && c.params.peer_id === String(peer));
  expect(new Set(sends.map((c) => c.params.random_id)).size).toBe(1);
}, 150_000);
