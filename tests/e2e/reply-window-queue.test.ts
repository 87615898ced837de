/**
 * A reply is judged against the reply window only after the person's messages that reached
 * Temporal before it are recorded. After a worker restart the conversation's run replays and
 * records its queue again; a reply arriving then used to be refused (`422 reply_window_closed`,
 * "never opened") although the customer had just written and the message was in the task —
 * found by the chaos run (bench/chaos.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ VK_REPLY_WINDOW_SECONDS: '600' });
  await h.startWorkers();
  await h.createVkChannel();
});

afterAll(async () => {
  await h?.close();
});

it('a reply queued behind the message that reopens the window is sent, not refused', async () => {
  const base = await readFixture('vk/message_new.text.json');
  // A peer no other test file uses: workflow ids are shared on the one dev server.
  const peer = 512349101;
  // Written 20 minutes ago: the 10-minute window is closed.
  await h.postVk(vkMessage(base, { peer, id: 1, text: 'Давно писал', date: Math.floor(Date.now() / 1000) - 1200 }));
  const task = await h.eventually(async () => (await h.api('GET', '/api/tasks')).body.items[0], 30_000, 'task');
  const refused = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Слишком поздно', notifyContact: true });
  expect(refused.status, JSON.stringify(refused.body)).toBe(422);
  expect(refused.body.error.code).toBe('reply_window_closed');

  // The person writes again while no worker runs (the moment after a crash); the agent answers at once.
  await h.stopWorkers();
  const posted = await h.postVk(vkMessage(base, { peer, id: 2, text: 'Я снова тут' }));
  expect(posted.text).toBe('ok');
  const reply = h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Отвечаем сразу', notifyContact: true });
  // Let the update reach the workflow ahead of the worker.
  await new Promise((r) => setTimeout(r, 500));
  await h.startWorkers();
  const res = await reply;
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  await h.eventually(async () => h.vk.sent.some((m) => m.text === 'Отвечаем сразу'), 30_000, 'the reply in VK');
  const t = await h.api('GET', `/api/tasks/${task.id}`);
  const texts = t.body.comments.map((c: any) => c.text);
  expect(texts.indexOf('Я снова тут')).toBeLessThan(texts.indexOf('Отвечаем сразу'));
}, 120_000);
