/**
 * Issue 13, replies held for a closed reply window (`whenWindowClosed: "hold"`): answered 202
 * `held`, sent in order right after the person's next message is recorded, cancelled like a
 * scheduled reply, `expired` after HELD_REPLY_RETENTION_SECONDS (short here). On WhatsApp a
 * template given with the held reply goes out at once to invite the answer.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { textWebhook } from '../fakes/graph-api.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { replayAll } from '../support/replay.js';

const RETENTION_SECONDS = 10;
let h: Harness;
let base: Record<string, any>;
let nextId = 1;

beforeAll(async () => {
  // Idle conversations end quickly: one that holds a reply continues as new and waits with one timer.
  h = await startHarness({ VK_REPLY_WINDOW_SECONDS: '600', HELD_REPLY_RETENTION_SECONDS: String(RETENTION_SECONDS), CONVERSATION_IDLE_SECONDS: '2' });
  await h.startWorkers();
  await h.createVkChannel();
  await h.createWaChannel();
  base = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
});

const minutesAgo = (m: number) => Math.floor(Date.now() / 1000) - m * 60;

/** The task whose comments include `text` (a message of the person). */
async function taskWith(text: string): Promise<any> {
  return h.eventually(async () => {
    for (const t of (await h.api('GET', '/api/tasks')).body.items as any[]) {
      const full = (await h.api('GET', `/api/tasks/${t.id}`)).body;
      if (full.comments.some((c: any) => c.text === text)) return full;
    }
    return undefined;
  }, 30_000, `the task with "${text}"`);
}

/** A VK person who wrote 20 minutes ago: the 10-minute window is closed. */
async function closedVkTask(peer: number): Promise<any> {
  const text = `Старый вопрос ${peer}`;
  await h.postVk(vkMessage(base, { peer, id: nextId++, text, date: minutesAgo(20) }));
  return taskWith(text);
}

const hold = (taskId: string, text: string, more: Record<string, unknown> = {}) =>
  h.api('POST', `/api/tasks/${taskId}/comments`, { text, notifyContact: true, whenWindowClosed: 'hold', ...more });
const statusOf = async (taskId: string, commentId: string) =>
  (await h.api('GET', `/api/tasks/${taskId}`)).body.comments.find((c: any) => c.id === commentId)?.deliveryStatus;

it('VK: held replies go out, in order, right after the customer writes again', async () => {
  const peer = 512360601;
  const task = await closedVkTask(peer);
  const refused = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Без ожидания', notifyContact: true });
  expect(refused.status).toBe(422);
  expect(refused.body.error.code).toBe('reply_window_closed');

  const first = await hold(task.id, 'Первый отложенный');
  const second = await hold(task.id, 'Второй отложенный');
  expect(first.status, JSON.stringify(first.body)).toBe(202);
  expect(first.body.comment).toMatchObject({ deliveryStatus: 'held', heldUntil: expect.any(String) });
  expect(second.body.comment.deliveryStatus).toBe('held');
  expect(h.vk.sent.filter((m) => m.peerId === peer)).toHaveLength(0);

  await h.postVk(vkMessage(base, { peer, id: nextId++, text: 'Я снова здесь' }));
  await h.eventually(async () => h.vk.sent.filter((m) => m.peerId === peer).length === 2, 30_000, 'the held replies sent');
  expect(h.vk.sent.filter((m) => m.peerId === peer).map((m) => m.text)).toEqual(['Первый отложенный', 'Второй отложенный']);
  await h.eventually(async () => (await statusOf(task.id, second.body.comment.id)) === 'sent', 10_000, 'the second held reply sent');
  // The window is open now: a reply goes out at once, hold or not.
  const now = await hold(task.id, 'Сразу');
  expect(now.status, JSON.stringify(now.body)).toBe(201);
}, 90_000);

