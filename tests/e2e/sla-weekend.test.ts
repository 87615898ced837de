/**
 * Issue 13: a response-time target in business hours across a weekend, in seconds. The workers'
 * SLA clock is injected (activities/sla.ts): calendar time starts on Friday 19:00 in Moscow and
 * runs 21,600 times faster than real time (a real second is 6 hours), so a customer who writes
 * after closing on Friday is due on Monday morning and the breach comes ~10 real seconds later,
 * though the workers stop and start again meanwhile. Real Temporal dev server, real PostgreSQL, fake VK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDuration, type SlaClock } from '../../activities/sla.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { SA } from '../../workflows/shared/temporal.js';

/** Friday 4 December 2026, 19:00 in Moscow (UTC+3): after closing. */
const FRIDAY_EVENING = Date.parse('2026-12-04T19:00:00+03:00');
const SCALE = 21_600;
let realStart = Date.now();
const slaClock: SlaClock = { scale: SCALE, now: () => FRIDAY_EVENING + (Date.now() - realStart) * SCALE };

let h: Harness;
let seniorId: string;

beforeAll(async () => {
  h = await startHarness({ CONVERSATION_IDLE_SECONDS: '2' }, { slaClock });
  await h.startWorkers();
  seniorId = (await h.api('POST', '/api/employees', { name: 'Дежурный Павел', role: 'agent' })).body.id;
  const hours = ['09:00', '18:00'];
  await h.createVkChannel({
    sla: {
      firstResponseSeconds: 1800,
      escalateToIds: [seniorId],
      businessHours: { timezone: 'Europe/Moscow', days: { mon: hours, tue: hours, wed: hours, thu: hours, fri: hours } },
    },
  });
});

afterAll(async () => {
  await h?.close();
});

describe('business hours across a weekend', () => {
  it("a message after Friday's closing is due 30 business minutes into Monday, and breaches then", async () => {
    const peer = 512370201;
    const base = await readFixture('vk/message_new.text.json');
    realStart = Date.now(); // calendar time: Friday 19:00 from now on
    await h.postVk(vkMessage(base, { peer, id: 1, text: 'Добрый вечер! Заказ не пришёл' }));

    const task = await h.eventually(async () => {
      const row = await h.db.selectFrom('contact_identities').select('contact_id').where('external_id', '=', String(peer)).executeTakeFirst();
      const [t] = row ? ((await h.api('GET', `/api/tasks?contactId=${row.contact_id}`)).body.items as any[]) : [];
      return t?.sla ? t : undefined;
    }, 20_000, 'the clock');
    // Started on the weekend (Friday evening or Saturday, calendar time); due Monday 09:30 Moscow.
    expect(Date.parse(task.sla.startedAt)).toBeGreaterThanOrEqual(FRIDAY_EVENING);
    expect(Date.parse(task.sla.startedAt)).toBeLessThan(Date.parse('2026-12-07T09:00:00+03:00'));
    expect(task.sla.dueAt).toBe('2026-12-07T06:30:00.000Z');
    expect(task.sla.breachedAt).toBeUndefined();
    const due = await h.eventually(async () => (await h.client.workflow.getHandle(h.conversationId(peer)).describe()).typedSearchAttributes.get(SA.slaDueAt), 10_000, 'TwSlaDueAt');
    expect(due.toISOString()).toBe('2026-12-07T06:30:00.000Z');
    // The clock is a durable timer: the workers stopping and starting again over the weekend change nothing.
    await h.stopWorkers();
    await h.startWorkers();

    const breached = await h.eventually(async () => {
      const t = (await h.api('GET', `/api/tasks/${task.id}`)).body;
      return t.sla?.breachedAt ? t : undefined;
    }, 40_000, 'the breach on Monday');
    // Not before Monday 09:30 came on the calendar (the weekend took ~10 real seconds).
    expect(slaClock.now()).toBeGreaterThanOrEqual(Date.parse('2026-12-07T06:30:00.000Z'));
    expect(breached.sla.breachedAt).toBe('2026-12-07T06:30:00.000Z');
    expect(breached.assigneeIds).toContain(seniorId);
    const note = breached.comments.find((c: any) => c.direction === 'internal');
    // How long: from the message (Friday evening or Saturday, calendar time) to Monday 09:30.
    const waited = Date.parse(breached.sla.dueAt) - Date.parse(breached.sla.startedAt);
    expect(waited).toBeGreaterThan(36 * 3600_000);
    expect(note.text).toContain(`the customer has waited ${formatDuration(waited)} for an answer (since ${breached.sla.startedAt})`);
    expect(note.text).toMatch(/the first-response target is 30 min of business hours\. Escalated to Дежурный Павел/);
    // The search attributes follow in the workflow task after the breach's activity (which wrote the task row above).
    const sa = await h.eventually(async () => {
      const shown = (await h.client.workflow.getHandle(h.conversationId(peer)).describe()).typedSearchAttributes;
      return shown.get(SA.slaBreached) === true ? shown : undefined;
    }, 10_000, 'TwSlaBreached');
    expect(sa.get(SA.slaBreached)).toBe(true);
    expect(sa.get(SA.slaDueAt)).toBeUndefined();
  });
});
