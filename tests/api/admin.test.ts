import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapOwner, hashToken, newToken } from '../../api/auth.js';
import { DEFAULT_CHANNEL_SETTINGS, findChannelByExternalId, mergeChannelSettings } from '../../db/queries/channels.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { call, OWNER_TOKEN, testApp } from './helpers.js';

let t: TestDatabase;
let app: ReturnType<typeof testApp>['app'];
let adminToken: string;
let adminId: string;
let agentToken: string;
let agentId: string;
let agent2Token: string;

beforeAll(async () => {
  t = await createTestDatabase();
  app = testApp(t.db).app;
});
afterAll(async () => {
  await t?.drop();
});

const owner = () => ({ token: OWNER_TOKEN });

function expectError(res: { status: number; body: any }, status: number, code: string, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  if (field !== undefined) expect(res.body.error.details?.field).toBe(field);
}

describe('tokens and bootstrap', () => {
  it('makes tw_ tokens of 32 random bytes and hashes them with sha256', () => {
    const a = newToken();
    expect(a).toMatch(/^tw_[A-Za-z0-9_-]{43}$/);
    expect(newToken()).not.toBe(a);
    expect(hashToken(a)).toBe(createHash('sha256').update(a).digest('hex'));
  });

  it('does nothing without a token', async () => {
    expect(await bootstrapOwner(t.db)).toBeNull();
    expect(await t.db.selectFrom('employees').selectAll().execute()).toHaveLength(0);
  });

  it('creates the owner exactly once, even when started concurrently', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => bootstrapOwner(t.db, OWNER_TOKEN)));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(await bootstrapOwner(t.db, OWNER_TOKEN)).toBeNull();
    expect(await bootstrapOwner(t.db, 'another-token-0123456789')).toBeNull();
    const rows = await t.db.selectFrom('employees').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ role: 'owner', name: 'Owner', token_hash: hashToken(OWNER_TOKEN) });
  });
});

describe('authentication', () => {
  it('refuses /api without a token, with a bad token or a malformed header', async () => {
    expectError(await call(app, 'GET', '/api/employees'), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/api/employees', { token: 'tw_nope' }), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/api/employees', { headers: { authorization: OWNER_TOKEN } }), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/api/employees', { headers: { authorization: `Basic ${OWNER_TOKEN}` } }), 401, 'unauthorized');
    expectError(await call(app, 'GET', '/api/channels', { token: 'x'.repeat(5000) }), 401, 'unauthorized');
    // Even unknown /api paths say nothing to strangers.
    expectError(await call(app, 'GET', '/api/nothing-here'), 401, 'unauthorized');
    // Nothing is written without a token.
    expectError(await call(app, 'POST', '/api/channels', { body: { kind: 'vk' } }), 401, 'unauthorized');
  });

  it('accepts the bootstrap token', async () => {
    const res = await call(app, 'GET', '/api/employees', owner());
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([expect.objectContaining({ name: 'Owner', role: 'owner', id: expect.any(String) })]);
  });

  it('gives unknown /api paths a JSON 404 once authenticated', async () => {
    expectError(await call(app, 'GET', '/api/nothing-here', owner()), 404, 'not_found');
  });
});

