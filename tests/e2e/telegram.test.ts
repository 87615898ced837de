/**
 * Telegram end to end: a bot connected through the API (getMe, setWebhook), updates through the
 * secret-token webhook → conversation workflows → tasks; replies with files, edits, blocks, quick
 * replies and bulk sends → a loopback fake Bot API. The same pipeline as VK and WhatsApp.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_BOT_ID, tgUpdates, type TgTestUser } from '../fakes/telegram-api.js';
import { startChildWorker, type ChildWorker } from '../support/child-worker.js';
import { startHarness, TG_SECRET_TOKEN, type Harness } from '../support/harness.js';

let h: Harness;
let channelId: string;
const children: ChildWorker[] = [];

// Users no other test file writes as (workflow ids are shared on the one dev server).
const user = (id: number, first_name: string, last_name?: string): TgTestUser => ({ id, first_name, ...(last_name ? { last_name } : {}) });
const IVAN = user(512350101, 'Иван', 'Петров');
const OLGA = user(512350102, 'Ольга');
const PAVEL = user(512350103, 'Павел', 'Сидоров');
const NINA = user(512350104, 'Нина');
const BULK = [user(512350105, 'Адресат'), user(512350106, 'Адресат2')];
const CRASH = user(512350107, 'Кира');
const REOPEN = user(512350108, 'Роман');
const HISTORY = user(512350109, 'Гульнара', 'Ахметова');

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  channelId = await h.createTgChannel();
});

afterAll(async () => {
  for (const c of children) await c.kill();
  await h?.close();
});

async function taskOf(u: TgTestUser) {
  const contactId = await h.eventually(async () => {
    const row = await h.db.selectFrom('contact_identities').select('contact_id').where('channel_kind', '=', 'telegram').where('external_id', '=', String(u.id)).executeTakeFirst();
    return row?.contact_id;
  }, 20_000, `contact of ${u.id}`);
  return h.eventually(async () => (await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items[0], 20_000, `task of ${u.id}`);
}

async function commentsOf(taskId: string, n: number): Promise<any[]> {
  return h.eventually(async () => {
    const t = await h.api('GET', `/api/tasks/${taskId}`);
    return t.body.comments.length >= n ? t.body.comments : undefined;
  }, 20_000, `${n} comments`);
}

async function say(u: TgTestUser, text: string, o: { messageId?: number } = {}) {
  const res = await h.postTg(channelId, tgUpdates.text(u, text, o));
  expect(res.status).toBe(200);
}

describe('connecting a bot', () => {
  it('a refused token is 422 invalid_credentials and nothing is stored', async () => {
    const before = await h.db.selectFrom('channels').select('id').execute();
    const res = await h.api('POST', '/api/channels', { kind: 'telegram', name: 'Чужой бот', botToken: `${FAKE_BOT_ID}:AAFnot-the-token-of-this-bot-at-all`, settings: {} });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('invalid_credentials');
    expect(JSON.stringify(res.body)).not.toContain('not-the-token');
    expect(await h.db.selectFrom('channels').select('id').execute()).toHaveLength(before.length);
  });

  it('getMe names the channel, setWebhook points Telegram at the channel with its secret, and no secret is returned', async () => {
    const res = await h.api('GET', `/api/channels/${channelId}`);
    expect(res.body).toMatchObject({ kind: 'telegram', botId: String(FAKE_BOT_ID), webhookUrl: expect.stringMatching(new RegExp(`/webhooks/telegram/${channelId}$`)) });
    expect(h.tg.webhook).toMatchObject({ url: res.body.webhookUrl, secretToken: TG_SECRET_TOKEN, allowedUpdates: ['message', 'edited_message', 'my_chat_member'] });
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(h.tg.botToken);
    expect(text).not.toContain(TG_SECRET_TOKEN);
  });
});

describe('the webhook', () => {
  it('a missing or wrong secret is 401, an unknown channel 404, and nothing is stored', async () => {
    const update = tgUpdates.text(OLGA, 'без секрета');
    expect((await h.postTg(channelId, update, { secret: null })).status).toBe(401);
    expect((await h.postTg(channelId, update, { secret: 'wrong-secret' })).status).toBe(401);
    expect((await h.postTg('999999', update)).status).toBe(404);
    expect((await h.postTg('abc', update)).status).toBe(404);
    expect(await h.db.selectFrom('contact_identities').select('id').where('external_id', '=', String(OLGA.id)).executeTakeFirst()).toBeUndefined();
  });

  it('a private message becomes a task from its sender; the same update delivered again is recorded once', async () => {
    const update = tgUpdates.text(IVAN, 'Здравствуйте, где мой заказ?');
    expect((await h.postTg(channelId, update)).status).toBe(200);
    expect((await h.postTg(channelId, update)).status).toBe(200);
    const task = await taskOf(IVAN);
    const contact = await h.api('GET', `/api/contacts/${task.contactId}`);
    expect(contact.body).toMatchObject({ name: 'Иван Петров', identities: [{ channelKind: 'telegram', externalId: String(IVAN.id) }] });
    await say(IVAN, 'Номер 4521');
    const comments = await commentsOf(task.id, 2);
    expect(comments.map((c) => c.text)).toEqual(['Здравствуйте, где мой заказ?', 'Номер 4521']);
  });

  it('an authenticated update taskwire cannot read is answered 200 (the bot\'s later updates are not held) and stores nothing', async () => {
    const res = await h.postTg(channelId, { update_id: 'x', message: { chat: 'nope' } });
    expect(res.status).toBe(200);
    expect((await h.postTg(channelId, '{not json')).status).toBe(400);
  });

  it('photos and documents arrive with their files; a file over 20 MB is named; an edit edits the comment', async () => {
    const photo = h.tg.addFile({ bytes: new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), dir: 'photos', ext: '.jpg' });
    const doc = h.tg.addFile({ bytes: new TextEncoder().encode('%PDF-1.4 счёт'), ext: '.pdf' });
    const big = h.tg.addFile({ size: 25 * 1024 * 1024, ext: '.zip' });
    const photoSize = (f: typeof photo, w: number) => ({ file_id: f.fileId, file_unique_id: f.fileUniqueId, width: w, height: w, file_size: f.size });
    const withPhoto = tgUpdates.message(PAVEL, { photo: [photoSize(photo, 90), photoSize(photo, 800)], caption: 'Вот фото' });
    await h.postTg(channelId, withPhoto);
    await h.postTg(channelId, tgUpdates.message(PAVEL, { document: { file_id: doc.fileId, file_unique_id: doc.fileUniqueId, file_name: 'счёт.pdf', mime_type: 'application/pdf', file_size: doc.size } }));
    await h.postTg(channelId, tgUpdates.message(PAVEL, { document: { file_id: big.fileId, file_unique_id: big.fileUniqueId, file_name: 'архив.zip', mime_type: 'application/zip', file_size: big.size } }));
    const task = await taskOf(PAVEL);
    const comments = await commentsOf(task.id, 3);
    expect(comments[0]).toMatchObject({ text: 'Вот фото', attachments: [{ mimeType: 'image/jpeg', size: 7 }] });
    expect(comments[1].attachments).toMatchObject([{ filename: 'счёт.pdf', mimeType: 'application/pdf' }]);
    expect(comments[2].attachments).toEqual([]);
    expect(comments[2].text).toContain('архив.zip');
    expect(comments[2].text).toContain('20 MB');

    const messageId = (withPhoto.message as { message_id: number }).message_id;
    await h.postTg(channelId, tgUpdates.edited(PAVEL, messageId, { caption: 'Вот фото дивана' }));
    await h.eventually(async () => (await commentsOf(task.id, 3))[0].text === 'Вот фото дивана', 20_000, 'the edited caption');
  });
});

describe('replies', () => {
  it('text and file replies reach the chat, an edit of a reply edits it in Telegram', async () => {
    await say(NINA, 'Можно счёт?');
    const task = await taskOf(NINA);
    const reply = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Конечно, сейчас пришлю', notifyContact: true });
    expect(reply.status).toBe(201);
    expect(reply.body.comment.deliveryStatus).toBe('sent');
    expect(h.tg.sentTo(NINA.id).map((m) => m.text)).toContain('Конечно, сейчас пришлю');

    const file = await h.api('POST', `/api/tasks/${task.id}/comments`, {
      text: 'Счёт во вложении',
      notifyContact: true,
      attachments: [{ filename: 'invoice.pdf', mimeType: 'application/pdf', contentBase64: Buffer.from('%PDF-1.4 invoice').toString('base64') }],
    });
    expect(file.status).toBe(201);
    const sentFile = h.tg.sentTo(NINA.id).find((m) => m.upload);
    expect(sentFile).toMatchObject({ method: 'sendDocument', caption: 'Счёт во вложении', upload: { filename: 'invoice.pdf' } });

    const edit = await h.api('PATCH', `/api/comments/${reply.body.comment.id}`, { text: 'Конечно, пришлю через минуту' });
    expect(edit.status).toBe(200);
    expect(h.tg.edits).toContainEqual(expect.objectContaining({ chatId: String(NINA.id), method: 'editMessageText', text: 'Конечно, пришлю через минуту' }));
    const captionEdit = await h.api('PATCH', `/api/comments/${file.body.comment.id}`, { text: 'Счёт №4521 во вложении' });
    expect(captionEdit.status).toBe(200);
    expect(h.tg.edits).toContainEqual(expect.objectContaining({ method: 'editMessageCaption', text: 'Счёт №4521 во вложении' }));
  });

  it('a person who blocked the bot gets no replies (422 messages_denied) until they write again', async () => {
    await say(OLGA, 'Спасибо, больше не пишите');
    const task = await taskOf(OLGA);
    expect((await h.postTg(channelId, tgUpdates.myChatMember(OLGA, 'kicked'))).status).toBe(200);
    h.tg.setChatState(OLGA.id, 'blocked');
    const denied = await h.eventually(async () => {
      const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Вы тут?', notifyContact: true });
      return res.status === 422 ? res : undefined;
    }, 20_000, 'the reply refused');
    expect(denied.body.error.code).toBe('messages_denied');

    h.tg.setChatState(OLGA.id, null);
    await h.postTg(channelId, tgUpdates.myChatMember(OLGA, 'member'));
    await say(OLGA, 'Я снова тут');
    await commentsOf(task.id, 2);
    const ok = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Рады вас слышать', notifyContact: true });
    expect(ok.status).toBe(201);
    expect(h.tg.sentTo(OLGA.id).map((m) => m.text)).toContain('Рады вас слышать');
  });

  it('a quick reply with the contact\'s name, and a bulk send to {telegramUserId} recipients', async () => {
    await say(IVAN, 'Ещё вопрос');
    const task = await taskOf(IVAN);
    const qr = await h.api('POST', '/api/quick-replies', { title: 'Привет', text: 'Здравствуйте, {{name}}!' });
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { quickReplyId: qr.body.id, notifyContact: true });
    expect(res.status).toBe(201);
    expect(h.tg.sentTo(IVAN.id).map((m) => m.text)).toContain('Здравствуйте, Иван Петров!');

    const bulk = await h.api('POST', `/api/channels/${channelId}/bulk-sends`, { recipients: BULK.map((u) => ({ telegramUserId: u.id })), text: 'Скидка 10% до пятницы' });
    expect(bulk.status).toBe(202);
    await h.eventually(async () => (await h.api('GET', `/api/bulk-sends/${bulk.body.id}`)).body.status === 'done', 60_000, 'the bulk send');
    for (const u of BULK) expect(h.tg.sentTo(u.id).map((m) => m.text)).toEqual(['Скидка 10% до пятницы']);
    const wrong = await h.api('POST', `/api/channels/${channelId}/bulk-sends`, { recipients: [{ vkUserId: 1 }], text: 'x' });
    expect(wrong.status).toBe(400);
  });
});

describe('completed tasks (rule 7) and history (rule 8)', () => {
  const tasksOf = async (contactId: string) => (await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items as any[];

  it('a new message reopens the completed task by default', async () => {
    await say(REOPEN, 'Первый вопрос');
    const task = await taskOf(REOPEN);
    expect((await h.api('POST', `/api/tasks/${task.id}/complete`)).body.task.status).toBe('completed');
    await say(REOPEN, 'Снова я');
    const comments = await commentsOf(task.id, 2);
    expect(comments.map((c) => c.text)).toEqual(['Первый вопрос', 'Снова я']);
    expect((await h.api('GET', `/api/tasks/${task.id}`)).body.status).toBe('open');
    expect(await tasksOf(task.contactId)).toHaveLength(1);
  });

  it('with createNewTaskIfNoActive a new task carries exactly N history messages', async () => {
    expect((await h.api('PATCH', `/api/channels/${channelId}`, { settings: { createNewTaskIfNoActive: true, historyMessages: 5 } })).status).toBe(200);
    try {
      for (let i = 1; i <= 6; i++) await say(HISTORY, `Сообщение ${i}`);
      const first = await taskOf(HISTORY);
      await commentsOf(first.id, 6);
      expect((await h.api('POST', `/api/tasks/${first.id}/comments`, { text: 'Ответ агента', notifyContact: true })).status).toBe(201);
      await h.api('POST', `/api/tasks/${first.id}/complete`);
      // A second later: Telegram dates have one-second resolution.
      expect((await h.postTg(channelId, tgUpdates.message(HISTORY, { text: 'Новый вопрос' }, { date: Math.floor(Date.now() / 1000) + 1 }))).status).toBe(200);
      const tasks = await h.eventually(async () => {
        const list = await tasksOf(first.contactId);
        return list.length === 2 ? list : undefined;
      }, 20_000, 'a second task');
      const second = tasks.find((t) => t.id !== first.id);
      const comments = await commentsOf(second.id, 6);
      expect(comments.filter((c) => c.history).map((c) => c.text)).toEqual(['Сообщение 3', 'Сообщение 4', 'Сообщение 5', 'Сообщение 6', 'Ответ агента']);
      expect(comments.at(-1)).toMatchObject({ text: 'Новый вопрос', direction: 'inbound' });
    } finally {
      await h.api('PATCH', `/api/channels/${channelId}`, { settings: { createNewTaskIfNoActive: false } });
    }
  });
});

it('the worker is killed while sendMessage is in flight: the reply is delivered and recorded once', async () => {
  await h.stopWorkers();
  children.push(await startChildWorker(h.config));
  await say(CRASH, 'Когда доставка?');
  const task = await taskOf(CRASH);

  const hold = h.tg.holdNext('sendMessage');
  const reply = h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Завтра до обеда', notifyContact: true });
  await hold.arrived;
  // Telegram got the message; the worker dies before it hears the answer.
  await children[0]!.kill();
  hold.release();
  await hold.released;

  children.push(await startChildWorker(h.config));
  const res = await reply;
  expect([201, 202], JSON.stringify(res.body)).toContain(res.status);
  await h.eventually(async () => {
    const t = await h.api('GET', `/api/tasks/${task.id}`);
    return t.body.comments.some((c: any) => c.text === 'Завтра до обеда' && c.deliveryStatus === 'sent');
  }, 60_000, 'the reply sent');
  const t = await h.api('GET', `/api/tasks/${task.id}`);
  expect(t.body.comments.filter((c: any) => c.text === 'Завтра до обеда')).toHaveLength(1);
  // The Bot API has no idempotency key: the retry after a send of unknown outcome sends again. This is
  // the documented window (README, "Telegram"): once, or twice — never lost.
  const sent = h.tg.sentTo(CRASH.id).filter((m) => m.text === 'Завтра до обеда');
  expect(sent.length).toBeGreaterThanOrEqual(1);
  expect(sent.length).toBeLessThanOrEqual(2);
}, 120_000);
