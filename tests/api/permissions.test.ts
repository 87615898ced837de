/**
 * Who may read and who may change what: README's table (API → "Who may read and change what"),
 * row by row, against the running app with an owner, an admin and an agent token. Real Temporal,
 * real PostgreSQL, fake VK and Graph API (tests/support/harness.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, VK_SECRET, type Harness } from '../support/harness.js';

type Role = 'owner' | 'admin' | 'agent';
const ROLES: Role[] = ['owner', 'admin', 'agent'];

let h: Harness;
const token = {} as Record<Role, string>;
const employeeId = {} as Record<Role, string>;
let agent2Token: string;
let vkChannelId: string;
let waChannelId: string;
let taskId: string;
let contactId: string;
let inboundCommentId: string;
let attachmentId: string;

const as = (role: Role) => ({
  get: (path: string) => h.api('GET', path, undefined, token[role]),
  post: (path: string, body: unknown = {}) => h.api('POST', path, body, token[role]),
  patch: (path: string, body: unknown) => h.api('PATCH', path, body, token[role]),
  delete: (path: string) => h.api('DELETE', path, undefined, token[role]),
});

/** Runs `request` once per role and compares the statuses with the table's row. */
async function row(expected: Record<Role, number>, request: (role: Role) => Promise<{ status: number; body: any }>): Promise<Record<Role, any>> {
  const bodies = {} as Record<Role, any>;
  const statuses = {} as Record<Role, number>;
  for (const role of ROLES) {
    const res = await request(role);
    statuses[role] = res.status;
    bodies[role] = res.body;
    if (res.status === 403) expect(res.body.error.code).toBe('forbidden');
  }
  expect(statuses, JSON.stringify(bodies).slice(0, 2000)).toEqual(expected);
  return bodies;
}

const ALL = (status: number) => ({ owner: status, admin: status, agent: status });
const MANAGERS = (status: number) => ({ owner: status, admin: status, agent: 403 });

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  token.owner = h.ownerToken;
  employeeId.owner = (await h.db.selectFrom('employees').select('id').where('role', '=', 'owner').executeTakeFirstOrThrow()).id;
  for (const [role, name] of [['admin', 'Админ Олег'], ['agent', 'Агент Ирина']] as const) {
    const res = await h.api('POST', '/api/employees', { name, role });
    expect(res.status).toBe(201);
    token[role] = res.body.token;
    employeeId[role] = res.body.id;
  }
  agent2Token = (await h.api('POST', '/api/employees', { name: 'Агент Пётр', role: 'agent' })).body.token;
  vkChannelId = await h.createVkChannel();
  waChannelId = await h.createWaChannel();

  // A customer writes: a contact, a task and an inbound comment.
  const message = vkMessage(await readFixture('vk/message_new.text.json'), { peer: 512340077, id: 9001, text: 'Здравствуйте, где мой заказ?' });
  expect(await h.postVk(message)).toEqual({ status: 200, text: 'ok' });
  const task = await h.eventually(async () => {
    const list = await h.api('GET', '/api/tasks');
    return list.body.items?.[0];
  }, 30_000, 'the task');
  taskId = task.id;
  contactId = task.contactId;
  inboundCommentId = (await h.api('GET', `/api/tasks/${taskId}`)).body.comments[0].id;
  // An internal comment with a file.
  const withFile = await h.api('POST', `/api/tasks/${taskId}/comments`, {
    text: 'Накладная',
    attachments: [{ filename: 'invoice.txt', mimeType: 'text/plain', contentBase64: Buffer.from('invoice 42').toString('base64') }],
  });
  expect(withFile.status, JSON.stringify(withFile.body)).toBe(201);
  attachmentId = withFile.body.comment.attachments[0].id;
}, 180_000);

afterAll(async () => {
  await h?.close();
});

