/**
 * Temporal down: the webhook answers 503 (VK retries later) and nothing is half-done; once it
 * is back, VK's redeliveries land and every message is present exactly once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tgUpdates } from '../fakes/telegram-api.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { ownTemporal, type OwnTemporal } from '../support/own-temporal.js';

let h: Harness;
let server: OwnTemporal;
const startServer = () => server.start();

beforeAll(async () => {
  server = await ownTemporal();
  h = await startHarness({ TEMPORAL_ADDRESS: server.address });
  await h.startWorkers();
  await h.createVkChannel();
});

afterAll(async () => {
  await h?.close();
  await server?.close();
});

it('answers 503 while Temporal is down, and after it is back every message is present once', async () => {
  const base = await readFixture('vk/message_new.text.json');
  const first = vkMessage(base, { peer: 512349701, id: 11, text: 'До сбоя' });
  const second = vkMessage(base, { peer: 512349701, id: 12, text: 'Во время сбоя' });
  expect(await h.postVk(first)).toEqual({ status: 200, text: 'ok' });
  const task = await h.eventually(async () => (await h.api('GET', '/api/tasks')).body.items[0], 30_000, 'task');

  await h.stopWorkers();
  await server.stop();
  const during = await h.postVk(second);
  expect(during.status).toBe(503);
  expect(JSON.parse(during.text).error.code).toBe('unavailable');

  await startServer();
  await h.startWorkers();
  // VK redelivers the refused event, and (at-least-once) the accepted one too.
  expect(await h.postVk(second)).toEqual({ status: 200, text: 'ok' });
  expect(await h.postVk(first)).toEqual({ status: 200, text: 'ok' });
  const texts = await h.eventually(async () => {
    const t = await h.api('GET', `/api/tasks/${task.id}`);
    const list = t.body.comments.map((c: any) => c.text);
    return list.includes('Во время сбоя') ? list : undefined;
  }, 30_000, 'the message refused during the outage');
  expect(texts).toEqual(['До сбоя', 'Во время сбоя']);
  // A late duplicate cannot slip in afterwards either: once a later message is in, it is not.
  expect(await h.postVk(second)).toEqual({ status: 200, text: 'ok' });
  expect(await h.postVk(vkMessage(base, { peer: 512349701, id: 13, text: 'После сбоя' }))).toEqual({ status: 200, text: 'ok' });
  const after = await h.eventually(async () => {
    const list = (await h.api('GET', `/api/tasks/${task.id}`)).body.comments.map((c: any) => c.text);
    return list.includes('После сбоя') ? list : undefined;
  }, 30_000, 'the message after the outage');
  expect(after).toEqual(['До сбоя', 'Во время сбоя', 'После сбоя']);
}, 120_000);

it('a held broadcast survives a worker restart and a Temporal restart, and is attached once on the reply', async () => {
  const base = await readFixture('vk/message_new.text.json');
  const reply = await readFixture('vk/message_reply.json');
  const peers = [512350001, 512350002, 512350003, 512350004];
  const text = 'Скидка 20% на второй товар до конца недели!';
  const date = Math.floor(Date.now() / 1000);
  for (const [i, peer] of peers.entries()) {
    const body = structuredClone(reply);
    body.event_id = `outage-broadcast-${peer}`;
    Object.assign(body.object, { peer_id: peer, id: 9100 + i, conversation_message_id: 9100 + i, text, date, random_id: 1_950_000_000 + i });
    expect(await h.postVk(body)).toEqual({ status: 200, text: 'ok' });
  }
  const held = async () =>
    (await h.db.selectFrom('broadcasts').select('status').where('text', '=', text).execute()).filter((r) => r.status === 'held').length;
  await h.eventually(async () => ((await held()) === 4 ? true : undefined), 30_000, 'four held broadcasts');

  await h.stopWorkers();
  await h.startWorkers();
  await h.stopWorkers();
  await server.stop();
  await startServer();
  await h.startWorkers();

  expect(await h.postVk(vkMessage(base, { peer: 512350003, id: 9200, text: 'Какая скидка на обувь?', date: date + 1 }))).toEqual({ status: 200, text: 'ok' });
  const contactId = await h.eventually(async () => {
    const c = await h.db.selectFrom('conversations').select('contact_id').where('peer_id', '=', '512350003').executeTakeFirst();
    return c?.contact_id;
  }, 30_000, 'contact');
  const comments = await h.eventually(async () => {
    const tasks = (await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items as any[];
    if (!tasks.length) return undefined;
    const t = await h.api('GET', `/api/tasks/${tasks[0].id}`);
    return t.body.comments.length >= 2 ? t.body.comments : undefined;
  }, 30_000, 'broadcast and reply');
  expect(comments.map((c: any) => [c.text, c.broadcast ?? false])).toEqual([
    [text, true],
    ['Какая скидка на обувь?', false],
  ]);
  // The other three still hold, in running workflows that came through both restarts.
  expect(await held()).toBe(3);
  for (const p of [512350001, 512350002, 512350004]) {
    const d = await h.client.workflow.getHandle(h.conversationId(p)).describe();
    expect(d.status.name).toBe('RUNNING');
  }
}, 120_000);

it('Telegram: an update refused while Temporal is down is taken when Telegram delivers it again, once, and replies go out after', async () => {
  const channelId = await h.createTgChannel();
  const person = { id: 512350201, first_name: 'Тимур' };
  const first = tgUpdates.text(person, 'Telegram до сбоя');
  const second = tgUpdates.text(person, 'Telegram во время сбоя');
  expect((await h.postTg(channelId, first)).status).toBe(200);
  const contactId = await h.eventually(async () => {
    const c = await h.db.selectFrom('conversations').select('contact_id').where('peer_id', '=', String(person.id)).executeTakeFirst();
    return c?.contact_id;
  }, 30_000, 'contact');
  const task = await h.eventually(async () => (await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items[0], 30_000, 'task');

  await h.stopWorkers();
  await server.stop();
  const during = await h.postTg(channelId, second);
  expect(during.status).toBe(503);
  // Telegram retries a non-2xx update; the reply cannot be taken either, and says so.
  const replyDuring = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Ответ во время сбоя', notifyContact: true });
  expect(replyDuring.status).toBe(503);

  await startServer();
  await h.startWorkers();
  expect((await h.postTg(channelId, second)).status).toBe(200);
  expect((await h.postTg(channelId, first)).status).toBe(200);
  const texts = await h.eventually(async () => {
    const list = (await h.api('GET', `/api/tasks/${task.id}`)).body.comments.map((c: any) => c.text);
    return list.includes('Telegram во время сбоя') ? list : undefined;
  }, 30_000, 'the update refused during the outage');
  expect(texts).toEqual(['Telegram до сбоя', 'Telegram во время сбоя']);
  const reply = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Ответ после сбоя', notifyContact: true });
  expect(reply.status).toBe(201);
  expect(h.tg.sentTo(person.id).map((m) => m.text)).toEqual(['Ответ после сбоя']);
}, 120_000);
