/**
 * Issue 10, "honest answers": an agent's call waits REPLY_WAIT_SECONDS for the conversation, then
 * says what is true — 202 with the pending comment (the send goes on and its outcome shows later),
 * 202 without it when the conversation is behind, 503 only when the conversation never took the
 * request — and a retry with the same Idempotency-Key never acts twice, on every route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashBody } from '../../api/idempotency.js';
import { mediaWebhook, textWebhook } from '../fakes/graph-api.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

const WAIT = 2; // REPLY_WAIT_SECONDS in this file

let h: Harness;
let vkChannel: string;
let waChannel: string;
let messageNew: Record<string, any>;

beforeAll(async () => {
  h = await startHarness({ REPLY_WAIT_SECONDS: String(WAIT), WHATSAPP_REPLY_WINDOW_SECONDS: '600' });
  await h.startWorkers();
  vkChannel = await h.createVkChannel();
  waChannel = await h.createWaChannel();
  messageNew = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
});

interface Answer {
  status: number;
  body: any;
  headers: Headers;
  ms: number;
}

/** An API call with an optional Idempotency-Key; `ms` is how long it took. */
async function call(method: string, path: string, body?: unknown, opts: { key?: string; token?: string } = {}): Promise<Answer> {
  const started = Date.now();
  const res = await h.api(method, path, body, opts.token, opts.key ? { 'idempotency-key': opts.key } : {});
  return { ...res, ms: Date.now() - started };
}

async function vkTask(peer: number, text: string): Promise<string> {
  expect((await h.postVk(vkMessage(messageNew, { peer, id: 1, text }))).text).toBe('ok');
  return h.eventually(async () => {
    const conv = await h.db.selectFrom('conversations').select('id').where('peer_id', '=', String(peer)).executeTakeFirst();
    if (!conv) return undefined;
    const task = await h.db.selectFrom('tasks').select('id').where('conversation_id', '=', conv.id).executeTakeFirst();
    return task?.id;
  }, 20_000, `the task of ${peer}`);
}

async function commentsOfTask(taskId: string): Promise<any[]> {
  return (await call('GET', `/api/tasks/${taskId}`)).body.comments;
}