describe('nobody without a token', () => {
  it('reads or changes anything under /api (every route of the OpenAPI document answers 401)', async () => {
    const doc = (await h.app.request('/openapi.json')).json() as Promise<{ paths: Record<string, Record<string, unknown>> }>;
    let n = 0;
    for (const [path, methods] of Object.entries((await doc).paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const method of Object.keys(methods)) {
        const res = await h.app.request(path.replace(/\{\w+\}/g, '1'), { method: method.toUpperCase(), headers: { 'content-type': 'application/json' }, ...(method === 'get' ? {} : { body: '{}' }) });
        expect(res.status, `${method.toUpperCase()} ${path}`).toBe(401);
        n++;
      }
    }
    expect(n).toBeGreaterThan(20);
  });
});

describe('reading', () => {
  it('tasks and their comments: everyone', async () => {
    await row(ALL(200), (r) => as(r).get('/api/tasks'));
    const bodies = await row(ALL(200), (r) => as(r).get(`/api/tasks/${taskId}`));
    expect(bodies.agent.comments.map((c: any) => c.id)).toContain(inboundCommentId);
  });

  it('attachments: everyone', async () => {
    const res = await row(ALL(200), (r) => as(r).get(`/api/attachments/${attachmentId}`));
    expect(res.agent).toBe('invoice 42');
  });

  it('contacts: everyone', async () => {
    await row(ALL(200), (r) => as(r).get(`/api/contacts/${contactId}`));
  });

  it('channels: everyone, never their secrets', async () => {
    const list = await row(ALL(200), (r) => as(r).get('/api/channels'));
    await row(ALL(200), (r) => as(r).get(`/api/channels/${vkChannelId}`));
    expect(JSON.stringify(list.agent)).not.toContain(VK_SECRET);
  });

  it('task templates and quick replies: everyone', async () => {
    await row(ALL(200), (r) => as(r).get('/api/task-templates'));
    await row(ALL(200), (r) => as(r).get('/api/quick-replies'));
  });

  it('broadcasts: everyone', async () => {
    await row(ALL(200), (r) => as(r).get('/api/broadcasts'));
  });

  it('employees: the owner and admins', async () => {
    await row(MANAGERS(200), (r) => as(r).get('/api/employees'));
  });
});

