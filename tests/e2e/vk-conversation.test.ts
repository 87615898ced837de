/**
 * VK private messages end to end: webhook → conversation workflow → task and comments; agent
 * replies → fake VK API. Real Temporal dev server, real PostgreSQL, loopback fake VK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationStateQuery } from '../../workflows/conversation.js';
import { readFixture, startHarness, vkMessage, VK_SECRET, withEventId, type Harness } from '../support/harness.js';

let h: Harness;
let channelId: string;
let agentToken: string;
let agentId: string;
let messageNew: Record<string, any>;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  const agent = await h.api('POST', '/api/employees', { name: 'Агент Ирина', role: 'agent' });
  agentToken = agent.body.token;
  agentId = agent.body.id;
  const template = await h.api('POST', '/api/task-templates', {
    name: 'Обращение из VK',
    creator: { type: 'channelOwner' },
    assigneeIds: [agentId],
    customFields: [{ name: 'Номер заказа', type: 'text' }],
  });
  expect(template.status).toBe(201);
  channelId = await h.createVkChannel({ taskTemplateId: template.body.id, historyMessages: 5 });
  messageNew = await readFixture('vk/message_new.text.json');
  // The fixture was written months ago; VK's reply window counts from the message date.
  messageNew.object.message.date = Math.floor(Date.now() / 1000);
});

afterAll(async () => {
  await h?.close();
});

async function tasksOf(contactId: string) {
  const res = await h.api('GET', `/api/tasks?contactId=${contactId}`);
  return res.body.items as any[];
}

async function taskWithComments(taskId: string, n: number) {
  return h.eventually(async () => {
    const t = await h.api('GET', `/api/tasks/${taskId}`);
    return t.body.comments?.length >= n ? t.body : undefined;
  }, 20_000, `${n} comments in task ${taskId}`);
}

async function contactIdOfPeer(peer: number): Promise<string> {
  return h.eventually(async () => {
    const row = await h.db.selectFrom('contact_identities').select('contact_id').where('external_id', '=', String(peer)).executeTakeFirst();
    return row?.contact_id;
  }, 20_000, `contact of ${peer}`);
}

async function firstTaskOfPeer(peer: number) {
  const contactId = await contactIdOfPeer(peer);
  return h.eventually(async () => (await tasksOf(contactId))[0], 20_000, `task of ${peer}`);
}

describe('VK private messages become tasks', () => {
  it('answers the confirmation handshake with the channel confirmation string', async () => {
    const res = await h.postVk(await readFixture('vk/confirmation.json'));
    expect(res).toEqual({ status: 200, text: '5d2a9c41' });
  });

  it('first message creates a contact (name from users.get) and a task; the contact is the creator; template assignees', async () => {
    const res = await h.postVk(messageNew);
    expect(res).toEqual({ status: 200, text: 'ok' });

    const task = await firstTaskOfPeer(512340001);
    // Recorded first, with the placeholder name if need be; the name from users.get follows.
    const contact = await h.eventually(async () => {
      const c = await h.api('GET', `/api/contacts/${task.contactId}`);
      return c.body.name === 'Анна Смирнова' ? c : undefined;
    }, 20_000, 'the name from users.get');
    expect((await h.api('GET', `/api/tasks/${task.id}`)).body.title).toMatch(/^Анна Смирнова — /);
    expect(contact.body.identities).toEqual([{ channelKind: 'vk', externalId: '512340001' }]);
    expect(task.kind).toBe('conversation');
    expect(task.status).toBe('open');
    expect(task.channelId).toBe(channelId);
    expect(task.creator).toEqual({ type: 'contact', id: task.contactId });
    expect(task.assigneeIds).toEqual([agentId]);
    expect(task.customFields).toEqual({ 'Номер заказа': null });

    const full = await taskWithComments(task.id, 1);
    expect(full.comments).toHaveLength(1);
    expect(full.comments[0]).toMatchObject({
      direction: 'inbound',
      author: { type: 'contact', id: task.contactId },
      text: messageNew.object.message.text,
      notifyContact: false,
    });
    expect(h.vk.callCount('users.get')).toBe(1);
  });

  it('the same event delivered three times is one comment', async () => {
    const body = vkMessage(messageNew, { peer: 512340003, id: 5001, text: 'Добрый день, вопрос по доставке' });
    for (let i = 0; i < 3; i++) expect((await h.postVk(body)).status).toBe(200);
    // And the same message under a new event id (VK may wrap a retry in a new event).
    expect((await h.postVk(withEventId(body, 'again'))).status).toBe(200);
    const follow = vkMessage(messageNew, { peer: 512340003, id: 5002, text: 'И ещё: можно ли оплатить картой?' });
    await h.postVk(follow);
    const task = await firstTaskOfPeer(512340003);
    const full = await taskWithComments(task.id, 2);
    await expect.poll(async () => (await h.api('GET', `/api/tasks/${task.id}`)).body.comments.map((c: any) => c.text)).toEqual([
      'Добрый день, вопрос по доставке',
      'И ещё: можно ли оплатить картой?',
    ]);
    expect(full.comments.length).toBe(2);
  });

  it('a second message goes into the same open task', async () => {
    const peer = 512340010;
    await h.postVk(vkMessage(messageNew, { peer, id: 6001, text: 'Здравствуйте' }));
    const task = await firstTaskOfPeer(peer);
    await h.postVk(vkMessage(messageNew, { peer, id: 6002, text: 'Есть диван в сером цвете?' }));
    const full = await taskWithComments(task.id, 2);
    expect(full.comments.map((c: any) => c.text)).toEqual(['Здравствуйте', 'Есть диван в сером цвете?']);
    expect(await tasksOf(task.contactId)).toHaveLength(1);
  });

  it('photos and documents are downloaded and attached byte for byte', async () => {
    const body = await readFixture('vk/message_new.photo_doc.json');
    const photoBytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]);
    const pdfBytes = new TextEncoder().encode('%PDF-1.4 накладная 45821');
    const msg = body.object.message;
    msg.attachments[0].photo.orig_photo.url = h.vk.addFile('/impg/orig.jpg', photoBytes, 'image/jpeg');
    msg.attachments[1].doc.url = h.vk.addFile('/doc/nakladnaya.pdf', pdfBytes, 'application/pdf');
    expect((await h.postVk(body)).status).toBe(200);
    const task = await firstTaskOfPeer(512340002);
    const full = await taskWithComments(task.id, 1);
    const atts = full.comments[0].attachments;
    expect(atts.map((a: any) => a.mimeType)).toEqual(['image/jpeg', 'application/pdf']);
    expect(atts[1].filename).toBe('Накладная_45821.pdf');
    const res = await h.app.request(atts[1].url, { headers: { authorization: `Bearer ${agentToken}` } });
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(pdfBytes);
    const photo = await h.app.request(atts[0].url, { headers: { authorization: `Bearer ${agentToken}` } });
    expect(new Uint8Array(await photo.arrayBuffer())).toEqual(photoBytes);
  });

  it('the customer edits a message: the comment text changes and it is marked edited', async () => {
    const edit = await readFixture('vk/message_edit.json');
    edit.object.date = messageNew.object.message.date;
    expect((await h.postVk(edit)).status).toBe(200);
    const task = await firstTaskOfPeer(512340001);
    await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      const c = t.body.comments.find((x: any) => x.text === edit.object.text);
      return c?.editedAt ? c : undefined;
    }, 20_000, 'edited comment');
  });
});

describe('agent replies', () => {
  it('an internal comment never reaches VK', async () => {
    const task = await firstTaskOfPeer(512340001);
    const sendsBefore = h.vk.callCount('messages.send');
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Проверить склад в Казани' }, agentToken);
    expect(res.status).toBe(201);
    expect(res.body.comment).toMatchObject({ direction: 'internal', notifyContact: false, author: { type: 'employee', id: agentId } });
    expect(res.body.comment.deliveryStatus).toBeUndefined();
    expect(h.vk.callCount('messages.send')).toBe(sendsBefore);
  });

  it('notifyContact sends the reply once through messages.send and shows it as sent', async () => {
    const task = await firstTaskOfPeer(512340001);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Анна, заказ передан курьеру.', notifyContact: true }, agentToken);
    expect(res.status).toBe(201);
    expect(res.body.comment).toMatchObject({ direction: 'outbound', deliveryStatus: 'sent', notifyContact: true });
    const sent = h.vk.sent.filter((m) => m.text === 'Анна, заказ передан курьеру.');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.peerId).toBe(512340001);
    expect(sent[0]!.randomId).toBeGreaterThan(0);

    // VK reports our own send back as message_reply: it must not become a second comment.
    const echo = await readFixture('vk/message_reply.json');
    echo.event_id = 'echo-of-our-send-0000000000000000000001';
    Object.assign(echo.object, { id: sent[0]!.messageId, random_id: sent[0]!.randomId, text: sent[0]!.text });
    expect((await h.postVk(echo)).status).toBe(200);
    const marker = vkMessage(messageNew, { peer: 512340001, id: 7001, text: 'Спасибо!' });
    await h.postVk(marker);
    const full = await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      return t.body.comments.some((c: any) => c.text === 'Спасибо!') ? t.body : undefined;
    });
    expect(full.comments.filter((c: any) => c.text === 'Анна, заказ передан курьеру.')).toHaveLength(1);
  });

  it('a message sent from the VK interface appears as an observed outgoing message', async () => {
    const reply = await readFixture('vk/message_reply.json');
    expect((await h.postVk(reply)).status).toBe(200);
    const task = await firstTaskOfPeer(512340001);
    const c = await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      return t.body.comments.find((x: any) => x.text === reply.object.text);
    });
    expect(c).toMatchObject({ direction: 'outbound', author: { type: 'channel', id: channelId } });
  });

  it('files attached to a reply are uploaded to VK and sent with it', async () => {
    const task = await firstTaskOfPeer(512340001);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 9, 9]);
    const pdf = new TextEncoder().encode('%PDF-1.4 счёт');
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, {
      text: 'Счёт и фото упаковки',
      notifyContact: true,
      attachments: [
        { filename: 'упаковка.png', mimeType: 'image/png', contentBase64: Buffer.from(png).toString('base64') },
        { filename: 'Счёт_45821.pdf', mimeType: 'application/pdf', contentBase64: Buffer.from(pdf).toString('base64') },
      ],
    }, agentToken);
    expect(res.status).toBe(201);
    expect(res.body.comment.attachments.map((a: any) => a.filename)).toEqual(['упаковка.png', 'Счёт_45821.pdf']);
    const uploads = h.vk.uploads.filter((u) => u.peerId === 512340001);
    expect(uploads.map((u) => u.kind)).toEqual(['photo', 'doc']);
    expect(uploads[0]!.bytes).toEqual(png);
    expect(uploads[1]!.bytes).toEqual(pdf);
    const sent = h.vk.sent.find((m) => m.text === 'Счёт и фото упаковки');
    expect(sent?.attachments).toHaveLength(2);
  });

  it('editing a sent reply edits the message in VK', async () => {
    const task = await firstTaskOfPeer(512340001);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Курьер будет с 12:00 до 16:00', notifyContact: true }, agentToken);
    const sent = h.vk.sent.find((m) => m.text === 'Курьер будет с 12:00 до 16:00')!;
    const edit = await h.api('PATCH', `/api/comments/${res.body.comment.id}`, { text: 'Курьер будет с 14:00 до 18:00' }, agentToken);
    expect(edit.status).toBe(200);
    expect(edit.body.comment.text).toBe('Курьер будет с 14:00 до 18:00');
    expect(edit.body.comment.editedAt).toBeDefined();
    expect(h.vk.edits).toContainEqual(expect.objectContaining({ peerId: 512340001, messageId: sent.messageId, text: 'Курьер будет с 14:00 до 18:00' }));
  });

  it('VK refusing permanently is a 502 with its code, and the comment shows the failure', async () => {
    const task = await firstTaskOfPeer(512340010);
    h.vk.setPeerError(512340010, 902);
    try {
      const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Ответ', notifyContact: true }, agentToken);
      expect(res.status).toBe(502);
      expect(res.body.error.details.channelCode).toBe(902);
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      const c = t.body.comments.find((x: any) => x.text === 'Ответ');
      expect(c).toMatchObject({ deliveryStatus: 'failed', deliveryError: { code: 902 } });
    } finally {
      h.vk.setPeerError(512340010, null);
    }
  });

  it('VK rate limits are retried and the reply still goes out once', async () => {
    const task = await firstTaskOfPeer(512340010);
    h.vk.failNext('messages.send', 6, 2);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'После лимита', notifyContact: true }, agentToken);
    expect(res.status).toBe(201);
    expect(h.vk.sent.filter((m) => m.text === 'После лимита')).toHaveLength(1);
  });

  it('VK error 950 (reply timed out) answers 422 reply_window_closed', async () => {
    const task = await firstTaskOfPeer(512340010);
    h.vk.setPeerError(512340010, 950);
    try {
      const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Поздно', notifyContact: true }, agentToken);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('reply_window_closed');
    } finally {
      h.vk.setPeerError(512340010, null);
    }
  });

  it('outside the 10-day window a reply is refused with 422 naming when it closed, and nothing is sent', async () => {
    const peer = 512340040;
    const wroteAt = Math.floor(Date.now() / 1000) - 11 * 86_400;
    await h.postVk(vkMessage(messageNew, { peer, id: 1, text: 'Старое сообщение', date: wroteAt }));
    const task = await firstTaskOfPeer(peer);
    await taskWithComments(task.id, 1);
    const sendsBefore = h.vk.callCount('messages.send');
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Слишком поздно', notifyContact: true }, agentToken);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('reply_window_closed');
    expect(res.body.error.details.closedAt).toBe(new Date((wroteAt + 864_000) * 1000).toISOString());
    expect(res.body.error.message).toMatch(/closed at/);
    expect(h.vk.callCount('messages.send')).toBe(sendsBefore);
    const t = await h.api('GET', `/api/tasks/${task.id}`);
    expect(t.body.comments.map((c: any) => c.text)).toEqual(['Старое сообщение']);

    // Nine days after a message the window is still open.
    const peer2 = 512340041;
    await h.postVk(vkMessage(messageNew, { peer: peer2, id: 2, text: 'Девять дней назад', date: Math.floor(Date.now() / 1000) - 9 * 86_400 }));
    const task2 = await firstTaskOfPeer(peer2);
    await taskWithComments(task2.id, 1);
    expect((await h.api('POST', `/api/tasks/${task2.id}/comments`, { text: 'Успели', notifyContact: true }, agentToken)).status).toBe(201);
  });

  it('a quick reply fills its placeholders from the contact and the variables', async () => {
    const qr = await h.api('POST', '/api/quick-replies', { title: 'Готов', text: '{{name}}, ваш заказ {{order}} готов к выдаче.' }, agentToken);
    expect(qr.status).toBe(201);
    const task = await firstTaskOfPeer(512340001);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { quickReplyId: qr.body.id, variables: { order: '45821' }, notifyContact: true }, agentToken);
    expect(res.status).toBe(201);
    expect(res.body.comment.text).toBe('Анна Смирнова, ваш заказ 45821 готов к выдаче.');
    expect(h.vk.sent.some((m) => m.text === 'Анна Смирнова, ваш заказ 45821 готов к выдаче.')).toBe(true);
  });

  it('the same Idempotency-Key never sends twice', async () => {
    const task = await firstTaskOfPeer(512340001);
    const send = () =>
      h.app.request(`/api/tasks/${task.id}/comments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json', 'idempotency-key': 'retry-key-0001' },
        body: JSON.stringify({ text: 'Один раз', notifyContact: true }),
      });
    const [a, b] = [await send(), await send()];
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(((await a.json()) as any).comment.id).toBe(((await b.json()) as any).comment.id);
    expect(h.vk.sent.filter((m) => m.text === 'Один раз')).toHaveLength(1);
  });

  it('the conversation workflow answers the state query', async () => {
    const state = await h.client.workflow.getHandle(h.conversationId(512340001)).query(conversationStateQuery);
    expect(state.peerId).toBe('512340001');
    expect(state.displayName).toBe('Анна Смирнова');
    expect(state.replyWindowClosesAt).toBeDefined();
  });
});

describe('completed tasks (rule 7) and history (rule 8)', () => {
  it('a new message reopens the completed task by default', async () => {
    const peer = 512340020;
    await h.postVk(vkMessage(messageNew, { peer, id: 8001, text: 'Первый вопрос' }));
    const task = await firstTaskOfPeer(peer);
    const done = await h.api('POST', `/api/tasks/${task.id}/complete`, undefined, agentToken);
    expect(done.status).toBe(200);
    expect(done.body.task.status).toBe('completed');
    await h.postVk(vkMessage(messageNew, { peer, id: 8002, text: 'Снова я' }));
    const full = await taskWithComments(task.id, 2);
    expect(full.status).toBe('open');
    expect(full.comments.map((c: any) => c.text)).toEqual(['Первый вопрос', 'Снова я']);
    expect(await tasksOf(task.contactId)).toHaveLength(1);
  });

  it('with createNewTaskIfNoActive a new task is created carrying exactly N history messages', async () => {
    const patch = await h.api('PATCH', `/api/channels/${channelId}`, { settings: { createNewTaskIfNoActive: true, historyMessages: 5 } });
    expect(patch.status).toBe(200);
    try {
      const peer = 512340021;
      for (let i = 1; i <= 7; i++) await h.postVk(vkMessage(messageNew, { peer, id: 9000 + i, text: `Сообщение ${i}` }));
      const first = await firstTaskOfPeer(peer);
      await taskWithComments(first.id, 7);
      const reply = await h.api('POST', `/api/tasks/${first.id}/comments`, { text: 'Ответ агента', notifyContact: true }, agentToken);
      expect(reply.status).toBe(201);
      await h.api('POST', `/api/tasks/${first.id}/complete`, undefined, agentToken);

      // The person writes again a second later (VK dates have one-second resolution).
      await h.postVk(vkMessage(messageNew, { peer, id: 9100, text: 'Новый вопрос', date: Math.floor(Date.now() / 1000) + 1 }));
      const tasks = await h.eventually(async () => {
        const list = await tasksOf(first.contactId);
        return list.length === 2 ? list : undefined;
      });
      const second = tasks[0];
      expect(second.id).not.toBe(first.id);
      expect(second.status).toBe('open');
      const full = await taskWithComments(second.id, 6);
      const history = full.comments.filter((c: any) => c.history);
      expect(history.map((c: any) => c.text)).toEqual(['Сообщение 4', 'Сообщение 5', 'Сообщение 6', 'Сообщение 7', 'Ответ агента']);
      expect(full.comments.at(-1)).toMatchObject({ text: 'Новый вопрос', direction: 'inbound' });
      expect(full.comments).toHaveLength(6);
      expect((await h.api('GET', `/api/tasks/${first.id}`)).body.status).toBe('completed');
    } finally {
      await h.api('PATCH', `/api/channels/${channelId}`, { settings: { createNewTaskIfNoActive: false } });
    }
  });
});

describe('webhook refusals change nothing', () => {
  it('a wrong secret is 403 and nothing is stored', async () => {
    const body = vkMessage(messageNew, { peer: 512340030, id: 1, text: 'чужой' });
    body.secret = 'not-the-secret';
    const res = await h.postVk(body);
    expect(res.status).toBe(403);
    const missing = await h.postVk({ ...body, secret: undefined });
    expect(missing.status).toBe(403);
    const contact = await h.db.selectFrom('contact_identities').select('id').where('external_id', '=', '512340030').executeTakeFirst();
    expect(contact).toBeUndefined();
    await expect(h.client.workflow.getHandle(h.conversationId(512340030)).describe()).rejects.toThrow();
  });

  it('an unknown group is 404', async () => {
    const body = vkMessage(messageNew, { peer: 512340031, id: 1, text: 'x' });
    body.group_id = 999;
    expect((await h.postVk(body)).status).toBe(404);
  });

  it('malformed JSON and bodies without a type are 400; an oversized body is 413', async () => {
    const bad = await h.postVk('{"type": "message_new", ');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.code).toBe('malformed_json');
    const noType = await h.postVk({ group_id: 218000001, secret: VK_SECRET });
    expect(noType.status).toBe(400);
    expect(JSON.parse(noType.text).error.details.field).toBe('type');
    const huge = vkMessage(messageNew, { peer: 512340032, id: 1, text: 'я'.repeat(h.config.MAX_WEBHOOK_BODY_BYTES) });
    expect((await h.postVk(huge)).status).toBe(413);
    expect(await h.db.selectFrom('contact_identities').select('id').where('external_id', '=', '512340032').executeTakeFirst()).toBeUndefined();
  });

  it('events for a deactivated channel are acknowledged and ignored', async () => {
    await h.api('PATCH', `/api/channels/${channelId}`, { active: false });
    try {
      const res = await h.postVk(vkMessage(messageNew, { peer: 512340033, id: 1, text: 'в выключенный канал' }));
      expect(res).toEqual({ status: 200, text: 'ok' });
      await expect(h.client.workflow.getHandle(h.conversationId(512340033)).describe()).rejects.toThrow();
    } finally {
      await h.api('PATCH', `/api/channels/${channelId}`, { active: true });
    }
  });
});

describe('message_allow / message_deny', () => {
  it('after message_deny replies are refused with 422 and nothing is sent; message_allow lets them through again', async () => {
    const peer = 512340010; // the person of the allow/deny fixtures
    const task = await firstTaskOfPeer(peer);
    const deny = await readFixture('vk/message_deny.json');
    expect((await h.postVk(deny)).status).toBe(200);
    const state = () => h.client.workflow.getHandle(h.conversationId(peer)).query(conversationStateQuery);
    await h.eventually(async () => (await state()).messagesAllowed === false, 20_000, 'message_deny processed');
    const before = h.vk.callCount('messages.send');
    const refused = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'После запрета', notifyContact: true }, agentToken);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('messages_denied');
    expect(h.vk.callCount('messages.send')).toBe(before);

    const allow = await readFixture('vk/message_allow.json');
    expect((await h.postVk(allow)).status).toBe(200);
    await h.eventually(async () => (await state()).messagesAllowed === true, 20_000, 'message_allow processed');
    const ok = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'После разрешения', notifyContact: true }, agentToken);
    expect(ok.status).toBe(201);
    expect(ok.body.comment.deliveryStatus).toBe('sent');
    expect(h.vk.sent.filter((m) => m.text === 'После разрешения')).toHaveLength(1);
  });

  it('conversations can be found in Temporal visibility by channel, contact and task', async () => {
    const task = await firstTaskOfPeer(512340001);
    const query = `WorkflowType = 'conversation' AND TaskQueue = '${h.config.TEMPORAL_TASK_QUEUE}' AND TwChannel = 'vk' AND TwChannelId = '${channelId}' AND TwContactId = '${task.contactId}' AND TwTaskId = '${task.id}'`;
    const found = await h.eventually(async () => {
      const ids: string[] = [];
      for await (const w of h.client.workflow.list({ query })) ids.push(w.workflowId);
      return ids.length ? ids : undefined;
    }, 20_000, 'visibility');
    expect(found).toEqual([h.conversationId(512340001)]);
    const d = await h.client.workflow.getHandle(h.conversationId(512340001)).describe();
    expect(d.memo?.displayName).toBe('Анна Смирнова');
  });
});
