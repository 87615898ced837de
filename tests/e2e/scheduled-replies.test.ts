/**
 * Issue 13, scheduled and undoable replies (VK): `sendAt` answers 202 `scheduled`; the conversation
 * keeps the timer and sends the reply when due; PATCH while it waits changes what is sent; a cancel
 * racing the timer is either `cancelled` (never sent) or 409 `already_sent` (sent) — never both;
 * the channel's `undoSendSeconds` makes every reply wait.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { replayAll } from '../support/replay.js';

let h: Harness;
let channelId: string;
let base: Record<string, any>;
let nextId = 1;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  channelId = await h.createVkChannel();
  base = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
});

/** The person writes (opening the reply window); returns their task. */
async function taskOf(peer: number, text = `Здравствуйте от ${peer}`): Promise<any> {
  await h.postVk(vkMessage(base, { peer, id: nextId++, text }));
  return h.eventually(async () => {
    const items = (await h.api('GET', '/api/tasks')).body.items as any[];
    for (const t of items) {
      const full = (await h.api('GET', `/api/tasks/${t.id}`)).body;
      if (full.comments.some((c: any) => c.text === text)) return full;
    }
    return undefined;
  }, 30_000, `the task of ${peer}`);
}

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const sentTo = (peer: number, text: string) => h.vk.sent.filter((m) => m.peerId === peer && m.text === text);
const commentOf = async (taskId: string, id: string) => (await h.api('GET', `/api/tasks/${taskId}`)).body.comments.find((c: any) => c.id === id);

