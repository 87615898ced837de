/**
 * Conditional task reads: `GET /api/tasks/{id}` answers with an ETag, and `If-None-Match` with that
 * tag gets 304 until something the read shows changes — a new message, an edit, a delivery status,
 * an attachment — and never for a change elsewhere. Real Temporal and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

const PEER = 512390001;
const OTHER_PEER = 512390002;

let h: Harness;
let base: Record<string, any>;
let taskId: string;
let otherTaskId: string;

const read = (id: string, ifNoneMatch?: string, token?: string) =>
  h.api('GET', `/api/tasks/${id}`, undefined, token, ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch });

/** The task a person's first message creates, once their profile has renamed it (a change of its own). */
async function taskOf(peer: number, id: number, text: string): Promise<string> {
  expect(await h.postVk(vkMessage(base, { peer, id, text }))).toEqual({ status: 200, text: 'ok' });
  await h.eventually(async () => {
    const row = await h.db.selectFrom('contact_identities').select('profile').where('external_id', '=', String(peer)).executeTakeFirst();
    return row && (row.profile as Record<string, unknown> | null)?.profilePending === undefined ? true : undefined;
  }, 30_000, `the profile of ${peer}`);
  return h.eventually(async () => {
    const rows = await h.db
      .selectFrom('comments as c')
      .innerJoin('tasks as t', 't.id', 'c.task_id')
      .select('t.id')
      .where('c.text', '=', text)
      .execute();
    return rows[0]?.id;
  }, 30_000, `the task of "${text}"`);
}

/** Reads with the tag until the answer is 200 (a change is written by the workflow a moment later), returns it. */
async function changedFrom(tag: string) {
  return h.eventually(async () => {
    const r = await read(taskId, tag);
    return r.status === 200 ? r : undefined;
  }, 30_000, 'a 200 with a new tag');
}

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  await h.createVkChannel();
  base = await readFixture('vk/message_new.text.json');
  taskId = await taskOf(PEER, 1, 'Где мой заказ 4411?');
  otherTaskId = await taskOf(OTHER_PEER, 1, 'Другой человек, другая задача');
}, 180_000);

afterAll(async () => {
  await h?.close();
});

describe('GET /api/tasks/{id} with If-None-Match', () => {
  it('answers 304 with no body while the copy is current, and 200 with the full task otherwise', async () => {
    const first = await read(taskId);
    expect(first.status).toBe(200);
    const tag = first.headers.get('etag')!;
    expect(tag).toMatch(/^W\/".+"$/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');

    const again = await read(taskId, tag);
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.get('etag')).toBe(tag);

    // A list of tags naming it, or `*`, is current too; another tag or garbage gets the task.
    expect((await read(taskId, `W/"older", ${tag}`)).status).toBe(304);
    expect((await read(taskId, '*')).status).toBe(304);
    const other = await read(taskId, 'W/"t1.deadbeef.x"');
    expect(other.status).toBe(200);
    expect(other.body.comments.map((c: { text: string }) => c.text)).toContain('Где мой заказ 4411?');
    expect((await read(taskId, 'not a tag')).status).toBe(200);
  });

  it('a new message, an edit, a delivery status and an attachment each change the tag; another task does not', async () => {
    let tag = (await read(taskId)).headers.get('etag')!;

    // The customer writes again.
    expect(await h.postVk(vkMessage(base, { peer: PEER, id: 2, text: 'И ещё: доставка в субботу?' }))).toEqual({ status: 200, text: 'ok' });
    let r = await changedFrom(tag);
    expect(r.body.comments.map((c: { text: string }) => c.text)).toContain('И ещё: доставка в субботу?');
    tag = r.headers.get('etag')!;
    expect((await read(taskId, tag)).status).toBe(304);

    // Another person's task changes: this one's copy is still current.
    expect(await h.postVk(vkMessage(base, { peer: OTHER_PEER, id: 2, text: 'Ещё вопрос по другой задаче' }))).toEqual({ status: 200, text: 'ok' });
    await h.eventually(async () => {
      const o = await read(otherTaskId);
      return o.body.comments.some((c: { text: string }) => c.text === 'Ещё вопрос по другой задаче');
    }, 30_000, "the other task's message");
    expect((await read(taskId, tag)).status).toBe(304);

    // An agent's internal comment, then its edit.
    const posted = await h.api('POST', `/api/tasks/${taskId}/comments`, { text: 'Проверю склад' });
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    r = await read(taskId, tag);
    expect(r.status).toBe(200);
    tag = r.headers.get('etag')!;
    const edited = await h.api('PATCH', `/api/comments/${posted.body.comment.id}`, { text: 'Проверю склад сегодня' });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    r = await read(taskId, tag);
    expect(r.status).toBe(200);
    expect(r.body.comments.find((c: { id: string }) => c.id === posted.body.comment.id).text).toBe('Проверю склад сегодня');
    tag = r.headers.get('etag')!;

    // A status written to an existing comment (as a delivery report does).
    const inbound = r.body.comments[0];
    await h.db.updateTable('comments').set({ delivery_status: 'read' }).where('id', '=', inbound.id).execute();
    r = await read(taskId, tag);
    expect(r.status).toBe(200);
    expect(r.body.comments[0].deliveryStatus).toBe('read');
    tag = r.headers.get('etag')!;

    // An attachment added to an existing comment.
    await h.db
      .insertInto('attachments')
      .values({ comment_id: inbound.id, filename: 'late.txt', mime_type: 'text/plain', size: 4, sha256: 'a'.repeat(64) })
      .execute();
    r = await read(taskId, tag);
    expect(r.status).toBe(200);
    expect(r.body.comments[0].attachments.map((a: { filename: string }) => a.filename)).toContain('late.txt');
    expect((await read(taskId, r.headers.get('etag')!)).status).toBe(304);
  });

  it('still needs a token, and a task that does not exist is 404 whatever the tag', async () => {
    const tag = (await read(taskId)).headers.get('etag')!;
    expect((await read(taskId, tag, 'tw_not_a_real_token_at_all_0000')).status).toBe(401);
    const missing = await read('999999999', '*');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
  });
});
