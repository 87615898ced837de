/**
 * `GET /api/task-changes` over a feed the test drives (the real one, fed by PostgreSQL, is in
 * tests/e2e/task-changes.test.ts): what a client reads when changes come faster than it reads —
 * one event per task however often it changed, and `resync` instead of an endless backlog — and
 * 503 where no feed runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { bootstrapOwner } from '../../api/auth.js';
import type { TaskChanges, TaskChangeSubscriber } from '../../api/task-changes.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { takeEvents } from '../support/sse.js';
import { OWNER_TOKEN, testApp } from './helpers.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
  await bootstrapOwner(t.db, OWNER_TOKEN);
});

afterAll(async () => {
  await t?.drop();
});

/** A feed whose subscribers the test calls directly. */
function fakeFeed() {
  const subscribers = new Set<TaskChangeSubscriber>();
  const feed: TaskChanges & { subscribers: Set<TaskChangeSubscriber> } = {
    subscribers,
    subscribe(s) {
      subscribers.add(s);
      s.live(false);
      return () => void subscribers.delete(s);
    },
    async close() {
      for (const s of subscribers) s.closed();
    },
  };
  return feed;
}

/** Reads the stream until it ends: its events. */
async function readAll(body: ReadableStream<Uint8Array>) {
  return takeEvents(await new Response(body).text()).events;
}

const auth = { authorization: `Bearer ${OWNER_TOKEN}` };

const streamingApp = (feed: TaskChanges) => createApp({ ...testApp(t.db).deps, taskChanges: feed });

describe('GET /api/task-changes with a client that reads slowly', () => {
  it('answers 503 unavailable in a process without a feed', async () => {
    const res = await testApp(t.db).app.request('/api/task-changes', { headers: auth });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  });

  it('sends one event per task however often it changed while the client was behind', async () => {
    const feed = fakeFeed();
    const answer = await streamingApp(feed).request('/api/task-changes', { headers: auth });
    expect(answer.status).toBe(200);
    const [subscriber] = feed.subscribers;
    // All before the stream wrote anything: they are pending together.
    for (let i = 0; i < 5; i++) {
      subscriber!.changed('7');
      subscriber!.changed('8');
    }
    subscriber!.changed('7');
    await feed.close();
    const events = await readAll(answer.body!);
    expect(events).toEqual([
      { event: 'ready', data: {} },
      { event: 'task', data: { taskId: '7' } },
      { event: 'task', data: { taskId: '8' } },
    ]);
    expect(feed.subscribers.size).toBe(0); // the stream unsubscribed when it ended
  });

  it('says resync instead of keeping more than 10,000 tasks for a client that fell behind', async () => {
    const feed = fakeFeed();
    const answer = await streamingApp(feed).request('/api/task-changes', { headers: auth });
    const [subscriber] = feed.subscribers;
    for (let i = 1; i <= 10_001; i++) subscriber!.changed(String(i));
    subscriber!.changed('20000');
    await feed.close();
    const events = await readAll(answer.body!);
    expect(events[0]).toEqual({ event: 'ready', data: {} });
    expect(events[1]).toEqual({ event: 'resync', data: {} });
    // What came after the resync is still named.
    expect(events.slice(2)).toEqual([
      { event: 'task', data: { taskId: '10001' } },
      { event: 'task', data: { taskId: '20000' } },
    ]);
  });

  it('unsubscribes when the client hangs up', async () => {
    let subscribed = 0;
    let unsubscribed = 0;
    const feed: TaskChanges = {
      subscribe(s) {
        subscribed++;
        s.live(false);
        return () => void unsubscribed++;
      },
      close: async () => {},
    };
    const answer = await streamingApp(feed).request('/api/task-changes', { headers: auth });
    const reader = answer.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: ready');
    await reader.cancel();
    await expect.poll(() => unsubscribed, { timeout: 5_000 }).toBe(1);
    expect(subscribed).toBe(1);
  });
});