describe('sendAt', () => {
  it('a scheduled reply answers 202 scheduled and goes out once when due, after the replies due before it', async () => {
    const peer = 512360501;
    const task = await taskOf(peer);
    const later = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Второй по сроку', notifyContact: true, sendAt: inSeconds(4) });
    const sooner = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Первый по сроку', notifyContact: true, sendAt: inSeconds(2) });
    expect(later.status, JSON.stringify(later.body)).toBe(202);
    expect(later.body.comment).toMatchObject({ deliveryStatus: 'scheduled', text: 'Второй по сроку', scheduledFor: expect.any(String) });
    expect(sooner.body.comment.deliveryStatus).toBe('scheduled');
    expect(sentTo(peer, 'Первый по сроку')).toHaveLength(0);

    await h.eventually(async () => sentTo(peer, 'Второй по сроку').length > 0, 30_000, 'the later reply sent');
    const texts = h.vk.sent.filter((m) => m.peerId === peer).map((m) => m.text);
    expect(texts).toEqual(['Первый по сроку', 'Второй по сроку']);
    const c = await h.eventually(async () => {
      const now = await commentOf(task.id, later.body.comment.id);
      return now.deliveryStatus === 'sent' ? now : undefined;
    }, 10_000, 'the comment sent');
    expect(c.scheduledFor).toBe(later.body.comment.scheduledFor);
  }, 90_000);

  it('sendAt must be a time at most 30 days ahead, on a reply to the contact', async () => {
    const task = await taskOf(512360502);
    const cases: Array<[unknown, string]> = [
      [{ text: 'x', notifyContact: true, sendAt: inSeconds(31 * 86_400) }, 'sendAt'],
      [{ text: 'x', notifyContact: true, sendAt: inSeconds(-3600) }, 'sendAt'],
      [{ text: 'x', notifyContact: true, sendAt: 'tomorrow' }, 'sendAt'],
      [{ text: 'x', notifyContact: false, sendAt: inSeconds(60) }, 'sendAt'],
      [{ text: 'x', notifyContact: true, whenWindowClosed: 'maybe' }, 'whenWindowClosed'],
    ];
    for (const [body, field] of cases) {
      const res = await h.api('POST', `/api/tasks/${task.id}/comments`, body);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.details.field).toBe(field);
    }
  });

  it('PATCH while the reply waits changes what is sent', async () => {
    const peer = 512360503;
    const task = await taskOf(peer);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Черновик', notifyContact: true, sendAt: inSeconds(3) });
    expect(res.status).toBe(202);
    const edited = await h.api('PATCH', `/api/comments/${res.body.comment.id}`, { text: 'Исправленный ответ' });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect(edited.body.comment).toMatchObject({ text: 'Исправленный ответ', deliveryStatus: 'scheduled' });
    await h.eventually(async () => sentTo(peer, 'Исправленный ответ').length === 1, 30_000, 'the edited reply sent');
    expect(h.vk.sent.filter((m) => m.peerId === peer)).toHaveLength(1);
    expect(h.vk.edits).toHaveLength(0);
  }, 60_000);

  it('a cancelled reply is never sent; an agent cannot cancel another employee\'s reply', async () => {
    const peer = 512360504;
    const task = await taskOf(peer);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Передумал', notifyContact: true, sendAt: inSeconds(2) });
    const agent = await h.api('POST', '/api/employees', { name: 'Агент Отмены', role: 'agent' });
    const refused = await h.api('POST', `/api/comments/${res.body.comment.id}/cancel`, undefined, agent.body.token);
    expect(refused.status).toBe(403);
    const cancelled = await h.api('POST', `/api/comments/${res.body.comment.id}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.comment.deliveryStatus).toBe('cancelled');
    // Again: still cancelled (nothing to undo twice).
    expect((await h.api('POST', `/api/comments/${res.body.comment.id}/cancel`)).body.comment.deliveryStatus).toBe('cancelled');
    // A later reply goes out; the cancelled one never did.
    await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'После отмены', notifyContact: true, sendAt: inSeconds(3) });
    await h.eventually(async () => sentTo(peer, 'После отмены').length === 1, 30_000, 'the next reply');
    expect(sentTo(peer, 'Передумал')).toHaveLength(0);
    // A reply that went out cannot be cancelled.
    const sent = (await h.api('GET', `/api/tasks/${task.id}`)).body.comments.find((c: any) => c.text === 'После отмены');
    const late = await h.api('POST', `/api/comments/${sent.id}/cancel`);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('already_sent');
  }, 60_000);
});

it('the cancel race, 50 times: cancelled and never sent, or sent and 409 already_sent — never both', async () => {
  const peer = 512360505;
  const task = await taskOf(peer);
  const outcomes = { cancelled: 0, already_sent: 0 };
  for (let i = 0; i < 50; i++) {
    const text = `Гонка ${i}`;
    // Due in about a second; the cancel is sent around the due time (from 200 ms before to 1 s after: a timer fires a little late).
    const due = Date.now() + 1000;
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text, notifyContact: true, sendAt: new Date(due).toISOString() });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now() - 200 + (i % 7) * 200)));
    const cancel = await h.api('POST', `/api/comments/${res.body.comment.id}/cancel`);
    expect([200, 409], JSON.stringify(cancel.body)).toContain(cancel.status);
    if (cancel.status === 409) {
      expect(cancel.body.error.code).toBe('already_sent');
      outcomes.already_sent++;
      await h.eventually(async () => sentTo(peer, text).length === 1, 20_000, `reply ${i} sent`);
    } else {
      expect(cancel.body.comment.deliveryStatus).toBe('cancelled');
      outcomes.cancelled++;
    }
    const expected = cancel.status === 409 ? 'sent' : 'cancelled';
    await h.eventually(async () => (await commentOf(task.id, res.body.comment.id)).deliveryStatus === expected, 10_000, `reply ${i} ${expected}`);
  }
  // Every cancelled reply stays unsent (their timers fired long ago); every sent one went once.
  await new Promise((r) => setTimeout(r, 1500));
  for (let i = 0; i < 50; i++) expect(sentTo(peer, `Гонка ${i}`).length).toBeLessThanOrEqual(1);
  expect(h.vk.sent.filter((m) => m.peerId === peer)).toHaveLength(outcomes.already_sent);
  console.log(`cancel race: ${outcomes.cancelled} cancelled, ${outcomes.already_sent} already sent`);
}, 300_000);

it('undoSendSeconds: every notifying reply waits that long and can be taken back', async () => {
  const peer = 512360506;
  const task = await taskOf(peer);
  const patched = await h.api('PATCH', `/api/channels/${channelId}`, { settings: { undoSendSeconds: 2 } });
  expect(patched.status, JSON.stringify(patched.body)).toBe(200);
  expect(patched.body.settings.undoSendSeconds).toBe(2);
  expect((await h.api('PATCH', `/api/channels/${channelId}`, { settings: { undoSendSeconds: 61 } })).status).toBe(400);
  try {
    const oops = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Не тому', notifyContact: true });
    const right = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Тому', notifyContact: true });
    expect(oops.status).toBe(202);
    expect(oops.body.comment.deliveryStatus).toBe('scheduled');
    expect(Date.parse(oops.body.comment.scheduledFor) - Date.now()).toBeGreaterThan(500);
    // Internal comments do not wait.
    expect((await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'заметка', notifyContact: false })).status).toBe(201);
    expect((await h.api('POST', `/api/comments/${oops.body.comment.id}/cancel`)).status).toBe(200);
    await h.eventually(async () => sentTo(peer, 'Тому').length === 1, 30_000, 'the reply after the undo period');
    expect(sentTo(peer, 'Не тому')).toHaveLength(0);
    await h.eventually(async () => (await commentOf(task.id, right.body.comment.id)).deliveryStatus === 'sent', 10_000, 'the reply sent');
  } finally {
    await h.api('PATCH', `/api/channels/${channelId}`, { settings: { undoSendSeconds: 0 } });
  }
}, 60_000);

it('the histories of this file (and the recorded ones) replay with the current workflow code', async () => {
  const { replayed, failures } = await replayAll(h, 'replies-that-wait-scheduled', (id) => id === h.conversationId(512360504));
  expect(failures).toEqual([]);
  expect(replayed).toBeGreaterThan(3);
}, 120_000);