describe('changing', () => {
  const commentOf = {} as Record<Role, string>;
  let agent2CommentId: string;

  it('comments on a task (internal or to the contact), complete, reopen: everyone', async () => {
    const bodies = await row(ALL(201), (r) => as(r).post(`/api/tasks/${taskId}/comments`, { text: `комментарий (${r})` }));
    for (const r of ROLES) {
      commentOf[r] = bodies[r].comment.id;
      expect(bodies[r].comment.author).toEqual({ type: 'employee', id: employeeId[r] });
    }
    agent2CommentId = (await h.api('POST', `/api/tasks/${taskId}/comments`, { text: 'комментарий второго агента' }, agent2Token)).body.comment.id;

    for (const r of ROLES) {
      expect((await as(r).post(`/api/tasks/${taskId}/complete`)).body.task.status).toBe('completed');
      expect((await as(r).post(`/api/tasks/${taskId}/reopen`)).body.task.status).toBe('open');
    }
  });

  it('editing a comment: its author; the owner and admins any; an agent no one else’s', async () => {
    await row(ALL(200), (r) => as(r).patch(`/api/comments/${commentOf[r]}`, { text: `исправлено (${r})` }));
    // An agent may not touch the owner's, an admin's, another agent's or the customer's comment.
    for (const other of [commentOf.owner, commentOf.admin, agent2CommentId, inboundCommentId]) {
      const res = await as('agent').patch(`/api/comments/${other}`, { text: 'переписано агентом' });
      expect(res.status, JSON.stringify(res.body)).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    // The owner and admins may edit other employees' comments.
    expect((await as('admin').patch(`/api/comments/${commentOf.owner}`, { text: 'исправлено админом' })).status).toBe(200);
    expect((await as('owner').patch(`/api/comments/${commentOf.agent}`, { text: 'исправлено владельцем' })).status).toBe(200);
    expect((await as('admin').patch(`/api/comments/${agent2CommentId}`, { text: 'исправлено админом' })).status).toBe(200);

    const comments = (await h.api('GET', `/api/tasks/${taskId}`)).body.comments as Array<{ id: string; text: string }>;
    const text = (id: string) => comments.find((c) => c.id === id)!.text;
    expect(comments.map((c) => c.text)).not.toContain('переписано агентом');
    expect([text(commentOf.owner), text(commentOf.admin), text(commentOf.agent), text(agent2CommentId)]).toEqual([
      'исправлено админом',
      'исправлено (admin)',
      'исправлено владельцем',
      'исправлено админом',
    ]);
  });

  it('starting a WhatsApp conversation with a template (rule 15): everyone', async () => {
    const phones: Record<Role, string> = { owner: '+79260000001', admin: '+79260000002', agent: '+79260000003' };
    await row(ALL(201), (r) => as(r).post(`/api/channels/${waChannelId}/conversations`, { phone: phones[r], template: { name: 'hello', language: 'ru' } }));
    await row(ALL(200), (r) => as(r).get(`/api/contacts?phone=${encodeURIComponent(phones.agent)}`));
  });

  it('quick replies: everyone creates; the author, the owner and admins change and delete', async () => {
    const created = await row(ALL(201), (r) => as(r).post('/api/quick-replies', { title: `Привет (${r})`, text: 'Здравствуйте, {{name}}!' }));
    const ownerReply = created.owner.id;
    await row(MANAGERS(200), (r) => as(r).patch(`/api/quick-replies/${ownerReply}`, { text: `от ${r}` }));
    await row(ALL(200), (r) => as(r).patch(`/api/quick-replies/${created[r].id}`, { text: 'своё' }));
    expect((await as('agent').delete(`/api/quick-replies/${ownerReply}`)).status).toBe(403);
    expect((await as('admin').delete(`/api/quick-replies/${ownerReply}`)).status).toBe(204);
    expect((await as('agent').delete(`/api/quick-replies/${created.agent.id}`)).status).toBe(204);
  });

  it('bulk sends: the owner and admins start them; everyone follows their progress', async () => {
    const started = await row(MANAGERS(202), (r) => as(r).post(`/api/channels/${vkChannelId}/bulk-sends`, { recipients: [{ vkUserId: 512340078 }], text: `Распродажа (${r})` }));
    await row(ALL(200), (r) => as(r).get(`/api/bulk-sends/${started.admin.id}`));
  });

  it('task templates: the owner and admins', async () => {
    await row(MANAGERS(201), (r) => as(r).post('/api/task-templates', { name: `Шаблон (${r})`, creator: { type: 'channelOwner' }, assigneeIds: [], customFields: [] }));
  });

  it('channels (create, rename, settings, deactivate, credentials): the owner and admins', async () => {
    const groups: Record<Role, number> = { owner: 218000101, admin: 218000102, agent: 218000103 };
    await row(MANAGERS(201), (r) =>
      as(r).post('/api/channels', { kind: 'vk', name: `VK (${r})`, groupId: groups[r], accessToken: 'vk1.a.x', confirmationCode: 'c0de', secret: 'another-secret' }),
    );
    await row(MANAGERS(200), (r) => as(r).patch(`/api/channels/${vkChannelId}`, { name: `Магазин (${r})` }));
    expect((await as('agent').patch(`/api/channels/${vkChannelId}`, { secret: 'agent-chosen' })).status).toBe(403);
  });

  it('employees: the owner and admins create them; only the owner creates another owner', async () => {
    await row(MANAGERS(201), (r) => as(r).post('/api/employees', { name: `Новый (${r})`, role: 'agent' }));
    await row({ owner: 201, admin: 403, agent: 403 }, (r) => as(r).post('/api/employees', { name: `Совладелец (${r})`, role: 'owner' }));
  });
});