describe('employees', () => {
  it('creates employees with a token shown once and stored only as a hash', async () => {
    const res = await call(app, 'POST', '/api/employees', { ...owner(), body: { name: 'Alice Admin', email: 'alice@example.com', role: 'admin' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: expect.stringMatching(/^\d+$/), name: 'Alice Admin', role: 'admin', token: expect.stringMatching(/^tw_/) });
    adminToken = res.body.token;
    adminId = res.body.id;

    const rows = await t.db.selectFrom('employees').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(adminToken);
    expect(rows.find((r) => r.id === adminId)?.token_hash).toBe(hashToken(adminToken));

    const list = await call(app, 'GET', '/api/employees', { token: adminToken });
    expect(list.status).toBe(200);
    expect(list.text).not.toContain('token');
    expect(list.body.items.map((e: any) => e.name)).toEqual(['Owner', 'Alice Admin']);
  });

  it('the new token works; agents are refused management', async () => {
    const res = await call(app, 'POST', '/api/employees', { token: adminToken, body: { name: 'Bob Agent', role: 'agent' } });
    expect(res.status).toBe(201);
    agentToken = res.body.token;
    agentId = res.body.id;
    agent2Token = (await call(app, 'POST', '/api/employees', { token: adminToken, body: { name: 'Carol Agent', role: 'agent' } })).body.token;

    expectError(await call(app, 'POST', '/api/employees', { token: agentToken, body: { name: 'Eve', role: 'admin' } }), 403, 'forbidden');
    // The role check comes before validation: an agent learns nothing about the body.
    expectError(await call(app, 'POST', '/api/employees', { token: agentToken, body: { nope: 1 } }), 403, 'forbidden');
    expectError(await call(app, 'GET', '/api/employees', { token: agentToken }), 403, 'forbidden');
  });

  it('only an owner may create an owner', async () => {
    expectError(await call(app, 'POST', '/api/employees', { token: adminToken, body: { name: 'Mallory', role: 'owner' } }), 403, 'forbidden');
    const res = await call(app, 'POST', '/api/employees', { ...owner(), body: { name: 'Second Owner', role: 'owner' } });
    expect(res.status).toBe(201);
    expect(res.body.role).toBe('owner');
  });

  it('validates the body, naming the field', async () => {
    expectError(await call(app, 'POST', '/api/employees', { ...owner(), body: { name: 'X', role: 'boss' } }), 400, 'invalid_request', 'role');
    expectError(await call(app, 'POST', '/api/employees', { ...owner(), body: { role: 'agent' } }), 400, 'invalid_request', 'name');
    expectError(await call(app, 'POST', '/api/employees', { ...owner(), body: { name: 'X', role: 'agent', email: 'not-an-email' } }), 400, 'invalid_request', 'email');
    expectError(await call(app, 'POST', '/api/employees', { ...owner(), body: [] }), 400, 'invalid_request', 'body');
  });
});

let templateId: string;

describe('task templates', () => {
  it('creates a template whose creator and assignees exist', async () => {
    const res = await call(app, 'POST', '/api/task-templates', {
      token: adminToken,
      body: {
        name: 'Conversation',
        creator: { type: 'employee', employeeId: Number(adminId) },
        assigneeIds: [agentId],
        customFields: [{ name: 'Budget', type: 'number' }, { name: 'Phone', type: 'phone' }],
      },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(String),
      name: 'Conversation',
      creator: { type: 'employee', employeeId: adminId },
      assigneeIds: [agentId],
      customFields: [{ name: 'Budget', type: 'number' }, { name: 'Phone', type: 'phone' }],
      createdBy: adminId,
    });
    templateId = res.body.id;

    const channelOwner = await call(app, 'POST', '/api/task-templates', { token: adminToken, body: { name: 'Publications', creator: { type: 'channelOwner' } } });
    expect(channelOwner.status).toBe(201);
    expect(channelOwner.body).toMatchObject({ creator: { type: 'channelOwner' }, assigneeIds: [], customFields: [] });

    const list = await call(app, 'GET', '/api/task-templates', { token: agentToken });
    expect(list.body.items.map((x: any) => x.name)).toEqual(['Conversation', 'Publications']);
    const one = await call(app, 'GET', `/api/task-templates/${templateId}`, { token: agentToken });
    expect(one.body.id).toBe(templateId);
    expectError(await call(app, 'GET', '/api/task-templates/424242', { token: agentToken }), 404, 'not_found');
  });

  it('refuses unknown employees, bad fields and agents', async () => {
    const before = await t.db.selectFrom('task_templates').select('id').execute();
    expectError(
      await call(app, 'POST', '/api/task-templates', { token: adminToken, body: { name: 'X', creator: { type: 'employee', employeeId: '999999' } } }),
      400, 'invalid_request', 'creator.employeeId',
    );
    expectError(
      await call(app, 'POST', '/api/task-templates', { token: adminToken, body: { name: 'X', creator: { type: 'channelOwner' }, assigneeIds: [agentId, '999999'] } }),
      400, 'invalid_request', 'assigneeIds',
    );
    expectError(
      await call(app, 'POST', '/api/task-templates', { token: adminToken, body: { name: 'X', creator: { type: 'channelOwner' }, customFields: [{ name: 'A', type: 'color' }] } }),
      400, 'invalid_request', 'customFields.0.type',
    );
    expectError(
      await call(app, 'POST', '/api/task-templates', { token: adminToken, body: { name: 'X', creator: { type: 'robot' } } }),
      400, 'invalid_request', 'creator.type',
    );
    expectError(
      await call(app, 'POST', '/api/task-templates', { token: agentToken, body: { name: 'X', creator: { type: 'channelOwner' } } }),
      403, 'forbidden',
    );
    expect(await t.db.selectFrom('task_templates').select('id').execute()).toHaveLength(before.length);
  });
});

const VK_SECRETS = { accessToken: 'vk1.a.SECRET-ACCESS-TOKEN-abc', confirmationCode: 'CONFIRM-7f3a2b', secret: 'CALLBACK-SECRET-xyz' };
const WA_SECRETS = { accessToken: 'EAAG-WA-SECRET-TOKEN', appSecret: 'APP-SECRET-0f0f0f', verifyToken: 'VERIFY-TOKEN-1234' };
let vkChannelId: string;
let waChannelId: string;

describe('channels', () => {
  it('connects a VK community; the answer has no secret and the creator is the configuring employee', async () => {
    const res = await call(app, 'POST', '/api/channels', {
      token: adminToken,
      body: { kind: 'vk', name: 'Our VK', groupId: 218000001, ...VK_SECRETS, settings: { historyMessages: 20, taskTemplateId: templateId, receive: { leadForms: false } } },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(String),
      kind: 'vk',
      name: 'Our VK',
      active: true,
      groupId: 218000001,
      webhookUrl: 'https://tw.example.com/webhooks/vk',
      createdBy: adminId,
      settings: {
        ...DEFAULT_CHANNEL_SETTINGS,
        historyMessages: 20,
        taskTemplateId: templateId,
        receive: { ...DEFAULT_CHANNEL_SETTINGS.receive, leadForms: false },
      },
    });
    for (const s of Object.values(VK_SECRETS)) expect(res.text).not.toContain(s);
    expect(res.text).not.toContain('credentials');
    vkChannelId = res.body.id;

    const row = await findChannelByExternalId(t.db, 'vk', '218000001');
    expect(row?.credentials).toEqual({ kind: 'vk', ...VK_SECRETS });
    expect(row?.created_by).toBe(adminId);
  });

  it('connects a WhatsApp number (ids as strings or numbers); no secret in the answer', async () => {
    const res = await call(app, 'POST', '/api/channels', {
      token: OWNER_TOKEN,
      body: { kind: 'whatsapp', name: 'Sales WA', phoneNumberId: '106540352242922', wabaId: 102290129340398, ...WA_SECRETS, settings: { extraAssigneeIds: [agentId, agentId] } },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      kind: 'whatsapp',
      phoneNumberId: '106540352242922',
      wabaId: '102290129340398',
      webhookUrl: 'https://tw.example.com/webhooks/whatsapp',
      settings: { ...DEFAULT_CHANNEL_SETTINGS, extraAssigneeIds: [agentId] },
    });
    for (const s of Object.values(WA_SECRETS)) expect(res.text).not.toContain(s);
    waChannelId = res.body.id;
    const row = await findChannelByExternalId(t.db, 'whatsapp', '106540352242922');
    expect(row?.credentials).toMatchObject({ kind: 'whatsapp', ...WA_SECRETS, wabaId: '102290129340398' });
  });

  it('refuses a second channel for the same community or number with 409', async () => {
    const vk = await call(app, 'POST', '/api/channels', { token: adminToken, body: { kind: 'vk', name: 'Again', groupId: '218000001', ...VK_SECRETS } });
    expectError(vk, 409, 'channel_exists');
    expect(vk.text).not.toContain(VK_SECRETS.secret);
    const wa = await call(app, 'POST', '/api/channels', { token: adminToken, body: { kind: 'whatsapp', name: 'Again', phoneNumberId: 106540352242922, wabaId: '1', ...WA_SECRETS } });
    expectError(wa, 409, 'channel_exists');
  });

  it('refuses bad input naming the field, and creates nothing', async () => {
    const vk = (settings: unknown, extra: object = {}) =>
      call(app, 'POST', '/api/channels', { token: adminToken, body: { kind: 'vk', name: 'Bad', groupId: 218000099, ...VK_SECRETS, settings, ...extra } });
    expectError(await vk({ historyMessages: 7 }), 400, 'invalid_request', 'settings.historyMessages');
    expectError(await vk({ taskTemplateId: '987654' }), 400, 'invalid_request', 'settings.taskTemplateId');
    expectError(await vk({ extraAssigneeIds: [agentId, '987654'] }), 400, 'invalid_request', 'settings.extraAssigneeIds');
    expectError(await vk({ historyMessage: 5 }), 400, 'invalid_request', 'settings.historyMessage');
    expectError(await vk({ receive: { messages: 'yes' } }), 400, 'invalid_request', 'settings.receive.messages');
    expectError(await vk({}, { groupId: -5 }), 400, 'invalid_request', 'groupId');
    expectError(await vk({}, { groupId: 'club218' }), 400, 'invalid_request', 'groupId');
    expectError(await vk({}, { secret: undefined }), 400, 'invalid_request', 'secret');
    expectError(await vk({}, { kind: 'icq' }), 400, 'invalid_request', 'kind');
    expectError(
      await call(app, 'POST', '/api/channels', { token: adminToken, body: { kind: 'whatsapp', name: 'x', phoneNumberId: '1', wabaId: '2', accessToken: 'a', appSecret: 'b' } }),
      400, 'invalid_request', 'verifyToken',
    );
    expect(await findChannelByExternalId(t.db, 'vk', '218000099')).toBeUndefined();
    expect(await t.db.selectFrom('channels').select('id').execute()).toHaveLength(2);
  });

  it('is refused to agents', async () => {
    expectError(
      await call(app, 'POST', '/api/channels', { token: agentToken, body: { kind: 'vk', name: 'Mine', groupId: 1, ...VK_SECRETS } }),
      403, 'forbidden',
    );
    expectError(await call(app, 'PATCH', `/api/channels/${vkChannelId}`, { token: agentToken, body: { active: false } }), 403, 'forbidden');
  });

  it('lists and shows channels to any employee, without secrets', async () => {
    const list = await call(app, 'GET', '/api/channels', { token: agentToken });
    expect(list.status).toBe(200);
    expect(list.body.items.map((c: any) => c.id)).toEqual([vkChannelId, waChannelId]);
    for (const s of [...Object.values(VK_SECRETS), ...Object.values(WA_SECRETS)]) expect(list.text).not.toContain(s);
    expect((await call(app, 'GET', '/api/channels?kind=whatsapp', { token: agentToken })).body.items.map((c: any) => c.id)).toEqual([waChannelId]);
    expectError(await call(app, 'GET', '/api/channels?kind=icq', { token: agentToken }), 400, 'invalid_request', 'kind');

    const one = await call(app, 'GET', `/api/channels/${vkChannelId}`, { token: agentToken });
    expect(one.body).toMatchObject({ id: vkChannelId, kind: 'vk', groupId: 218000001 });
    expectError(await call(app, 'GET', '/api/channels/999999', { token: agentToken }), 404, 'not_found');
    expectError(await call(app, 'GET', '/api/channels/abc', { token: agentToken }), 404, 'not_found');
  });

  it('PATCH merges settings (receive key by key) and leaves the rest alone', async () => {
    const first = await call(app, 'PATCH', `/api/channels/${vkChannelId}`, {
      token: adminToken,
      body: { settings: { receive: { wallComments: false }, createNewTaskIfNoActive: true } },
    });
    expect(first.status, first.text).toBe(200);
    expect(first.body.settings).toEqual({
      ...DEFAULT_CHANNEL_SETTINGS,
      historyMessages: 20,
      taskTemplateId: templateId,
      createNewTaskIfNoActive: true,
      receive: { ...DEFAULT_CHANNEL_SETTINGS.receive, leadForms: false, wallComments: false },
    });

    const second = await call(app, 'PATCH', `/api/channels/${vkChannelId}`, {
      token: adminToken,
      body: { name: 'Renamed VK', active: false, settings: { receive: { messages: false }, taskTemplateId: null } },
    });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ name: 'Renamed VK', active: false });
    expect(second.body.settings).toEqual({
      ...DEFAULT_CHANNEL_SETTINGS,
      historyMessages: 20,
      taskTemplateId: null,
      createNewTaskIfNoActive: true,
      receive: { ...DEFAULT_CHANNEL_SETTINGS.receive, leadForms: false, wallComments: false, messages: false },
    });
    const row = await findChannelByExternalId(t.db, 'vk', '218000001');
    expect(row?.settings).toEqual(second.body.settings);
    expect(row?.credentials).toEqual({ kind: 'vk', ...VK_SECRETS });

    // A bad patch changes nothing.
    expectError(
      await call(app, 'PATCH', `/api/channels/${vkChannelId}`, { token: adminToken, body: { name: 'Nope', settings: { historyMessages: 3 } } }),
      400, 'invalid_request', 'settings.historyMessages',
    );
    expectError(
      await call(app, 'PATCH', `/api/channels/${vkChannelId}`, { token: adminToken, body: { name: 'Nope', settings: { extraAssigneeIds: ['999999'] } } }),
      400, 'invalid_request', 'settings.extraAssigneeIds',
    );
    expectError(await call(app, 'PATCH', `/api/channels/${vkChannelId}`, { token: adminToken, body: { nmae: 'typo' } }), 400, 'invalid_request', 'nmae');
    expect((await findChannelByExternalId(t.db, 'vk', '218000001'))?.name).toBe('Renamed VK');
    expectError(await call(app, 'PATCH', '/api/channels/999999', { token: adminToken, body: { active: true } }), 404, 'not_found');
  });

  it('PATCH rotates credentials of the channel\'s own kind, write-only', async () => {
    const res = await call(app, 'PATCH', `/api/channels/${vkChannelId}`, { token: adminToken, body: { secret: 'NEW-CALLBACK-SECRET', accessToken: 'vk1.a.NEW-TOKEN' } });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('NEW-CALLBACK-SECRET');
    expect(res.text).not.toContain('vk1.a.NEW-TOKEN');
    const row = await findChannelByExternalId(t.db, 'vk', '218000001');
    expect(row?.credentials).toEqual({ kind: 'vk', ...VK_SECRETS, secret: 'NEW-CALLBACK-SECRET', accessToken: 'vk1.a.NEW-TOKEN' });

    expectError(await call(app, 'PATCH', `/api/channels/${vkChannelId}`, { token: adminToken, body: { appSecret: 'x' } }), 400, 'invalid_request', 'appSecret');
    expectError(await call(app, 'PATCH', `/api/channels/${waChannelId}`, { token: adminToken, body: { confirmationCode: 'x' } }), 400, 'invalid_request', 'confirmationCode');

    const wa = await call(app, 'PATCH', `/api/channels/${waChannelId}`, { token: adminToken, body: { verifyToken: 'NEW-VERIFY' } });
    expect(wa.status).toBe(200);
    expect((await findChannelByExternalId(t.db, 'whatsapp', '106540352242922'))?.credentials).toMatchObject({ verifyToken: 'NEW-VERIFY', appSecret: WA_SECRETS.appSecret });
  });

  it('mergeChannelSettings fills defaults and merges receive', () => {
    expect(mergeChannelSettings(undefined)).toEqual(DEFAULT_CHANNEL_SETTINGS);
    expect(mergeChannelSettings({ historyMessages: 5 } as never, { receive: { messages: false } })).toEqual({
      ...DEFAULT_CHANNEL_SETTINGS,
      historyMessages: 5,
      receive: { ...DEFAULT_CHANNEL_SETTINGS.receive, messages: false },
    });
  });
});

