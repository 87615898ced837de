/**
 * WhatsApp end to end: signed webhooks → conversation workflows → tasks; agent replies, files,
 * templates, delivery states and first contact → a loopback fake Graph API.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationStateQuery } from '../../workflows/conversation.js';
import { echoWebhook, mediaWebhook, reactionWebhook, statusWebhook, textWebhook } from '../fakes/graph-api.js';
import { startChildWorker, type ChildWorker } from '../support/child-worker.js';
import { fixturePath, startHarness, WA_VERIFY_TOKEN, type Harness } from '../support/harness.js';

let h: Harness;
let channelId: string;
const children: ChildWorker[] = [];

const raw = (name: string) => new Uint8Array(readFileSync(fixturePath('whatsapp', name)));
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  channelId = await h.createWaChannel();
});

afterAll(async () => {
  for (const c of children) await c.kill();
  await h?.close();
});

async function contactOf(waId: string) {
  return h.eventually(async () => {
    const row = await h.db.selectFrom('contact_identities').select('contact_id').where('channel_kind', '=', 'whatsapp').where('external_id', '=', waId).executeTakeFirst();
    return row?.contact_id;
  }, 20_000, `contact of ${waId}`);
}

async function taskOf(waId: string) {
  const contactId = await contactOf(waId);
  return h.eventually(async () => (await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items[0], 20_000, `task of ${waId}`);
}

async function commentsOf(waId: string, n = 1): Promise<any[]> {
  const task = await taskOf(waId);
  return h.eventually(async () => {
    const t = await h.api('GET', `/api/tasks/${task.id}`);
    return t.body.comments.length >= n ? t.body.comments : undefined;
  }, 20_000, `${n} comments of ${waId}`);
}

describe('webhook authentication', () => {
  it('GET verification answers the challenge for the right verify token only', async () => {
    const ok = await h.app.request(`/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${WA_VERIFY_TOKEN}&hub.challenge=1158201444`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    const bad = await h.app.request('/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1');
    expect(bad.status).toBe(403);
  });

  it('a wrong or missing signature is 401 and nothing is stored', async () => {
    const body = raw('message.text.json');
    expect((await h.postWa(body, { signature: null })).status).toBe(401);
    expect((await h.postWa(body, { secret: 'not-the-app-secret' })).status).toBe(401);
    const tampered = body.slice();
    tampered[tampered.length - 10]! ^= 1;
    expect((await h.postWa(tampered, { signature: (await import('../fakes/graph-api.js')).signedWebhook(new TextDecoder().decode(body), 'fixture-app-secret').signature })).status).toBe(401);
    expect(await h.db.selectFrom('contact_identities').select('id').where('external_id', '=', '79161234567').executeTakeFirst()).toBeUndefined();
  });
});

describe('every fixture through the webhook', () => {
  it('message.text: contact with profile name and phone, a task with the contact as creator, the text', async () => {
    expect((await h.postWa(raw('message.text.json'))).status).toBe(200);
    const task = await taskOf('79161234567');
    const contact = await h.api('GET', `/api/contacts/${task.contactId}`);
    expect(contact.body).toMatchObject({ name: 'Анна Смирнова', phone: '+79161234567', identities: [{ channelKind: 'whatsapp', externalId: '79161234567' }] });
    expect(task.creator).toEqual({ type: 'contact', id: task.contactId });
    const comments = await commentsOf('79161234567');
    expect(comments[0]).toMatchObject({ direction: 'inbound', text: 'Здравствуйте! Мой заказ №4521 до сих пор не пришёл. Подскажите, пожалуйста, где он?' });
    // Rule 5 fallback: no template → the channel's configuring employee (the owner here).
    expect(task.assigneeIds).toEqual(['1']);
  });

  it('the same webhook delivered twice is recorded once', async () => {
    expect((await h.postWa(raw('message.text.json'))).status).toBe(200);
    expect((await h.postWa(raw('message.text.reply_context.json'))).status).toBe(200);
    const comments = await commentsOf('79161234567', 2);
    expect(comments.map((c) => c.text)).toEqual([
      'Здравствуйте! Мой заказ №4521 до сих пор не пришёл. Подскажите, пожалуйста, где он?',
      'Да, этот адрес верный, спасибо!',
    ]);
  });

  it('message.image / document / audio.voice: media downloaded through the media API, attached byte for byte', async () => {
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 10, 20, 30]);
    const pdf = new TextEncoder().encode('%PDF-1.7 invoice');
    const ogg = new TextEncoder().encode('OggS voice');
    h.graph.addMedia('4723733646589636', jpeg, 'image/jpeg');
    const docId = JSON.parse(new TextDecoder().decode(raw('message.document.json'))).entry[0].changes[0].value.messages[0].document.id;
    const voiceId = JSON.parse(new TextDecoder().decode(raw('message.audio.voice.json'))).entry[0].changes[0].value.messages[0].audio.id;
    h.graph.addMedia(docId, pdf, 'application/pdf');
    h.graph.addMedia(voiceId, ogg, 'audio/ogg; codecs=opus');
    for (const f of ['message.image.json', 'message.document.json', 'message.audio.voice.json']) expect((await h.postWa(raw(f))).status).toBe(200);

    const image = (await commentsOf('5511987654321'))[0];
    expect(image.text).toBe('Foto da caixa que chegou amassada');
    expect(image.attachments[0].mimeType).toBe('image/jpeg');
    const doc = (await commentsOf('919876543210'))[0];
    expect(doc.text).toBe('Invoice for the refund request');
    expect(doc.attachments[0]).toMatchObject({ filename: 'invoice-2026-0917.pdf', mimeType: 'application/pdf' });
    const voice = (await commentsOf('4915112345678'))[0];
    expect(voice.attachments[0].mimeType).toMatch(/^audio\/ogg/);
    for (const [att, bytes] of [[image.attachments[0], jpeg], [doc.attachments[0], pdf], [voice.attachments[0], ogg]] as const) {
      const res = await h.app.request(att.url, { headers: { authorization: `Bearer ${h.ownerToken}` } });
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    }
  });

  it('location, contacts, interactive and template button replies, unsupported: readable comments', async () => {
    for (const f of ['message.location.json', 'message.contacts.json', 'message.interactive.button_reply.json', 'message.button.template_quick_reply.json', 'message.unsupported.json']) {
      expect((await h.postWa(raw(f))).status).toBe(200);
    }
    const location = (await commentsOf('5215512345678'))[0].text;
    expect(location).toContain('Palacio de Bellas A');
    expect(location).toContain('https://maps.google.com/?q=19.4352,-99.1412');
    expect((await commentsOf('351912345678'))[0].text).toContain('Rui Almeida');
    expect((await commentsOf('447700900123'))[0].text).toContain('Call me back');
    expect((await commentsOf('971501234567'))[0].text).toContain('Talk to an agent');
    expect((await commentsOf('61412345678'))[0].text).toMatch(/poll_creation/);
  });

  it('batch_two: two messages in one POST, both recorded, in order', async () => {
    expect((await h.postWa(raw('message.text.batch_two.json'))).status).toBe(200);
    const comments = await commentsOf('818012345678', 2);
    expect(comments.map((c) => c.text)).toEqual(['こんにちは、返品について質問があります。', 'Order number is JP-88231.']);
  });

  it('echo.text: a message sent from the WhatsApp Business app is shown as observed outgoing', async () => {
    expect((await h.postWa(raw('echo.text.json'))).status).toBe(200);
    const comments = await commentsOf('5511987654321', 2);
    expect(comments[1]).toMatchObject({ direction: 'outbound', author: { type: 'channel', id: channelId }, text: 'Oi Lucas! Já pedimos a troca, a nova caixa sai amanhã.' });
  });

  it('statuses for unknown message ids are accepted and create nothing', async () => {
    const before = await h.db.selectFrom('comments').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    for (const f of ['status.sent.json', 'status.delivered_read.json', 'status.failed.131047.json']) expect((await h.postWa(raw(f))).status).toBe(200);
    const after = await h.db.selectFrom('comments').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });
});

describe('several numbers and partial failures', () => {
  it('one POST carrying two numbers (two channels) delivers both conversations', async () => {
    const second = await h.api('POST', '/api/channels', {
      kind: 'whatsapp', name: 'Second number', phoneNumberId: '106540352242999', wabaId: '102290129340398',
      accessToken: h.graph.accessToken, appSecret: 'fixture-app-secret', verifyToken: 'another-verify-token',
    });
    expect(second.status).toBe(201);
    const a = textWebhook({ from: '79050000001', name: 'A', text: 'на первый номер', timestamp: now() });
    const b = textWebhook({ pnid: '106540352242999', from: '79050000002', name: 'B', text: 'на второй номер', timestamp: now() });
    const both = { object: 'whatsapp_business_account', entry: [...(a.entry as unknown[]), ...(b.entry as unknown[])] };
    expect((await h.postWa(both)).status).toBe(200);
    expect((await commentsOf('79050000001'))[0].text).toBe('на первый номер');
    const taskB = await taskOf('79050000002');
    expect(taskB.channelId).toBe(second.body.id);
  });

  it('if Temporal does not accept a message the answer is 503 (Meta retries the POST)', async () => {
    const { createApp } = await import('../../api/app.js');
    const failing = Object.create(h.client) as typeof h.client;
    Object.defineProperty(failing, 'workflow', { value: { signalWithStart: async () => { throw new Error('unavailable'); } } });
    const app = createApp({ config: h.config, db: h.db, temporal: failing, files: undefined as never, logger: (await import('../../runtime/logger.js')).createLogger('silent') });
    const { signedWebhook } = await import('../fakes/graph-api.js');
    const body = signedWebhook(textWebhook({ from: '79050000003', name: 'C', text: 'не принято', timestamp: now() }), 'fixture-app-secret');
    const res = await app.request('/webhooks/whatsapp', { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': body.signature }, body: body.raw });
    expect(res.status).toBe(503);
    expect(await h.db.selectFrom('contact_identities').select('id').where('external_id', '=', '79050000003').executeTakeFirst()).toBeUndefined();
  });
});

describe('agent replies', () => {
  const waId = '79031112233';

  async function freshConversation(id = waId) {
    await h.postWa(textWebhook({ from: id, name: 'Пётр', text: 'Здравствуйте, вопрос', timestamp: now() }));
    return taskOf(id);
  }

  it('a reply inside the 24-hour window reaches the Graph API once, with its wamid tracked through the statuses', async () => {
    const task = await freshConversation();
    await commentsOf(waId, 1);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Пётр, добрый день!', notifyContact: true });
    expect(res.status).toBe(201);
    expect(res.body.comment.deliveryStatus).toBe('sent');
    const sent = h.graph.sent.filter((m) => m.text === 'Пётр, добрый день!');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.to).toBe(`+${waId}`);

    // Statuses out of order: read, then delivered, then sent (again) → read stays.
    for (const status of ['read', 'delivered', 'sent'] as const) {
      expect((await h.postWa(statusWebhook({ wamid: sent[0]!.wamid, status, recipientId: waId }))).status).toBe(200);
    }
    const c = await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      const x = t.body.comments.find((y: any) => y.text === 'Пётр, добрый день!');
      return x?.deliveryStatus === 'read' ? x : undefined;
    });
    expect(c.deliveryStatus).toBe('read');
  });

  it('a failed status shows Meta’s code and message on the comment', async () => {
    const task = await taskOf(waId);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Не дойдёт', notifyContact: true });
    const wamid = h.graph.sent.find((m) => m.text === 'Не дойдёт')!.wamid;
    await h.postWa(statusWebhook({ wamid, status: 'failed', recipientId: waId, errorCode: 131026 }));
    await h.postWa(statusWebhook({ wamid, status: 'delivered', recipientId: waId }));
    const t = await h.api('GET', `/api/tasks/${task.id}`);
    const c = t.body.comments.find((x: any) => x.id === res.body.comment.id);
    expect(c.deliveryStatus).toBe('failed');
    expect(c.deliveryError.code).toBe(131026);
  });

  it('a status that arrives before the send is recorded still applies', async () => {
    const task = await taskOf(waId);
    const hold = h.graph.holdNext('messages');
    const reply = h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Быстрый статус', notifyContact: true });
    await hold.arrived;
    hold.release();
    await hold.released;
    const wamid = h.graph.sent.find((m) => m.text === 'Быстрый статус')!.wamid;
    await h.postWa(statusWebhook({ wamid, status: 'delivered', recipientId: waId }));
    expect((await reply).status).toBe(201);
    await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      const c = t.body.comments.find((x: any) => x.text === 'Быстрый статус');
      return c?.deliveryStatus === 'delivered';
    });
  });

  it('files are uploaded through the media API and sent by id, the text as caption', async () => {
    const task = await taskOf(waId);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, {
      text: 'Фото коробки',
      notifyContact: true,
      attachments: [{ filename: 'box.png', mimeType: 'image/png', contentBase64: Buffer.from(png).toString('base64') }],
    });
    expect(res.status).toBe(201);
    const upload = h.graph.uploads.at(-1)!;
    expect(upload.bytes).toEqual(png);
    const sent = h.graph.sent.at(-1)!;
    expect(sent).toMatchObject({ type: 'image', mediaId: upload.id, caption: 'Фото коробки' });
  });

  it('a reply with context and a reaction to our message are linked to the comments', async () => {
    const task = await taskOf(waId);
    const ours = h.graph.sent.find((m) => m.text === 'Пётр, добрый день!')!;
    await h.postWa(textWebhook({ from: waId, name: 'Пётр', text: 'Это ответ на ваше сообщение', replyTo: ours.wamid, timestamp: now() }));
    await h.postWa(reactionWebhook({ from: waId, name: 'Пётр', messageId: ours.wamid, emoji: '👍', timestamp: now() }));
    const comments = await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      const target = t.body.comments.find((x: any) => x.text === 'Пётр, добрый день!');
      return target?.reactions ? t.body.comments : undefined;
    });
    const target = comments.find((x: any) => x.text === 'Пётр, добрый день!');
    expect(target.reactions).toEqual([{ by: 'contact', emoji: '👍' }]);
    expect(comments.find((x: any) => x.text === 'Это ответ на ваше сообщение').replyToCommentId).toBe(target.id);
  });

  it('editing a WhatsApp reply is refused with 409 edit_not_supported', async () => {
    const task = await taskOf(waId);
    const reply = (await h.api('GET', `/api/tasks/${task.id}`)).body.comments.find((x: any) => x.text === 'Пётр, добрый день!');
    const res = await h.api('PATCH', `/api/comments/${reply.id}`, { text: 'исправлено' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('edit_not_supported');
  });

  it('outside the 24-hour window a free-form reply is 422 and nothing is sent; a template is sent', async () => {
    const old = '79035556677';
    await h.postWa(textWebhook({ from: old, name: 'Ольга', text: 'Вчерашний вопрос', timestamp: now() - 25 * 3600 }));
    const task = await taskOf(old);
    await commentsOf(old, 1);
    const before = h.graph.callCount('messages');
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Поздно', notifyContact: true });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('reply_window_closed');
    expect(res.body.error.details.window).toBe('whatsapp-24h-window');
    expect(h.graph.callCount('messages')).toBe(before);

    const tpl = await h.api('POST', `/api/tasks/${task.id}/comments`, { notifyContact: true, template: { name: 'ticket_update', language: 'ru', parameters: ['Ольга'] } });
    expect(tpl.status).toBe(201);
    const sent = h.graph.sent.at(-1)!;
    expect(sent.type).toBe('template');
    expect(sent.template).toMatchObject({ name: 'ticket_update', language: 'ru', bodyParameters: ['Ольга'] });
  });

  it('Meta answering 131047 ends in 422 reply_window_closed', async () => {
    const task = await taskOf(waId);
    h.graph.failNext('messages', 131047);
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Окно закрыто у Meta', notifyContact: true });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('reply_window_closed');
  });

  it('rate limits (130429, 131056) are retried and the reply goes out once; a final error is 502 with Meta’s code', async () => {
    const task = await taskOf(waId);
    h.graph.failNext('messages', 130429);
    h.graph.failNext('messages', 131056);
    const ok = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'После лимитов', notifyContact: true });
    expect(ok.status).toBe(201);
    expect(h.graph.sent.filter((m) => m.text === 'После лимитов')).toHaveLength(1);
    h.graph.failNext('messages', 131026);
    const bad = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Недоставляемо', notifyContact: true });
    expect(bad.status).toBe(502);
    expect(bad.body.error.details.channelCode).toBe(131026);
  }, 60_000);
});

describe('first contact (rule 15)', () => {
  it('an agent writes first by phone with a template; the answer lands in that task', async () => {
    const res = await h.api('POST', `/api/channels/${channelId}/conversations`, { phone: '+7 (926) 000-11-22', template: { name: 'hello', language: 'ru' } });
    expect(res.status).toBe(201);
    expect(res.body.comment).toMatchObject({ direction: 'outbound', deliveryStatus: 'sent' });
    const sent = h.graph.sent.at(-1)!;
    expect(sent).toMatchObject({ type: 'template', to: '+79260001122' });
    const task = (await h.api('GET', `/api/tasks/${res.body.taskId}`)).body;
    expect(task.creator).toEqual({ type: 'contact', id: res.body.contactId });

    // The person answers a moment later (WhatsApp timestamps have one-second resolution).
    await h.postWa(textWebhook({ from: '79260001122', name: 'Новый клиент', text: 'Да, интересно', timestamp: now() + 1 }));
    const comments = await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${res.body.taskId}`);
      return t.body.comments.length === 2 ? t.body.comments : undefined;
    });
    expect(comments[1]).toMatchObject({ direction: 'inbound', text: 'Да, интересно' });
    const state = await h.client.workflow.getHandle(h.waConversationId('79260001122')).query(conversationStateQuery);
    expect(state.taskId).toBe(res.body.taskId);
  });

  it('a VK channel cannot start conversations; a bad phone is 400', async () => {
    const bad = await h.api('POST', `/api/channels/${channelId}/conversations`, { phone: '12', template: { name: 'hello', language: 'ru' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('phone');
    // The national form would be read as a wrong international number (+8 916…): refused, not sent.
    const national = await h.api('POST', `/api/channels/${channelId}/conversations`, { phone: '8 916 123-45-67', template: { name: 'hello', language: 'ru' } });
    expect(national.status).toBe(400);
    expect(national.body.error.details.field).toBe('phone');
  });
});

describe('exactly once when the worker dies mid-send', () => {
  it('the retry finds the first attempt through its status report and does not send again', async () => {
    await h.stopWorkers();
    children.push(await startChildWorker(h.config));
    const id = '79037778899';
    await h.postWa(textWebhook({ from: id, name: 'Иван', text: 'Вопрос', timestamp: now() }));
    const task = await taskOf(id);
    await commentsOf(id, 1);

    const hold = h.graph.holdNext('messages');
    const reply = h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Ответ при сбое', notifyContact: true });
    await hold.arrived;
    await children[0]!.kill();
    hold.release();
    await hold.released;
    const first = h.graph.sent.find((m) => m.text === 'Ответ при сбое')!;
    // Meta reports the message it accepted, with our callback data.
    await h.postWa(statusWebhook({ wamid: first.wamid, status: 'sent', recipientId: id, bizOpaqueCallbackData: first.bizOpaqueCallbackData }));
    children.push(await startChildWorker(h.config));
    const res = await reply;
    // 201, or 202 when the worker restart outlasted REPLY_WAIT_SECONDS: the send goes on either way.
    expect([201, 202], JSON.stringify(res.body)).toContain(res.status);
    await h.eventually(async () => {
      const t = await h.api('GET', `/api/tasks/${task.id}`);
      return t.body.comments.some((c: any) => c.text === 'Ответ при сбое' && c.deliveryStatus === 'sent');
    }, 30_000, 'the reply sent');
    expect(h.graph.sent.filter((m) => m.text === 'Ответ при сбое')).toHaveLength(1);
  }, 90_000);
});