it('VK: a held reply can be cancelled; an unanswered one expires and is never sent', async () => {
  const peer = 512360602;
  const task = await closedVkTask(peer);
  const cancelled = await hold(task.id, 'Отменённый отложенный');
  const expiring = await hold(task.id, 'Истекающий отложенный');
  expect(expiring.status).toBe(202);
  const cancel = await h.api('POST', `/api/comments/${cancelled.body.comment.id}/cancel`);
  expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
  expect(cancel.body.comment.deliveryStatus).toBe('cancelled');

  await h.eventually(async () => (await statusOf(task.id, expiring.body.comment.id)) === 'expired', (RETENTION_SECONDS + 20) * 1000, 'the held reply expired');
  // It waited across runs (idle: continued as new), and with nothing left to wait for the conversation ends.
  const runs = h.client.workflow.list({ query: `WorkflowId = '${h.conversationId(peer)}' AND ExecutionStatus = 'ContinuedAsNew'` });
  let continued = 0;
  for await (const _ of runs) continued++;
  expect(continued).toBeGreaterThan(0);
  await h.eventually(async () => (await h.client.workflow.getHandle(h.conversationId(peer)).describe()).status.name === 'COMPLETED', 30_000, 'the conversation completed');
  const late = await h.api('POST', `/api/comments/${expiring.body.comment.id}/cancel`);
  expect(late.status).toBe(409);
  // The customer writes after the expiry: neither reply goes out.
  await h.postVk(vkMessage(base, { peer, id: nextId++, text: 'Поздний ответ клиента' }));
  await taskWith('Поздний ответ клиента');
  const marker = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Новый ответ', notifyContact: true });
  expect(marker.status, JSON.stringify(marker.body)).toBe(201);
  expect(h.vk.sent.filter((m) => m.peerId === peer).map((m) => m.text)).toEqual(['Новый ответ']);
}, 90_000);

it('VK: a scheduled reply due after the window closed is held (with hold) or fails reply_window_closed (without)', async () => {
  const peer = 512360603;
  const text = `Вопрос перед закрытием окна ${peer}`;
  // The 10-minute window closes in about 10 s; both replies are due after that.
  await h.postVk(vkMessage(base, { peer, id: nextId++, text, date: Math.floor(Date.now() / 1000) - 590 }));
  const task = await taskWith(text);
  const sendAt = new Date(Date.now() + 12_000).toISOString();
  const held = await hold(task.id, 'Запланированный, подождёт ответа', { sendAt });
  const refused = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Запланированный без ожидания', notifyContact: true, sendAt });
  expect([held.status, refused.status], JSON.stringify([held.body, refused.body])).toEqual([202, 202]);
  expect(held.body.comment.deliveryStatus).toBe('scheduled');

  await h.eventually(async () => (await statusOf(task.id, refused.body.comment.id)) === 'failed', 30_000, 'the unheld reply failed');
  const failed = (await h.api('GET', `/api/tasks/${task.id}`)).body.comments.find((c: any) => c.id === refused.body.comment.id);
  expect(failed.deliveryError.code).toBe('reply_window_closed');
  expect(await statusOf(task.id, held.body.comment.id)).toBe('held');
  await h.postVk(vkMessage(base, { peer, id: nextId++, text: 'Вернулся' }));
  await h.eventually(async () => h.vk.sent.some((m) => m.peerId === peer), 30_000, 'the held reply sent');
  expect(h.vk.sent.filter((m) => m.peerId === peer).map((m) => m.text)).toEqual(['Запланированный, подождёт ответа']);
}, 90_000);

it('WhatsApp: the template goes out at once, the held reply after the customer answers it', async () => {
  const waId = '79163600001';
  await h.postWa(textWebhook({ from: waId, name: 'Ольга', text: 'Вопрос позавчера', timestamp: Math.floor(Date.now() / 1000) - 25 * 3600 }));
  const task = await taskWith('Вопрос позавчера');
  const res = await hold(task.id, 'Ваш заказ готов, когда удобно забрать?', { template: { name: 'ticket_update', language: 'ru', parameters: ['Ольга'] } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.comment).toMatchObject({ deliveryStatus: 'held', text: 'Ваш заказ готов, когда удобно забрать?' });
  const toHer = () => h.graph.sent.filter((m) => m.waId === waId);
  await h.eventually(async () => toHer().length === 1, 10_000, 'the template');
  expect(toHer()[0]).toMatchObject({ type: 'template', template: { name: 'ticket_update', bodyParameters: ['Ольга'] } });

  await h.postWa(textWebhook({ from: waId, name: 'Ольга', text: 'Да, слушаю', timestamp: Math.floor(Date.now() / 1000) }));
  await h.eventually(async () => toHer().length === 2, 30_000, 'the held reply');
  expect(toHer()[1]).toMatchObject({ type: 'text', text: 'Ваш заказ готов, когда удобно забрать?' });
  await h.eventually(async () => (await statusOf(task.id, res.body.comment.id)) === 'sent', 10_000, 'the held reply sent');
}, 90_000);

it('the histories of this file (and the recorded ones) replay with the current workflow code', async () => {
  const { replayed, failures } = await replayAll(h, 'replies-that-wait-held-v6', (id) => id === h.waConversationId('79163600001'));
  expect(failures).toEqual([]);
  expect(replayed).toBeGreaterThan(3);
}, 120_000);