const count = async (table: 'employees' | 'task_templates' | 'channels' | 'quick_replies' | 'bulk_sends' | 'comments' | 'tasks') =>
  Number((await h.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

describe('replies that outlast REPLY_WAIT_SECONDS', () => {
  it('first contact with the Graph API hanging: 202 within REPLY_WAIT_SECONDS, one task and one comment after retries, sent later', async () => {
    const phone = '79990020001';
    const body = { phone: `+${phone}`, template: { name: 'hello', language: 'ru' } };
    const path = `/api/channels/${waChannel}/conversations`;
    const key = 'first-contact-hang-1';
    const hold = h.graph.holdNext('messages');

    const first = call('POST', path, body, { key });
    await hold.arrived;
    // The first attempt is still waiting: a retry now is told so, and starts nothing.
    const concurrent = await call('POST', path, body, { key });
    expect(concurrent.status).toBe(409);
    expect(concurrent.body.error.code).toBe('request_in_progress');
    expect(concurrent.headers.get('retry-after')).toBe('1');

    const res = await first;
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.ms).toBeLessThan((WAIT + 3) * 1000);
    expect(res.body.comment.deliveryStatus).toBe('pending');
    expect(res.body).toMatchObject({ taskId: expect.any(String), contactId: expect.any(String), idempotencyKey: key });

    for (let i = 0; i < 3; i++) {
      const again = await call('POST', path, body, { key });
      expect(again.status, JSON.stringify(again.body)).toBe(202);
      expect(again.body.comment.id).toBe(res.body.comment.id);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    }
    const tasks = await h.db.selectFrom('tasks').select('id').where('contact_id', '=', res.body.contactId).execute();
    expect(tasks).toHaveLength(1);
    expect(await commentsOfTask(res.body.taskId)).toHaveLength(1);

    hold.release();
    await h.eventually(async () => (await commentsOfTask(res.body.taskId))[0].deliveryStatus === 'sent', 15_000, 'the template sent');
    const after = await call('POST', path, body, { key });
    expect(after.status, JSON.stringify(after.body)).toBe(201);
    expect(after.body).toMatchObject({ taskId: res.body.taskId, contactId: res.body.contactId, comment: { id: res.body.comment.id, deliveryStatus: 'sent' } });
    expect(h.graph.sent.filter((m) => m.waId === phone)).toHaveLength(1);
    expect(await commentsOfTask(res.body.taskId)).toHaveLength(1);
  });

  it('first contact refused by Meta after REPLY_WAIT_SECONDS: 202 pending, then the comment shows the failure and a retry tells it', async () => {
    const phone = '79990020002';
    const body = { phone: `+${phone}`, template: { name: 'hello', language: 'ru' } };
    const path = `/api/channels/${waChannel}/conversations`;
    h.graph.delayNext('messages', (WAIT + 1) * 1000);
    h.graph.failNext('messages', 131026);
    const res = await call('POST', path, body, { key: 'first-contact-fail-1' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.comment.deliveryStatus).toBe('pending');

    const failed = await h.eventually(async () => {
      const [c] = await commentsOfTask(res.body.taskId);
      return c.deliveryStatus === 'failed' ? c : undefined;
    }, 15_000, 'the failure on the comment');
    expect(failed.deliveryError.code).toBe(131026);
    const again = await call('POST', path, body, { key: 'first-contact-fail-1' });
    expect(again.status).toBe(502);
    expect(again.body.error.details.channelCode).toBe(131026);
    expect(await commentsOfTask(res.body.taskId)).toHaveLength(1);
  });

  it('a VK reply whose send hangs: 202 pending at once, then sent, visible on the task', async () => {
    const taskId = await vkTask(512349601, 'Когда доставка?');
    const hold = h.vk.holdNext('messages.send');
    const body = { text: 'Завтра до обеда', notifyContact: true };
    const res = await call('POST', `/api/tasks/${taskId}/comments`, body, { key: 'vk-reply-hang-01' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.ms).toBeLessThan((WAIT + 3) * 1000);
    expect(res.body.comment).toMatchObject({ text: 'Завтра до обеда', deliveryStatus: 'pending' });
    const onTask = (await commentsOfTask(taskId)).find((c) => c.id === res.body.comment.id);
    expect(onTask.deliveryStatus).toBe('pending');

    hold.release();
    await h.eventually(async () => (await commentsOfTask(taskId)).find((c) => c.id === res.body.comment.id)?.deliveryStatus === 'sent', 15_000, 'the reply sent');
    const again = await call('POST', `/api/tasks/${taskId}/comments`, body, { key: 'vk-reply-hang-01' });
    expect(again.status).toBe(201);
    expect(again.body.comment).toMatchObject({ id: res.body.comment.id, deliveryStatus: 'sent' });
    expect(h.vk.sent.filter((m) => m.text === 'Завтра до обеда')).toHaveLength(1);
  });

  it('an edit still being applied in VK: 202, applied once', async () => {
    const taskId = await vkTask(512349602, 'Можно поменять адрес?');
    const sent = await call('POST', `/api/tasks/${taskId}/comments`, { text: 'Да, пришлите новый', notifyContact: true });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const commentId = sent.body.comment.id as string;

    const hold = h.vk.holdNext('messages.edit');
    const edit = { text: 'Да, пришлите новый адрес сюда' };
    const res = await call('PATCH', `/api/comments/${commentId}`, edit, { key: 'vk-edit-hang-001' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.ms).toBeLessThan((WAIT + 3) * 1000);
    expect(res.body).toMatchObject({ comment: { id: commentId, text: 'Да, пришлите новый' }, idempotencyKey: 'vk-edit-hang-001' });
    const meanwhile = await call('PATCH', `/api/comments/${commentId}`, edit, { key: 'vk-edit-hang-001' });
    expect(meanwhile.status).toBe(202);

    hold.release();
    await h.eventually(async () => (await commentsOfTask(taskId)).find((c) => c.id === commentId)?.text === edit.text, 15_000, 'the edit applied');
    const again = await call('PATCH', `/api/comments/${commentId}`, edit, { key: 'vk-edit-hang-001' });
    expect(again.status).toBe(200);
    expect(again.body.comment.text).toBe(edit.text);
    expect(h.vk.edits.filter((e) => e.text === edit.text)).toHaveLength(1);
    const row = await h.db.selectFrom('comments').select('edits').where('id', '=', commentId).executeTakeFirstOrThrow();
    expect(row.edits).toHaveLength(1);
  });

  it('a conversation behind (earlier messages still being recorded): 202 without the comment after the extra wait, and the reply follows', async () => {
    const from = '79990020003';
    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    expect((await h.postWa(textWebhook({ from, name: 'Пётр', text: 'Давно писал', timestamp: hourAgo }))).status).toBe(200);
    const taskId = await h.eventually(async () => {
      const conv = await h.db.selectFrom('conversations').select('id').where('peer_id', '=', from).executeTakeFirst();
      return conv && (await h.db.selectFrom('tasks').select('id').where('conversation_id', '=', conv.id).executeTakeFirst())?.id;
    }, 20_000, 'the WhatsApp task');
    await h.eventually(async () => (await commentsOfTask(taskId)).length === 1, 10_000, 'the first message');

    // The reply window is closed; a new message would open it, but its photo is still being fetched.
    h.graph.addMedia('honest-photo-1', new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), 'image/jpeg');
    const hold = h.graph.holdNext('media-info');
    expect((await h.postWa(mediaWebhook({ from, kind: 'image', mediaId: 'honest-photo-1', mimeType: 'image/jpeg', caption: 'Вот фото' }))).status).toBe(200);
    await hold.arrived;

    const body = { text: 'Спасибо, видим фото', notifyContact: true };
    const res = await call('POST', `/api/tasks/${taskId}/comments`, body, { key: 'wa-behind-reply-1' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toEqual({ idempotencyKey: 'wa-behind-reply-1' });
    expect(res.ms).toBeGreaterThanOrEqual(2 * WAIT * 1000 - 200);
    expect(res.ms).toBeLessThan((2 * WAIT + 3) * 1000);

    hold.release();
    await h.eventually(async () => (await commentsOfTask(taskId)).some((c) => c.text === body.text && c.deliveryStatus === 'sent'), 20_000, 'the reply sent');
    const again = await call('POST', `/api/tasks/${taskId}/comments`, body, { key: 'wa-behind-reply-1' });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.comment).toMatchObject({ text: body.text, deliveryStatus: 'sent' });
    expect((await commentsOfTask(taskId)).filter((c) => c.text === body.text)).toHaveLength(1);
    expect(h.graph.sent.filter((m) => m.text === body.text)).toHaveLength(1);
  });
});

describe('every POST, PATCH and DELETE retried with the same Idempotency-Key acts once', () => {
  it('employees, task templates, channels, quick replies, bulk sends', async () => {
    const twice = async (method: string, path: string, body: unknown, key: string) => {
      const a = await call(method, path, body, { key });
      const b = await call(method, path, body, { key });
      expect(a.status, JSON.stringify(a.body)).toBeLessThan(300);
      expect(b.status).toBe(a.status);
      expect(b.body).toEqual(a.body);
      expect(b.headers.get('idempotent-replayed')).toBe('true');
      expect(b.headers.get('idempotency-key')).toBe(key);
      return a;
    };

    let before = await count('employees');
    const emp = await twice('POST', '/api/employees', { name: 'Ирина', role: 'agent' }, 'emp-create-0001');
    expect(emp.body.token).toMatch(/^tw_/);
    expect(await count('employees')).toBe(before + 1);
    // The replayed token still works (it is the one stored as a hash).
    expect((await call('GET', '/api/tasks', undefined, { token: emp.body.token })).status).toBe(200);

    before = await count('task_templates');
    await twice('POST', '/api/task-templates', { name: 'Шаблон', creator: { type: 'channelOwner' }, assigneeIds: [], customFields: [] }, 'tpl-create-0001');
    expect(await count('task_templates')).toBe(before + 1);

    before = await count('channels');
    const ch = await twice(
      'POST',
      '/api/channels',
      { kind: 'vk', name: 'Второе сообщество', groupId: 218000999, accessToken: 't', confirmationCode: 'c0nf', secret: 's3cret' },
      'chan-create-0001',
    );
    expect(await count('channels')).toBe(before + 1);
    const patched = await twice('PATCH', `/api/channels/${ch.body.id}`, { name: 'Переименовано' }, 'chan-patch-00001');
    // The retry changed nothing: not even the time of the change.
    expect((await call('GET', `/api/channels/${ch.body.id}`)).body.updatedAt).toBe(patched.body.updatedAt);

    before = await count('quick_replies');
    const qr = await twice('POST', '/api/quick-replies', { title: 'Привет', text: 'Здравствуйте, {{name}}!' }, 'qr-create-00001');
    expect(await count('quick_replies')).toBe(before + 1);
    await twice('PATCH', `/api/quick-replies/${qr.body.id}`, { text: 'Добрый день, {{name}}!' }, 'qr-patch-000001');
    const del = await twice('DELETE', `/api/quick-replies/${qr.body.id}`, undefined, 'qr-delete-00001');
    expect(del.status).toBe(204);
    // Without the key, the same delete is a new request: the quick reply is gone.
    expect((await call('DELETE', `/api/quick-replies/${qr.body.id}`)).status).toBe(404);

    before = await count('bulk_sends');
    await twice('POST', `/api/channels/${vkChannel}/bulk-sends`, { recipients: [{ vkUserId: 512349690 }], text: 'Скидки до воскресенья' }, 'bulk-send-00001');
    expect(await count('bulk_sends')).toBe(before + 1);
    await h.eventually(async () => h.vk.sent.some((m) => m.text === 'Скидки до воскресенья'), 20_000, 'the bulk message');
    expect(h.vk.sent.filter((m) => m.text === 'Скидки до воскресенья')).toHaveLength(1);
  });

  it('comments, edits, complete and reopen, first contact', async () => {
    const taskId = await vkTask(512349603, 'Есть вопрос');
    const comments = async () => (await commentsOfTask(taskId)).length;

    const before = await comments();
    const a = await call('POST', `/api/tasks/${taskId}/comments`, { text: 'Заметка' }, { key: 'note-create-0001' });
    const b = await call('POST', `/api/tasks/${taskId}/comments`, { text: 'Заметка' }, { key: 'note-create-0001' });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.comment.id).toBe(a.body.comment.id);
    expect(await comments()).toBe(before + 1);

    const e1 = await call('PATCH', `/api/comments/${a.body.comment.id}`, { text: 'Заметка, исправлено' }, { key: 'note-edit-00001' });
    const e2 = await call('PATCH', `/api/comments/${a.body.comment.id}`, { text: 'Заметка, исправлено' }, { key: 'note-edit-00001' });
    expect([e1.status, e2.status]).toEqual([200, 200]);
    const row = await h.db.selectFrom('comments').select('edits').where('id', '=', a.body.comment.id).executeTakeFirstOrThrow();
    expect(row.edits).toHaveLength(1);

    const done1 = await call('POST', `/api/tasks/${taskId}/complete`, undefined, { key: 'task-complete-01' });
    expect(done1.status, JSON.stringify(done1.body)).toBe(200);
    const reopened = await call('POST', `/api/tasks/${taskId}/reopen`, undefined, { key: 'task-reopen-0001' });
    expect(reopened.body.task.status).toBe('open');
    // A late retry of the completion does not complete the reopened task again.
    const done2 = await call('POST', `/api/tasks/${taskId}/complete`, undefined, { key: 'task-complete-01' });
    expect(done2.status).toBe(200);
    expect(done2.headers.get('idempotent-replayed')).toBe('true');
    expect((await call('GET', `/api/tasks/${taskId}`)).body.status).toBe('open');

    const tasksBefore = await count('tasks');
    const start = { phone: '+79990020004', template: { name: 'hello', language: 'ru' } };
    const s1 = await call('POST', `/api/channels/${waChannel}/conversations`, start, { key: 'start-conv-00001' });
    const s2 = await call('POST', `/api/channels/${waChannel}/conversations`, start, { key: 'start-conv-00001' });
    expect([s1.status, s2.status]).toEqual([201, 201]);
    expect(s2.body).toEqual(s1.body);
    expect(await count('tasks')).toBe(tasksBefore + 1);
    expect(h.graph.sent.filter((m) => m.waId === '79990020004')).toHaveLength(1);
  });

  it('the same key with another body or route is 422; keys are per employee; a malformed key is 400', async () => {
    const first = await call('POST', '/api/quick-replies', { title: 'Раз', text: 'один' }, { key: 'reused-key-0001' });
    expect(first.status).toBe(201);
    const before = await count('quick_replies');
    const otherBody = await call('POST', '/api/quick-replies', { title: 'Два', text: 'два' }, { key: 'reused-key-0001' });
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error.code).toBe('idempotency_key_reused');
    const otherRoute = await call('POST', '/api/task-templates', { name: 'x', creator: { type: 'channelOwner' } }, { key: 'reused-key-0001' });
    expect(otherRoute.status).toBe(422);
    expect(await count('quick_replies')).toBe(before);
    // The same body with its keys in another order is the same request.
    const reordered = await call('POST', '/api/quick-replies', { text: 'один', title: 'Раз' }, { key: 'reused-key-0001' });
    expect(reordered.status).toBe(201);
    expect(reordered.body.id).toBe(first.body.id);

    const agent = (await call('POST', '/api/employees', { name: 'Другой агент', role: 'agent' })).body;
    const theirs = await call('POST', '/api/quick-replies', { title: 'Два', text: 'два' }, { key: 'reused-key-0001', token: agent.token });
    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(first.body.id);

    const bad = await call('POST', '/api/quick-replies', { title: 'x', text: 'y' }, { key: 'short' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('Idempotency-Key');
  });

  it('without a key, the answer gives a generated one to retry with', async () => {
    const res = await call('POST', '/api/quick-replies', { title: 'Без ключа', text: 'x' });
    const key = res.headers.get('idempotency-key')!;
    expect(key).toMatch(/^auto-/);
    const again = await call('POST', '/api/quick-replies', { title: 'Без ключа', text: 'x' }, { key });
    expect(again.body.id).toBe(res.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a request whose first attempt died is taken over after its lease; a live one is not; old keys are forgotten', async () => {
    const owner = await h.db.selectFrom('employees').select('id').where('role', '=', 'owner').executeTakeFirstOrThrow();
    const body = { title: 'После сбоя', text: 'x' };
    const row = (key: string, lockedUntil: Date) => ({
      employee_id: owner.id,
      key,
      method: 'POST',
      path: '/api/quick-replies',
      body_hash: hashBody(JSON.stringify(body)),
      state: 'running' as const,
      attempt: 'an-attempt-that-died',
      locked_until: lockedUntil,
    });
    await h.db.insertInto('idempotent_requests').values(row('died-attempt-01', new Date(Date.now() - 1000))).execute();
    await h.db.insertInto('idempotent_requests').values(row('live-attempt-01', new Date(Date.now() + 60_000))).execute();
    expect((await call('POST', '/api/quick-replies', body, { key: 'died-attempt-01' })).status).toBe(201);
    const live = await call('POST', '/api/quick-replies', body, { key: 'live-attempt-01' });
    expect(live.status).toBe(409);
    expect(live.body.error.code).toBe('request_in_progress');

    // After the retention the key starts over (another body is a new request, not a 422).
    const old = await call('POST', '/api/quick-replies', { title: 'Старый', text: 'x' }, { key: 'old-key-000001' });
    await h.db.updateTable('idempotent_requests').set({ created_at: new Date(Date.now() - 2 * 86_400_000) }).where('key', '=', 'old-key-000001').execute();
    const fresh = await call('POST', '/api/quick-replies', { title: 'Новый', text: 'x' }, { key: 'old-key-000001' });
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(old.body.id);
  });
});

// Last in this file: it stops the workers.
describe('a conversation that does not take the request in time', () => {
  it('is a 503 (nothing is known to be done); a retry with the given key acts once', async () => {
    const taskId = await vkTask(512349604, 'Ответьте, пожалуйста');
    await h.stopWorkers();
    const body = { text: 'Отвечаем после перезапуска', notifyContact: true };
    const res = await call('POST', `/api/tasks/${taskId}/comments`, body);
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.error.details.reason).toBe('not_accepted');
    const key = res.headers.get('idempotency-key')!;
    expect(key).toMatch(/^auto-/);
    expect((await commentsOfTask(taskId)).some((c) => c.text === body.text)).toBe(false);

    await h.startWorkers();
    // As a client does: retried with the key while the answer is 503 (a restarted worker may take
    // longer than the wait to pick the conversation up on a loaded machine); every retry is the same request.
    const again = await h.eventually(async () => {
      const r = await call('POST', `/api/tasks/${taskId}/comments`, body, { key });
      return r.status === 503 ? undefined : r;
    }, 60_000, 'the retried reply taken');
    expect([201, 202], JSON.stringify(again.body)).toContain(again.status);
    await h.eventually(async () => (await commentsOfTask(taskId)).some((c) => c.text === body.text && c.deliveryStatus === 'sent'), 20_000, 'the reply sent');
    expect((await commentsOfTask(taskId)).filter((c) => c.text === body.text)).toHaveLength(1);
    expect(h.vk.sent.filter((m) => m.text === body.text)).toHaveLength(1);
  });
});
