import { describe, expect, it } from 'vitest';
import { CHANNEL_CACHE_MS, TOKEN_CACHE_MS, cachedChannel, cachedEmployeeByToken, forgetCachedChannels } from '../../api/read-cache.js';
import type { Db } from '../../db/index.js';
import type { Channel, Employee } from '../../db/schema.js';

/** A database read that answers `rows` in turn (the last one from then on), counting the reads. */
function counting<T>(rows: Array<T | undefined | Error>) {
  let reads = 0;
  return {
    get reads() {
      return reads;
    },
    load: async () => {
      const r = rows[Math.min(reads++, rows.length - 1)];
      if (r instanceof Error) throw r;
      return r;
    },
  };
}

type Named = { name: string };
/** A cache's read: `key` through `load`, at the time `at`. */
type CachedRead<T extends Named> = (db: Db, key: string, load: () => Promise<T | undefined>, at: number) => Promise<T | undefined>;

/** `cached` keeps the first row for `periodMs` (one read), and reads the second at the period's end; returns the counted source. */
async function keptForAPeriod<T extends Named>(cached: CachedRead<T>, periodMs: number, first: T, second: T, key: string) {
  const db = {} as Db;
  const src = counting([first, second]);
  const t0 = 1_000_000;
  expect((await cached(db, key, src.load, t0))?.name).toBe(first.name);
  expect((await cached(db, key, src.load, t0 + periodMs - 1))?.name).toBe(first.name);
  expect(src.reads).toBe(1);
  expect((await cached(db, key, src.load, t0 + periodMs))?.name).toBe(second.name);
  return src;
}

/** A read of `cached` that failed is not kept: the next one reads again; returns the db handle used. */
async function failedReadNotKept<T extends Named>(cached: CachedRead<T>, back: T, key: string) {
  const db = {} as Db;
  const src = counting<T>([new Error('connection refused'), back]);
  const t0 = 3_000_000;
  await expect(cached(db, key, src.load, t0)).rejects.toThrow('connection refused');
  expect((await cached(db, key, src.load, t0 + 1))?.name).toBe(back.name);
  return db;
}

/** Webhook routing's channel rows: one database read per channel and period, a change seen at once. */
describe('channel cache', () => {
  const channel = (name: string) => ({ id: '1', name }) as unknown as Channel;

  it('reads a channel once per period, then again', async () => {
    const src = await keptForAPeriod(cachedChannel, CHANNEL_CACHE_MS, channel('first'), channel('second'), 'vk:1');
    expect(src.reads).toBe(2);
  });

  it('reads afresh after a change through the same handle, and keeps handles apart', async () => {
    const db = {} as Db;
    const other = {} as Db;
    const src = counting([channel('old'), channel('new')]);
    const t0 = 2_000_000;
    await cachedChannel(db, '#1', src.load, t0);
    forgetCachedChannels(db);
    expect((await cachedChannel(db, '#1', src.load, t0 + 1))?.name).toBe('new');
    const elsewhere = counting([undefined]);
    expect(await cachedChannel(other, '#1', elsewhere.load, t0 + 1)).toBeUndefined();
    expect(elsewhere.reads).toBe(1);
  });

  it('does not keep a failed read', async () => {
    await failedReadNotKept(cachedChannel, channel('back'), 'vk:9');
  });
});

/** Every /api request looks its token up: a found employee is kept a second, a token not found is asked again at once. */
describe('employee-by-token cache', () => {
  const employee = (name: string) => ({ id: '7', name, role: 'agent' }) as unknown as Employee;

  it('keeps a found employee for TOKEN_CACHE_MS, then reads again', async () => {
    await keptForAPeriod(cachedEmployeeByToken, TOKEN_CACHE_MS, employee('Anna'), employee('Anna, renamed'), 'h1');
  });

  it('does not keep a token that was not found, so one created meanwhile works on the next request', async () => {
    const db = {} as Db;
    const src = counting<Employee>([undefined, employee('New')]);
    const t0 = 2_000_000;
    expect(await cachedEmployeeByToken(db, 'h2', src.load, t0)).toBeUndefined();
    expect((await cachedEmployeeByToken(db, 'h2', src.load, t0 + 1))?.name).toBe('New');
  });

  it('does not keep a failed read, and keeps tokens apart from channels', async () => {
    const db = await failedReadNotKept(cachedEmployeeByToken, employee('Back'), 'h3');
    const channels = counting<Channel>([undefined]);
    expect(await cachedChannel(db, 'h3', channels.load, 3_000_002)).toBeUndefined();
    expect(channels.reads).toBe(1);
  });
});
