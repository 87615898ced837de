/**
 * Issue 10, first part: text PostgreSQL cannot store never blocks a conversation, bad values are
 * 400s naming the field (nothing stored), files are never rendered on our origin, and an agent
 * edits only its own comments.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { textWebhook } from '../fakes/graph-api.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  await h.createVkChannel();
  await h.createWaChannel();
});

afterAll(async () => {
  await h?.close();
});

const commentsOf = async (taskId: string): Promise<string[]> => (await h.api('GET', `/api/tasks/${taskId}`)).body.comments.map((c: any) => c.text);

it('a VK message with NUL is stored with the character replaced, and the next message arrives in seconds', async () => {
  const base = await readFixture('vk/message_new.text.json');
  // A peer no other test file uses: workflow ids are shared on the one dev server.
  const peer = 512349201;
  expect((await h.postVk(vkMessage(base, { peer, id: 1, text: 'nul\u0000here' }))).text).toBe('ok');
  expect((await h.postVk(vkMessage(base, { peer, id: 2, text: 'и дальше' }))).text).toBe('ok');
  const task = await h.eventually(async () => {
    const items = (await h.api('GET', '/api/tasks')).body.items as any[];
    for (const t of items) if ((await commentsOf(t.id)).some((x) => x.startsWith('nul'))) return t;
    return undefined;
  }, 15_000, 'the task with both messages');
  await h.eventually(async () => (await commentsOf(task.id)).includes('и дальше'), 15_000, 'the second message');
  const texts = await commentsOf(task.id);
  expect(texts[0]).toMatch(/^nul\uFFFDhere\n\[taskwire: 1 character that cannot be stored/);
  expect(texts[1]).toBe('и дальше');
});

it('a WhatsApp message with NUL and a lone surrogate in text and name is stored, and the next one follows', async () => {
  const from = '79169990011';
  expect((await h.postWa(textWebhook({ from, name: 'Bad\u0000Name', text: 'a\u0000b \ud800 c' }))).status).toBe(200);
  expect((await h.postWa(textWebhook({ from, text: 'next' }))).status).toBe(200);
  const task = await h.eventually(async () => {
    const items = (await h.api('GET', '/api/tasks')).body.items as any[];
    for (const t of items) if ((await commentsOf(t.id)).includes('next')) return t;
    return undefined;
  }, 15_000, 'the WhatsApp task');
  const texts = await commentsOf(task.id);
  expect(texts[0]).toMatch(/^a\uFFFDb \uFFFD c\n\[taskwire: 2 characters/);
  const contact = await h.api('GET', `/api/contacts/${task.contactId}`);
  expect(contact.body.name).toBe('Bad\uFFFDName');
});

it('a NUL or lone surrogate in any API string is a 400 naming the field, and nothing is stored', async () => {
  const before = (await h.api('GET', '/api/employees')).body.items.length;
  const nul = await h.api('POST', '/api/employees', { name: 'A\u0000B', role: 'agent' });
  expect(nul.status).toBe(400);
  expect(nul.body.error.details.field).toBe('name');
  const lone = await h.api('POST', '/api/quick-replies', { title: 'x', text: 'broken \udc00 pair' });
  expect(lone.status).toBe(400);
  expect(lone.body.error.details.field).toBe('text');
  const query = await h.api('GET', '/api/tasks?status=open%00');
  expect(query.status).toBe(400);
  expect((await h.api('GET', '/api/employees')).body.items.length).toBe(before);
});

it('ids beyond bigint in a query are a 400, not a database error', async () => {
  for (const q of ['channelId=99999999999999999999', 'contactId=99999999999999999999', 'before=99999999999999999999']) {
    const res = await h.api('GET', `/api/tasks?${q}`);
    expect(res.status, q).toBe(400);
    expect(res.body.error.details.field).toBe(q.split('=')[0]);
  }
});

it('files are served as attachments, never sniffed, and active types as bytes', async () => {
  const task = (await h.api('GET', '/api/tasks')).body.items[0];
  const html = Buffer.from('<script>alert(1)</script>').toString('base64');
  const res = await h.api('POST', `/api/tasks/${task.id}/comments`, {
    text: 'files',
    attachments: [
      { filename: 'page.html', mimeType: 'text/html', contentBase64: html },
      { filename: 'pic.svg', mimeType: 'image/svg+xml', contentBase64: html },
      { filename: 'notes.txt', mimeType: 'text/plain', contentBase64: Buffer.from('hi').toString('base64') },
    ],
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const types: string[] = [];
  for (const a of res.body.comment.attachments) {
    const file = await h.api('GET', a.url);
    expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    expect(file.headers.get('content-disposition')).toMatch(/^attachment;/);
    types.push(file.headers.get('content-type')!);
  }
  expect(types).toEqual(['application/octet-stream', 'application/octet-stream', 'text/plain']);
});

it('an agent edits its own comments only; the owner edits any', async () => {
  const agent = await h.api('POST', '/api/employees', { name: 'Agent Smith', role: 'agent' });
  expect(agent.status).toBe(201);
  const task = (await h.api('GET', '/api/tasks')).body.items[0];
  const ownerComment = (await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'owner note' })).body.comment;
  const agentComment = (await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'agent note' }, agent.body.token)).body.comment;
  const denied = await h.api('PATCH', `/api/comments/${ownerComment.id}`, { text: 'rewritten by the agent' }, agent.body.token);
  expect(denied.status).toBe(403);
  expect((await commentsOf(task.id))).toContain('owner note');
  const own = await h.api('PATCH', `/api/comments/${agentComment.id}`, { text: 'agent note, edited' }, agent.body.token);
  expect(own.status, JSON.stringify(own.body)).toBe(200);
  const byOwner = await h.api('PATCH', `/api/comments/${agentComment.id}`, { text: 'agent note, edited by the owner' });
  expect(byOwner.status, JSON.stringify(byOwner.body)).toBe(200);
});
