/**
 * Issue 13, response-time targets (SLA), on the real clock with short targets: a customer message
 * starts the clock, an agent's reply before the due time stops it (no breach), a clock that runs
 * out is a breach (escalation, internal comment, `slaBreached=true`, `TwSlaBreached = true` in
 * `temporal workflow list`, the counter), and a new customer message after an answer starts the
 * next-response clock. The settings are validated with 400s naming the field. Real Temporal dev
 * server (its CLI too), real PostgreSQL, fake VK.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { replayAll } from '../support/replay.js';
import { SA } from '../../workflows/shared/temporal.js';

let h: Harness;
let channelId: string;
let agentToken: string;
let agentId: string;
let seniorId: string;
let messageNew: Record<string, any>;
let nextMessageId = 1;

const FIRST_SECONDS = 4;
const NEXT_SECONDS = 3;

beforeAll(async () => {
  // A short idle period: a run that waits for a clock continues as new and waits there.
  h = await startHarness({ CONVERSATION_IDLE_SECONDS: '2' });
  await h.startWorkers();
  const agent = await h.api('POST', '/api/employees', { name: 'Агент Ольга', role: 'agent' });
  agentToken = agent.body.token;
  agentId = agent.body.id;
  seniorId = (await h.api('POST', '/api/employees', { name: 'Старшая смены Марина', role: 'agent' })).body.id;
  const template = await h.api('POST', '/api/task-templates', { name: 'VK', creator: { type: 'channelOwner' }, assigneeIds: [agentId], customFields: [] });
  channelId = await h.createVkChannel({
    taskTemplateId: template.body.id,
    sla: { firstResponseSeconds: FIRST_SECONDS, nextResponseSeconds: NEXT_SECONDS, escalateToIds: [seniorId] },
  });
  messageNew = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
});

const write = (peer: number, text: string) => h.postVk(vkMessage(messageNew, { peer, id: nextMessageId++, text }));

async function taskOf(peer: number, ready: (task: any) => boolean = (t) => Boolean(t.sla), what = 'the task') {
  return h.eventually(async () => {
    const row = await h.db.selectFrom('contact_identities').select('contact_id').where('external_id', '=', String(peer)).executeTakeFirst();
    if (!row) return undefined;
    const [summary] = (await h.api('GET', `/api/tasks?contactId=${row.contact_id}`)).body.items as any[];
    const task = summary && (await h.api('GET', `/api/tasks/${summary.id}`)).body;
    return task && ready(task) ? task : undefined;
  }, 30_000, `${what} of ${peer}`);
}

const reply = (taskId: string, text: string) => h.api('POST', `/api/tasks/${taskId}/comments`, { text, notifyContact: true }, agentToken);

async function shownAttributes(peer: number) {
  const sa = (await h.client.workflow.getHandle(h.conversationId(peer)).describe()).typedSearchAttributes;
  return { dueAt: sa.get(SA.slaDueAt)?.toISOString(), breached: sa.get(SA.slaBreached) };
}

async function breachesCounted(): Promise<number> {
  const text = await (await h.app.request('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith('taskwire_sla_breaches_total '));
  return Number(line?.split(' ')[1]);
}

const run = promisify(execFile);
async function temporalList(query: string): Promise<string[]> {
  const { stdout } = await run(inject('temporalCli'), ['workflow', 'list', '--address', inject('temporalAddress'), '--namespace', h.config.TEMPORAL_NAMESPACE, '--query', query, '-o', 'json']);
  const text = stdout.trim();
  if (!text) return [];
  const parsed = text.startsWith('[') ? JSON.parse(text) : text.split('\n').map((l) => JSON.parse(l));
  return (parsed as any[]).map((w) => w.execution?.workflowId ?? w.execution?.workflow_id);
}

describe('the sla setting', () => {
  it('is validated: unknown timezone, bad hours, unknown employees are 400s naming the field; a valid one is shown', async () => {
    const patch = (sla: unknown) => h.api('PATCH', `/api/channels/${channelId}`, { settings: { sla } });
    const hours = (days: unknown, timezone = 'Europe/Moscow') => ({ firstResponseSeconds: 60, businessHours: { timezone, days } });

    const tz = await patch(hours({ mon: ['09:00', '18:00'] }, 'Mars/Olympus_Mons'));
    expect(tz.status).toBe(400);
    expect(tz.body.error.details.field).toBe('settings.sla.businessHours.timezone');
    expect(tz.body.error.message).toMatch(/unknown timezone "Mars\/Olympus_Mons"/);

    const malformed = await patch(hours({ tue: ['9am', '18:00'] }));
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.details.field).toBe('settings.sla.businessHours.days.tue.0');
    const backwards = await patch(hours({ wed: ['18:00', '09:00'] }));
    expect(backwards.status).toBe(400);
    expect(backwards.body.error.message).toMatch(/opening "18:00" must be before closing "09:00"/);
    const noDay = await patch(hours({}));
    expect(noDay.status).toBe(400);
    const unknownDay = await patch(hours({ funday: ['09:00', '18:00'] }));
    expect(unknownDay.body.error.details.field).toBe('settings.sla.businessHours.days.funday');

    const nobody = await patch({ firstResponseSeconds: 60, escalateToIds: [seniorId, '987654'] });
    expect(nobody.status).toBe(400);
    expect(nobody.body.error.details).toMatchObject({ field: 'settings.sla.escalateToIds', missing: ['987654'] });
    expect((await patch({ firstResponseSeconds: 0 })).status).toBe(400);

    // The OpenAPI document describes the setting, the task's clock and the filter.
    const doc = (await h.api('GET', '/openapi.json')).body;
    expect(Object.keys(doc.components.schemas.SlaSettings.properties).sort()).toEqual(['businessHours', 'escalateToIds', 'firstResponseSeconds', 'nextResponseSeconds']);
    expect(doc.components.schemas.TaskSummary.properties.sla).toBeDefined();
    expect(doc.components.schemas.TaskSla.properties.breachedAt.description).toMatch(/ran out/);
    expect(doc.paths['/api/tasks'].get.parameters.map((p: any) => p.name)).toContain('slaBreached');

    // Nothing of that changed the channel.
    const shown = (await h.api('GET', `/api/channels/${channelId}`)).body.settings.sla;
    expect(shown).toEqual({ firstResponseSeconds: FIRST_SECONDS, nextResponseSeconds: NEXT_SECONDS, escalateToIds: [seniorId] });
  });
});

describe('response-time clocks', () => {
  let answeredTask: any;
  let breachedTask: any;
  const answeredPeer = 512370101;
  const breachedPeer = 512370102;

  it("an agent's reply before the due time stops the clock; the unanswered one runs out: escalation, comment, list, search attribute, counter", async () => {
    const countedBefore = await breachesCounted();
    await write(answeredPeer, 'Здравствуйте, где мой заказ?');
    await write(breachedPeer, 'Здравствуйте, хочу вернуть товар');
    answeredTask = await taskOf(answeredPeer);
    breachedTask = await taskOf(breachedPeer);
    for (const task of [answeredTask, breachedTask]) {
      expect(task.sla).toMatchObject({ kind: 'first' });
      expect(Date.parse(task.sla.dueAt) - Date.parse(task.sla.startedAt)).toBe(FIRST_SECONDS * 1000);
      expect(task.sla.breachedAt).toBeUndefined();
    }
    // Ops see the due time of a running clock.
    expect((await h.eventually(async () => (await shownAttributes(answeredPeer)).dueAt, 10_000, 'TwSlaDueAt')) ?? '').toBe(answeredTask.sla.dueAt);

    expect((await reply(answeredTask.id, 'Заказ у курьера, будет сегодня')).status).toBe(201);

    // The unanswered clock runs out.
    const breached = await taskOf(breachedPeer, (t) => Boolean(t.sla?.breachedAt), 'the breach');
    expect(breached.sla.breachedAt).toBe(breached.sla.dueAt);
    expect(breached.assigneeIds).toEqual([agentId, seniorId]);
    const note = breached.comments.find((c: any) => c.direction === 'internal');
    expect(note.text).toMatch(/the customer has waited 4 s for an answer/);
    expect(note.text).toMatch(/the first-response target is 4 s\. Escalated to Старшая смены Марина/);
    expect(note.notifyContact).toBe(false);
    expect(h.vk.sent.filter((m) => m.peerId === breachedPeer)).toEqual([]);

    // The answered one did not, though its due time has passed.
    const answered = await taskOf(answeredPeer);
    expect(Date.now()).toBeGreaterThan(Date.parse(answered.sla.dueAt));
    expect(answered.sla.answeredAt).toBeDefined();
    expect(answered.sla.breachedAt).toBeUndefined();
    expect(answered.assigneeIds).toEqual([agentId]);
    expect(answered.comments.filter((c: any) => c.direction === 'internal')).toEqual([]);

    const listed = (await h.api('GET', `/api/tasks?slaBreached=true`, undefined, agentToken)).body.items.map((t: any) => t.id);
    expect(listed).toContain(breached.id);
    expect(listed).not.toContain(answered.id);
    expect((await h.api('GET', `/api/tasks?slaBreached=false`)).body.items.map((t: any) => t.id)).toContain(answered.id);

    expect(await h.eventually(async () => ((await shownAttributes(breachedPeer)).breached === true ? true : undefined), 10_000, 'TwSlaBreached')).toBe(true);
    expect((await shownAttributes(breachedPeer)).dueAt).toBeUndefined();
    expect(await h.eventually(async () => ((await shownAttributes(answeredPeer)).dueAt === undefined ? true : undefined), 10_000, 'TwSlaDueAt cleared')).toBe(true);

    const query = `TwSlaBreached = true AND TaskQueue = '${h.config.TEMPORAL_TASK_QUEUE}'`;
    const found = await h.eventually(async () => {
      const ids = await temporalList(query);
      return ids.includes(h.conversationId(breachedPeer)) ? ids : undefined;
    }, 20_000, '`temporal workflow list --query "TwSlaBreached = true"`');
    expect(found).not.toContain(h.conversationId(answeredPeer));

    expect(await breachesCounted()).toBe(countedBefore + 1);
  });

  it('a new customer message after the answer starts the next-response clock', async () => {
    const first = answeredTask.sla;
    await write(answeredPeer, 'Спасибо! А можно доставить после 18:00?');
    const task = await taskOf(answeredPeer, (t) => t.sla?.startedAt !== first.startedAt, 'the next clock');
    expect(task.sla.kind).toBe('next');
    expect(task.sla.answeredAt).toBeUndefined();
    expect(Date.parse(task.sla.dueAt) - Date.parse(task.sla.startedAt)).toBe(NEXT_SECONDS * 1000);
    expect(await h.eventually(async () => ((await shownAttributes(answeredPeer)).dueAt === task.sla.dueAt ? true : undefined), 10_000, 'TwSlaDueAt')).toBe(true);
    // A second message while it runs does not restart it: the customer has waited since the first.
    await write(answeredPeer, 'Или в субботу');
    const again = await taskOf(answeredPeer, (t) => t.comments.length >= 4, 'the second message');
    expect(again.sla.startedAt).toBe(task.sla.startedAt);
    expect((await reply(task.id, 'Да, после 18:00 можно')).status).toBe(201);
    const answered = await taskOf(answeredPeer, (t) => Boolean(t.sla?.answeredAt), 'the answer');
    expect(answered.sla.breachedAt).toBeUndefined();
  });

  it('after a breach and an answer, the next customer message starts a fresh clock: no longer listed as breached', async () => {
    // The run that breached has nothing to wait for: it completes; the late answer comes to a new run.
    const handle = h.client.workflow.getHandle(h.conversationId(breachedPeer));
    await h.eventually(async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined), 20_000, 'the run to complete');
    expect((await reply(breachedTask.id, 'Извините за ожидание: оформим возврат')).status).toBe(201);
    const answered = await taskOf(breachedPeer, (t) => Boolean(t.sla?.answeredAt), 'the late answer');
    expect(answered.sla.breachedAt).toBeDefined(); // answered late: still shown as breached
    await write(breachedPeer, 'Хорошо, жду курьера');
    const next = await taskOf(breachedPeer, (t) => t.sla?.kind === 'next', 'the next clock');
    expect(next.sla.breachedAt).toBeUndefined();
    expect((await h.api('GET', `/api/tasks?slaBreached=true`)).body.items.map((t: any) => t.id)).not.toContain(next.id);
    expect(await h.eventually(async () => ((await shownAttributes(breachedPeer)).breached === false ? true : undefined), 10_000, 'TwSlaBreached false')).toBe(true);
    expect((await reply(next.id, 'Курьер будет завтра')).status).toBe(201);
  });

  it('a change of the setting applies to clocks started afterwards', async () => {
    const peer = 512370103;
    await write(peer, 'Добрый день');
    const task = await taskOf(peer);
    expect(Date.parse(task.sla.dueAt) - Date.parse(task.sla.startedAt)).toBe(FIRST_SECONDS * 1000);
    const changed = await h.api('PATCH', `/api/channels/${channelId}`, { settings: { sla: { firstResponseSeconds: 3600, nextResponseSeconds: 3600 } } });
    expect(changed.status).toBe(200);
    // The clock that runs keeps its target and runs out.
    const breached = await taskOf(peer, (t) => Boolean(t.sla?.breachedAt), 'the breach');
    expect(breached.sla.breachedAt).toBe(task.sla.dueAt);
    expect(breached.assigneeIds).toEqual([agentId, seniorId]); // the escalation of its start
    // A new conversation's clock has the new target.
    await write(512370104, 'Здравствуйте');
    const later = await taskOf(512370104);
    expect(Date.parse(later.sla.dueAt) - Date.parse(later.sla.startedAt)).toBe(3600 * 1000);
    // No target at all: no clock.
    await h.api('PATCH', `/api/channels/${channelId}`, { settings: { sla: null } });
    expect((await h.api('GET', `/api/channels/${channelId}`)).body.settings.sla).toBeUndefined();
    await write(512370105, 'Здравствуйте');
    const none = await taskOf(512370105, (t) => t.comments.length === 1, 'the task');
    expect(none.sla).toBeUndefined();
  });
});

describe('determinism', () => {
  it('the histories of this file (clocks started, stopped, run out; continue-as-new to wait) replay with the current workflow code', async () => {
    const { replayed, failures } = await replayAll(h, 'sla', (id) => id === h.conversationId(512370102));
    expect(replayed).toBeGreaterThan(30);
    expect(failures).toEqual([]);
  });
});
