/**
 * Issue 10: an event that cannot be recorded is set aside as a dead letter — listed, counted in
 * /metrics and Temporal, retryable by an admin — and the conversation goes on with the next event.
 *
 * The poison here is a database trigger (as an operator's constraint would be) that refuses one
 * message's text; "fixing the cause" is dropping it.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  await h.createVkChannel();
  await sql`
    create function refuse_poison() returns trigger language plpgsql as $$
    begin
      if new.text like '%POISON%' then raise exception 'refused by the test' using errcode = 'check_violation'; end if;
      return new;
    end $$`.execute(h.db);
});

const poisonOn = () => sql`create trigger refuse_poison before insert on comments for each row execute function refuse_poison()`.execute(h.db);
const poisonOff = () => sql`drop trigger refuse_poison on comments`.execute(h.db);

afterAll(async () => {
  await h?.close();
});

const commentsOf = async (taskId: string): Promise<string[]> => (await h.api('GET', `/api/tasks/${taskId}`)).body.comments.map((c: any) => c.text);

async function taskWith(text: string): Promise<any> {
  const items = (await h.api('GET', '/api/tasks')).body.items as any[];
  for (const t of items) if ((await commentsOf(t.id)).includes(text)) return t;
  return undefined;
}

it('a message the database refuses is set aside, the next one arrives in seconds, and a retry records it once the cause is fixed', async () => {
  await poisonOn();
  const base = await readFixture('vk/message_new.text.json');
  const peer = 512349311; // no other test file uses it: workflow ids are shared on the one dev server
  expect((await h.postVk(vkMessage(base, { peer, id: 11, text: 'POISON pill' }))).text).toBe('ok');
  expect((await h.postVk(vkMessage(base, { peer, id: 12, text: 'the message after it' }))).text).toBe('ok');

  // The next message is not held back by the refused one.
  const t0 = Date.now();
  const task = await h.eventually(() => taskWith('the message after it'), 15_000, 'the message after the refused one');
  const secondsToNext = (Date.now() - t0) / 1000;
  expect(secondsToNext).toBeLessThan(15);
  expect(await commentsOf(task.id)).not.toContain('POISON pill');

  // Listed for admins, with the reason and the conversation's workflow.
  const listed = await h.eventually(async () => {
    const items = (await h.api('GET', '/api/dead-letters')).body.items as any[];
    return items.find((d) => d.conversation === h.conversationId(peer));
  }, 15_000, 'the dead letter');
  expect(listed).toMatchObject({ status: 'dead', workflowType: 'conversation', reason: 'the event could not be recorded', failures: 1 });
  expect(listed.error.message).toMatch(/refused by the test/);
  expect(listed.error.type).toBe('InvalidData');
  expect(Date.parse(listed.receivedAt)).not.toBeNaN();

  // Visible in /metrics and in Temporal (TwDeadLetters).
  const metricsText = await (await h.app.request('/metrics')).text();
  expect(metricsText).toMatch(/taskwire_dead_letters\{status="dead"\} [1-9]/);
  await h.eventually(async () => {
    const d = await h.client.workflow.getHandle(h.conversationId(peer)).describe();
    return d.searchAttributes.TwDeadLetters?.[0] === 1;
  }, 15_000, 'TwDeadLetters = 1');

  // An agent may not see or retry dead letters.
  const agent = await h.api('POST', '/api/employees', { name: 'Agent DL', role: 'agent' });
  expect((await h.api('GET', '/api/dead-letters', undefined, agent.body.token)).status).toBe(403);
  expect((await h.api('POST', `/api/dead-letters/${listed.id}/retry`, undefined, agent.body.token)).status).toBe(403);

  // A retry while the cause is still there: dead again, one more failure.
  const early = await h.api('POST', `/api/dead-letters/${listed.id}/retry`);
  expect(early.status, JSON.stringify(early.body)).toBe(202);
  expect(early.body.deadLetter.status).toBe('retrying');
  await h.eventually(async () => {
    const d = (await h.api('GET', '/api/dead-letters?status=dead')).body.items.find((x: any) => x.id === listed.id);
    return d?.failures === 2;
  }, 20_000, 'the second failure');

  // The cause fixed, the retry records it in the task, and the letter is resolved.
  await poisonOff();
  const retried = await h.api('POST', `/api/dead-letters/${listed.id}/retry`);
  expect(retried.status).toBe(202);
  await h.eventually(async () => (await commentsOf(task.id)).includes('POISON pill'), 20_000, 'the retried message in the task');
  const resolved = await h.eventually(async () => {
    const d = (await h.api('GET', '/api/dead-letters?status=resolved')).body.items.find((x: any) => x.id === listed.id);
    return d;
  }, 15_000, 'the dead letter resolved');
  expect(resolved.resolvedAt).not.toBeNull();
  // Recorded once.
  const texts = await commentsOf(task.id);
  expect(texts.filter((t) => t === 'POISON pill')).toHaveLength(1);

  // A resolved letter is not retried again.
  expect((await h.api('POST', `/api/dead-letters/${listed.id}/retry`)).status).toBe(409);
  expect((await h.api('POST', '/api/dead-letters/99999/retry')).status).toBe(404);
});

it('a publication comment the database refuses is set aside too; the next comment makes the task, and the retry joins it', async () => {
  await poisonOn();
  const comment = await readFixture('vk/wall_reply_new.json');
  const post = 991542; // a post no other test file uses (publication workflow ids are shared)
  const at = (id: number, text: string, eventId: string) => ({
    ...comment,
    event_id: eventId,
    object: { ...comment.object, id, post_id: post, text },
  });
  expect((await h.postVk(at(88001, 'POISON comment', 'dl-pub-1'))).text).toBe('ok');
  expect((await h.postVk(at(88002, 'a comment after it', 'dl-pub-2'))).text).toBe('ok');
  const task = await h.eventually(() => taskWith('a comment after it'), 20_000, 'the comment after the refused one');
  const letter = await h.eventually(async () => {
    const items = (await h.api('GET', '/api/dead-letters?status=dead')).body.items as any[];
    return items.find((d) => d.workflowType === 'publication');
  }, 15_000, 'the publication dead letter');
  expect(letter.conversation).toMatch(/^publication\/vk-\d+\/wall\/-\d+_991542$/);
  await poisonOff();
  expect((await h.api('POST', `/api/dead-letters/${letter.id}/retry`)).status).toBe(202);
  await h.eventually(async () => (await commentsOf(task.id)).includes('POISON comment'), 20_000, 'the retried comment in the task');
  await h.eventually(async () => (await h.api('GET', '/api/dead-letters?status=resolved')).body.items.some((d: any) => d.id === letter.id), 15_000, 'resolved');
});
