/**
 * VK publication comments and lead forms end to end (rules 17–21): one task per publication,
 * replies under wall comments, edits and deletions, switched-off kinds, leads into custom fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, startHarness, type Harness } from '../support/harness.js';
import { replayAll } from '../support/replay.js';

let h: Harness;
let channelId: string;
let templateId: string;
let creatorId: string;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  const creator = await h.api('POST', '/api/employees', { name: 'Постановщик', role: 'agent' });
  creatorId = creator.body.id;
  const template = await h.api('POST', '/api/task-templates', {
    name: 'Из VK',
    creator: { type: 'employee', employeeId: creatorId },
    assigneeIds: [creatorId],
    customFields: [
      { name: 'Имя', type: 'text' },
      { name: 'номер  ТЕЛЕФОНА', type: 'phone' },
    ],
  });
  templateId = template.body.id;
  channelId = await h.createVkChannel({ taskTemplateId: templateId });
});

afterAll(async () => {
  await h?.close();
});

const publicationTasks = async () => (await h.api('GET', `/api/tasks?kind=publication&channelId=${channelId}`)).body.items as any[];

async function taskWith(predicate: (t: any) => boolean, what: string) {
  return h.eventually(async () => {
    for (const s of await publicationTasks()) {
      const full = (await h.api('GET', `/api/tasks/${s.id}`)).body;
      if (predicate(full)) return full;
    }
    return undefined;
  }, 20_000, what);
}

describe('wall post comments', () => {
  it('two comments on one post are one task: title, description, link and files from the post, creator from the template', async () => {
    expect(await h.postVk(await readFixture('vk/wall_reply_new.json'))).toEqual({ status: 200, text: 'ok' });
    expect((await h.postVk(await readFixture('vk/wall_reply_new.reply_to_comment.json'))).status).toBe(200);
    const task = await taskWith((t) => t.comments.filter((c: any) => c.direction === 'inbound').length === 2, 'two comments on post 1542');
    expect(await publicationTasks()).toHaveLength(1);
    expect(task).toMatchObject({
      kind: 'publication',
      title: 'Доставка по всей России 🚚',
      publication: { type: 'wall', url: 'https://vk.com/wall-218000001_1542' },
      creator: { type: 'employee', id: creatorId },
      assigneeIds: [creatorId],
    });
    expect(task.description).toContain('Считаем стоимость');
    const post = task.comments[0];
    expect(post.attachments).toHaveLength(1);
    expect(post.attachments[0].mimeType).toBe('image/jpeg');
    const [first, second] = task.comments.filter((c: any) => c.direction === 'inbound');
    expect(first).toMatchObject({ text: 'Сколько стоит доставка в Казань и сколько дней идёт?', externalUrl: 'https://vk.com/wall-218000001_1542?reply=3310' });
    expect(second.externalUrl).toBe('https://vk.com/wall-218000001_1542?reply=3312&thread=3310');
    expect(second.replyToCommentId).toBe(first.id);
    const contact = await h.api('GET', `/api/contacts/${first.author.id}`);
    expect(contact.body.name).toBe('Сергей Волков');
  });

  it('a reply to a wall comment reaches VK once, as a threaded reply on behalf of the community', async () => {
    const task = await taskWith((t) => t.publication?.type === 'wall', 'the wall task');
    const target = task.comments.find((c: any) => c.externalUrl?.endsWith('reply=3310'));
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Сергей, доставка в Казань 350 ₽, 3–4 дня.', notifyContact: true, replyToCommentId: target.id });
    expect(res.status).toBe(201);
    expect(res.body.comment.deliveryStatus).toBe('sent');
    expect(h.vk.wallComments).toHaveLength(1);
    expect(h.vk.wallComments[0]).toMatchObject({ ownerId: -218000001, postId: 1542, fromGroup: 218000001, replyToComment: 3310, message: 'Сергей, доставка в Казань 350 ₽, 3–4 дня.' });
    // Editing such a reply is not possible through the API.
    const edit = await h.api('PATCH', `/api/comments/${res.body.comment.id}`, { text: 'исправить' });
    expect(edit.status).toBe(409);
    expect(edit.body.error.code).toBe('edit_not_supported');
    // Two people commented: a reply must say which comment it answers.
    const unclear = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Кому?', notifyContact: true });
    expect(unclear.status).toBe(400);
    expect(unclear.body.error.details.field).toBe('replyToCommentId');
  });

  it('edits and deletions by the commenter update the comment; the deleted text is kept', async () => {
    expect((await h.postVk(await readFixture('vk/wall_reply_edit.json'))).status).toBe(200);
    expect((await h.postVk(await readFixture('vk/wall_reply_delete.json'))).status).toBe(200);
    const task = await taskWith((t) => t.comments.some((c: any) => c.deleted) && t.comments.some((c: any) => c.editedAt && c.direction === 'inbound'), 'edit and delete');
    expect(task.comments.find((c: any) => c.externalUrl?.endsWith('reply=3310')).text).toContain('Нужно к 20 января');
    expect(task.comments.find((c: any) => c.deleted).text).toContain('нам в Казань привезли за 3 дня');
  });

  it("the community's own comments are observed outgoing and never start a task", async () => {
    const own = await readFixture('vk/wall_reply_new.json');
    Object.assign(own, { event_id: 'own-comment-0000000000000000000000000001' });
    Object.assign(own.object, { id: 9999, from_id: -218000001, post_id: 7777, text: 'Пост без обсуждения' });
    expect((await h.postVk(own)).status).toBe(200);
    // A later comment by a person on another post proves the own comment was processed.
    const other = await readFixture('vk/wall_reply_new.json');
    Object.assign(other, { event_id: 'other-post-000000000000000000000000000001' });
    Object.assign(other.object, { id: 5555, post_id: 1543, text: 'Вопрос под другим постом' });
    h.vk.setPublication('wall', -218000001, 1543, { from_id: -218000001, date: 1767790800, text: 'Второй пост', attachments: [] });
    expect((await h.postVk(other)).status).toBe(200);
    await taskWith((t) => t.title === 'Второй пост', 'a task for post 1543');
    expect((await publicationTasks()).map((t) => t.title).sort()).toEqual(['Второй пост', 'Доставка по всей России 🚚']);
  });
});

describe('rule 7 and the one-commenter reply', () => {
  it('with one commenter a reply answers their last comment; a completed publication task is reopened by a new comment', async () => {
    const task = await taskWith((t) => t.title === 'Второй пост', 'post 1543');
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Ответ единственному', notifyContact: true });
    expect(res.status).toBe(201);
    expect(h.vk.wallComments.at(-1)).toMatchObject({ postId: 1543, replyToComment: 5555, message: 'Ответ единственному' });

    expect((await h.api('POST', `/api/tasks/${task.id}/complete`)).body.task.status).toBe('completed');
    const later = await readFixture('vk/wall_reply_new.json');
    Object.assign(later, { event_id: 'later-comment-000000000000000000000000001' });
    Object.assign(later.object, { id: 5556, post_id: 1543, text: 'Ещё вопрос', date: Math.floor(Date.now() / 1000) });
    expect((await h.postVk(later)).status).toBe(200);
    const reopened = await taskWith((t) => t.id === task.id && t.status === 'open' && t.comments.some((c: any) => c.text === 'Ещё вопрос'), 'reopened');
    expect(reopened.status).toBe('open');
  });
});

describe('photo, video and board comments', () => {
  it('each publication is a task; replies there are 409 reply_in_vk with the link', async () => {
    for (const f of ['vk/photo_comment_new.json', 'vk/video_comment_new.json', 'vk/board_post_new.json']) expect((await h.postVk(await readFixture(f))).status).toBe(200);
    const photo = await taskWith((t) => t.publication?.type === 'photo', 'photo task');
    expect(photo.publication.url).toBe('https://vk.com/photo-218000001_457240321');
    expect(photo.comments.find((c: any) => c.direction === 'inbound').text).toBe('А этот диван есть в сером цвете?');
    const video = await taskWith((t) => t.publication?.type === 'video', 'video task');
    expect(video.title).toContain('Как раскладывается диван');
    const topic = await taskWith((t) => t.publication?.type === 'topic', 'topic task');
    expect(topic.title).toBe('Возврат и обмен товара');
    expect(topic.comments.find((c: any) => c.direction === 'inbound').externalUrl).toBe('https://vk.com/topic-218000001_49876543?post=38');

    const res = await h.api('POST', `/api/tasks/${photo.id}/comments`, { text: 'Есть серый', notifyContact: true });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'reply_in_vk', details: { url: 'https://vk.com/photo-218000001_457240321' } });
    expect(h.vk.callCount('photos.createComment')).toBe(0);
  });

  it('with attachPublicationFiles off the publication’s files are not copied', async () => {
    await h.api('PATCH', `/api/channels/${channelId}`, { settings: { attachPublicationFiles: false } });
    try {
      const body = await readFixture('vk/wall_reply_new.json');
      Object.assign(body, { event_id: 'nofiles-0000000000000000000000000000000001' });
      Object.assign(body.object, { id: 6001, post_id: 1544, text: 'Комментарий под постом с фото' });
      h.vk.setPublication('wall', -218000001, 1544, {
        from_id: -218000001, date: 1767790800, text: 'Пост с фото', attachments: [{ type: 'photo', photo: { id: 1, owner_id: -218000001, sizes: [{ type: 'x', url: h.vk.addFile('p1544.jpg', new Uint8Array([1, 2]), 'image/jpeg'), width: 10, height: 10 }] } }],
      });
      expect((await h.postVk(body)).status).toBe(200);
      const task = await taskWith((t) => t.title === 'Пост с фото', 'post 1544');
      expect(task.comments.flatMap((c: any) => c.attachments)).toEqual([]);
    } finally {
      await h.api('PATCH', `/api/channels/${channelId}`, { settings: { attachPublicationFiles: true } });
    }
  });

  it('events of a switched-off kind are acknowledged and nothing is stored', async () => {
    await h.api('PATCH', `/api/channels/${channelId}`, { settings: { receive: { photoComments: false } } });
    try {
      const body = await readFixture('vk/photo_comment_new.json');
      Object.assign(body, { event_id: 'switched-off-000000000000000000000000001' });
      Object.assign(body.object, { id: 872, photo_id: 457240999 });
      expect(await h.postVk(body)).toEqual({ status: 200, text: 'ok' });
      await expect(h.client.workflow.getHandle('publication/vk-218000001/photo/-218000001_457240999').describe()).rejects.toThrow();
    } finally {
      await h.api('PATCH', `/api/channels/${channelId}`, { settings: { receive: { photoComments: true } } });
    }
  });
});

describe('lead forms (rule 21)', () => {
  it('a lead is a task: answers in the matching custom fields, the rest in the description; twice is still one task', async () => {
    const lead = await readFixture('vk/lead_forms_new.json');
    expect(await h.postVk(lead)).toEqual({ status: 200, text: 'ok' });
    const task = await h.eventually(async () => (await h.api('GET', `/api/tasks?kind=lead&channelId=${channelId}`)).body.items[0], 20_000, 'lead task');
    expect(task.title).toBe('Заявка на консультацию: Наталья Ковалёва');
    expect(task.customFields).toEqual({ 'Имя': 'Наталья', 'номер  ТЕЛЕФОНА': '+7 916 123-45-67' });
    expect(task.description).toBe('Электронная почта: natalia.k@example.ru\nУдобное время для звонка: Будни после 18:00');
    expect(task.creator).toEqual({ type: 'employee', id: creatorId });

    const again = structuredClone(lead);
    again.event_id = 'lead-again-00000000000000000000000000000001';
    expect((await h.postVk(again)).status).toBe(200);
    expect((await h.postVk(lead)).status).toBe(200);
    // The lead's workflow answers the complete action, which proves both deliveries were handled.
    const done = await h.api('POST', `/api/tasks/${task.id}/complete`);
    expect(done.status).toBe(200);
    expect((await h.api('GET', `/api/tasks?kind=lead&channelId=${channelId}`)).body.items).toHaveLength(1);
  });
});

describe('determinism', () => {
  it('publication and lead histories replay with the current workflow code', async () => {
    const { replayed, failures } = await replayAll(h, 'publication');
    expect(replayed).toBeGreaterThan(5);
    expect(failures).toEqual([]);
  });
});
