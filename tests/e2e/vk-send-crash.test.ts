/**
 * A reply reaches VK exactly once even when the worker dies in the middle of messages.send:
 * the retry on another worker reuses the delivery's random_id, which VK de-duplicates.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChildWorker, type ChildWorker } from '../support/child-worker.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

let h: Harness;
const children: ChildWorker[] = [];

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  for (const c of children) await c.kill();
  await h?.close();
});

it('the worker is killed while messages.send is in flight: the customer still gets the reply exactly once', async () => {
  children.push(await startChildWorker(h.config));
  await h.createVkChannel();
  const messageNew = await readFixture('vk/message_new.text.json');
  // A peer no other test file uses: workflow ids are shared on the one dev server.
  await h.postVk(vkMessage(messageNew, { peer: 512348001, id: 100, text: 'Где мой заказ?' }));
  const task = await h.eventually(async () => (await h.api('GET', '/api/tasks')).body.items[0], 30_000, 'task');

  const hold = h.vk.holdNext('messages.send');
  const reply = h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Заказ у курьера', notifyContact: true });
  await hold.arrived;
  // The send reached VK; the worker dies before it hears the answer.
  await children[0]!.kill();
  hold.release();
  await hold.released;
  expect(h.vk.sent.filter((m) => m.text === 'Заказ у курьера')).toHaveLength(1);

  children.push(await startChildWorker(h.config));
  const res = await reply;
  // 201, or 202 when the worker restart outlasted REPLY_WAIT_SECONDS: the send goes on either way.
  expect([201, 202], JSON.stringify(res.body)).toContain(res.status);
  await h.eventually(async () => {
    const t = await h.api('GET', `/api/tasks/${task.id}`);
    return t.body.comments.some((c: any) => c.text === 'Заказ у курьера' && c.deliveryStatus === 'sent');
  }, 30_000, 'the reply sent');
  // messages.send was called again (the retry) with the same random_id, and VK delivered once.
  const calls = h.vk.calls.filter((c) => c.method === 'messages.send' && c.params.message === 'Заказ у курьера');
  expect(calls.length).toBeGreaterThanOrEqual(2);
  expect(new Set(calls.map((c) => c.params.random_id)).size).toBe(1);
  expect(h.vk.sent.filter((m) => m.text === 'Заказ у курьера')).toHaveLength(1);
  const t = await h.api('GET', `/api/tasks/${task.id}`);
  expect(t.body.comments.filter((c: any) => c.text === 'Заказ у курьера')).toHaveLength(1);
}, 90_000);