describe('quick replies', () => {
  it('any employee reads and creates; the author or a manager changes and deletes', async () => {
    const created = await call(app, 'POST', '/api/quick-replies', { token: agentToken, body: { title: 'Hello', text: 'Hello, {{name}}!' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ title: 'Hello', text: 'Hello, {{name}}!', createdBy: agentId });
    const id = created.body.id;

    const list = await call(app, 'GET', '/api/quick-replies', { token: agent2Token });
    expect(list.body.items).toEqual([expect.objectContaining({ id, title: 'Hello' })]);

    expectError(await call(app, 'PATCH', `/api/quick-replies/${id}`, { token: agent2Token, body: { text: 'hijacked' } }), 403, 'forbidden');
    const patched = await call(app, 'PATCH', `/api/quick-replies/${id}`, { token: agentToken, body: { text: 'Hi, {{name}}.' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'Hello', text: 'Hi, {{name}}.' });
    expectError(await call(app, 'POST', '/api/quick-replies', { token: agentToken, body: { title: '', text: 'x' } }), 400, 'invalid_request', 'title');

    expectError(await call(app, 'DELETE', `/api/quick-replies/${id}`, { token: agent2Token }), 403, 'forbidden');
    const del = await app.request(`/api/quick-replies/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    expect(del.status).toBe(204);
    expectError(await call(app, 'GET', `/api/quick-replies/${id}`, { token: agentToken }), 404, 'not_found');
    expectError(await call(app, 'DELETE', `/api/quick-replies/${id}`, { token: adminToken }), 404, 'not_found');
  });
});

describe('contacts', () => {
  it('shows a contact with its identities and finds it by phone (digits only)', async () => {
    const c = await t.db.insertInto('contacts').values({ name: 'Ivan Petrov', phone: '+7 916 123-00-01' }).returningAll().executeTakeFirstOrThrow();
    await t.db
      .insertInto('contact_identities')
      .values([
        { contact_id: c.id, channel_kind: 'whatsapp', external_id: '79161230001' },
        { contact_id: c.id, channel_kind: 'vk', external_id: '1234' },
      ])
      .execute();
    const waOnly = await t.db.insertInto('contacts').values({ name: 'Olga' }).returningAll().executeTakeFirstOrThrow();
    await t.db.insertInto('contact_identities').values({ contact_id: waOnly.id, channel_kind: 'whatsapp', external_id: '4915112345678' }).execute();

    const expected = {
      id: c.id,
      name: 'Ivan Petrov',
      phone: '+7 916 123-00-01',
      identities: [
        { channelKind: 'whatsapp', externalId: '79161230001' },
        { channelKind: 'vk', externalId: '1234' },
      ],
    };
    const byId = await call(app, 'GET', `/api/contacts/${c.id}`, { token: agentToken });
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject(expected);

    const byPhone = await call(app, 'GET', `/api/contacts?phone=${encodeURIComponent('+7 (916) 123-00-01')}`, { token: agentToken });
    expect(byPhone.status).toBe(200);
    expect(byPhone.body).toMatchObject(expected);

    const byWaId = await call(app, 'GET', '/api/contacts?phone=%2B49%20151%2012345678', { token: agentToken });
    expect(byWaId.body).toMatchObject({ id: waOnly.id, name: 'Olga', identities: [{ channelKind: 'whatsapp', externalId: '4915112345678' }] });
    expect(byWaId.body.phone).toBeUndefined();

    // International form with or without `+`; a national form (8 …) is not a number taskwire can read.
    const digitsOnly = await call(app, 'GET', '/api/contacts?phone=79161230001', { token: agentToken });
    expect(digitsOnly.body).toMatchObject({ id: c.id });
    expectError(await call(app, 'GET', `/api/contacts?phone=${encodeURIComponent('8 916 123-00-01')}`, { token: agentToken }), 400, 'invalid_request', 'phone');
    expectError(await call(app, 'GET', '/api/contacts?phone=70000000000', { token: agentToken }), 400, 'invalid_request', 'phone');
    expectError(await call(app, 'GET', `/api/contacts?phone=${encodeURIComponent('+7 916 123-00-09')}`, { token: agentToken }), 404, 'not_found');
    expectError(await call(app, 'GET', '/api/contacts', { token: agentToken }), 400, 'invalid_request', 'phone');
    expectError(await call(app, 'GET', '/api/contacts?phone=abc', { token: agentToken }), 400, 'invalid_request', 'phone');
    expectError(await call(app, 'GET', '/api/contacts/999999', { token: agentToken }), 404, 'not_found');
    expectError(await call(app, 'GET', `/api/contacts/${c.id}`), 401, 'unauthorized');
  });
});
