/**
 * The task change feed, `GET /api/task-changes`: an open event stream names every task that
 * changed — a customer's new task, an agent's comment — once the change is committed; after the
 * server lost its database connection for a while the stream says `resync` and goes on; a
 * shutdown ends it. Real Temporal and PostgreSQL (the notifications come from its triggers).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { takeEvents, type StreamEvent } from '../support/sse.js';

const PEER = 512400001;
const OTHER_PEER = 512400002;

let h: Harness;
let base: Record<string, any>;

/** An open stream and the events read from it so far; `next` waits for one that matches. */
interface OpenStream {
  status: number;
  contentType: string | null;
  next(match: (e: StreamEvent) => boolean, what: string, timeoutMs?: number): Promise<StreamEvent>;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  close(): Promise<void>;
}

async function openStream(token = h.ownerToken): Promise<OpenStream> {
  const res = await h.app.request('/api/task-changes', { headers: { authorization: `Bearer ${token}` } });
  const events: StreamEvent[] = [];
  let notify = () => {};
  const reader = res.body!.getReader();
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      const taken = takeEvents(buffer + decoder.decode(value, { stream: true }));
      buffer = taken.rest;
      events.push(...taken.events);
      notify();
    }
    notify();
  })();
  let closed = false;
  void ended.then(() => (closed = true));
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    async next(match, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = events.findIndex(match);
        if (i >= 0) return events.splice(0, i + 1).at(-1)!;
        if (closed) throw new Error(`the stream ended before ${what}; events: ${JSON.stringify(events)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          notify = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
    ended,
    close: () => reader.cancel().catch(() => {}),
  };
}

/** A metric's value on /metrics (0 when absent). */
async function metric(name: string): Promise<number> {
  const text = await (await h.app.request('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

const isTask = (taskId: string) => (e: StreamEvent) => e.event === 'task' && e.data.taskId === taskId;

async function taskOfComment(text: string): Promise<string> {
  return h.eventually(async () => {
    const row = await h.db.selectFrom('comments').select('task_id').where('text', '=', text).executeTakeFirst();
    return row?.task_id;
  }, 30_000, `the task of "${text}"`);
}

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  await h.createVkChannel();
  base = await readFixture('vk/message_new.text.json');
}, 180_000);

afterAll(async () => {
  await h?.close();
});

describe('GET /api/task-changes', () => {
  it('needs a token', async () => {
    const res = await h.api('GET', '/api/task-changes', undefined, 'tw_not_a_token');
    expect(res.status).toBe(401);
  });

  it('names the task of a new customer message, then of an agent comment on it', async () => {
    const stream = await openStream();
    try {
      expect(stream.status).toBe(200);
      expect(stream.contentType).toMatch(/^text\/event-stream/);
      await stream.next((e) => e.event === 'ready', 'ready');

      const text = 'Здравствуйте, заказ 7781 пришёл без ножек';
      expect(await h.postVk(vkMessage(base, { peer: PEER, id: 1, text }))).toEqual({ status: 200, text: 'ok' });
      const taskId = await taskOfComment(text);
      await stream.next(isTask(taskId), `a change of task ${taskId} (new message)`);
      // What the event named shows the message.
      const read = await h.api('GET', `/api/tasks/${taskId}`);
      expect(read.body.comments.map((c: { text: string }) => c.text)).toContain(text);

      const note = await h.api('POST', `/api/tasks/${taskId}/comments`, { text: 'Проверим на складе' });
      expect(note.status).toBe(201);
      await stream.next(isTask(taskId), `a change of task ${taskId} (agent comment)`);
    } finally {
      await stream.close();
    }
  });

  it('says resync after the database connection was lost, then goes on naming changes', async () => {
    const resyncsBefore = await metric('taskwire_task_change_resyncs_total');
    const stream = await openStream();
    try {
      await stream.next((e) => e.event === 'ready', 'ready');
      expect(await metric('taskwire_task_change_streams')).toBeGreaterThanOrEqual(1);
      const { rows } = await sql<{ ended: boolean }>`
        select pg_terminate_backend(pid) as ended from pg_stat_activity
        where application_name = 'taskwire task change feed' and datname = current_database()`.execute(h.db);
      expect(rows.length).toBe(1);
      await stream.next((e) => e.event === 'resync', 'resync');
      expect(await metric('taskwire_task_change_resyncs_total')).toBeGreaterThan(resyncsBefore);

      const text = 'Добрый день, можно поменять цвет обивки?';
      expect(await h.postVk(vkMessage(base, { peer: OTHER_PEER, id: 1, text }))).toEqual({ status: 200, text: 'ok' });
      const taskId = await taskOfComment(text);
      await stream.next(isTask(taskId), `a change of task ${taskId} after the reconnect`);
    } finally {
      await stream.close();
    }
  });

  it('leaves no subscriber behind when the client goes away, and ends open streams at shutdown', async () => {
    const before = h.taskChanges.subscriberCount;
    const gone = await openStream();
    await gone.next((e) => e.event === 'ready', 'ready');
    expect(h.taskChanges.subscriberCount).toBe(before + 1);
    await gone.close();
    await h.eventually(async () => h.taskChanges.subscriberCount === before, 5_000, 'the subscriber to leave');

    const open = await openStream();
    await open.next((e) => e.event === 'ready', 'ready');
    await h.taskChanges.close();
    await open.ended;
    // A stream asked for after the shutdown began ends at once.
    const late = await openStream();
    await late.ended;
  });
});
