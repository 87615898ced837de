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

/** Webhook routing's channel rows: one database read per channel and period, a change seen at once. */
describe('channel cache', () => {
  const channel = (name: string) => ({ id: '1', name }) as unknown as Channel;

  it('reads a channel once per period, then again', async () => {
    const db = {} as Db;
    const src = counting([channel('first'), channel('second')]);
    const t0 = 1_000_000;
    expect((await cachedChannel(db, 'vk:1', src.load, t0))?.name).toBe('first');
    expect((await cachedChannel(db, 'vk:1', src.load, t0 + CHANNEL_CACHE_MS - 1))?.name).toBe('first');
    expect(src.reads).toBe(1);
    expect((await cachedChannel(db, 'vk:1', src.load, t0 + CHANNEL_CACHE_MS))?.name).toBe('second');
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
    const db = {} as Db;
    const src = counting([new Error('connection refused'), channel('back')]);
    const t0 = 3_000_000;
    await expect(cachedChannel(db, 'vk:9', src.load, t0)).rejects.toThrow('connection refused');
    expect((await cachedChannel(db, 'vk:9', src.load, t0 + 1))?.name).toBe('back');
  });
});

/** Every /api request looks its token up: a found employee is kept a second, a token not found is asked again at once. */
describe('employee-by-token cache', () => {
  const employee = (name: string) => ({ id: '7', name, role: 'agent' }) as unknown as Employee;
  const reads = (rows: Array<Employee | undefined | Error>) => counting<Employee>(rows);

  it('keeps a found employee for TOKEN_CACHE_MS, then reads again', async () => {
    const db = {} as Db;
    const src = reads([employee('Anna'), employee('Anna, renamed')]);
    const t0 = 1_000_000;
    expect((await cachedEmployeeByToken(db, 'h1', src.load, t0))?.name).toBe('Anna');
    expect((await cachedEmployeeByToken(db, 'h1', src.load, t0 + TOKEN_CACHE_MS - 1))?.name).toBe('Anna');
    expect(src.reads).toBe(1);
    expect((await cachedEmployeeByToken(db, 'h1', src.load, t0 + TOKEN_CACHE_MS))?.name).toBe('Anna, renamed');
  });

  it('does not keep a token that was not found, so one created meanwhile works on the next request', async () => {
    const db = {} as Db;
    const src = reads([undefined, employee('New')]);
    const t0 = 2_000_000;
    expect(await cachedEmployeeByToken(db, 'h2', src.load, t0)).toBeUndefined();
    expect((await cachedEmployeeByToken(db, 'h2', src.load, t0 + 1))?.name).toBe('New');
  });

  it('does not keep a failed read, and keeps tokens apart from channels', async () => {
    const db = {} as Db;
    const src = reads([new Error('connection refused'), employee('Back')]);
    const t0 = 3_000_000;
    await expect(cachedEmployeeByToken(db, 'h3', src.load, t0)).rejects.toThrow('connection refused');
    expect((await cachedEmployeeByToken(db, 'h3', src.load, t0 + 1))?.name).toBe('Back');
    const channels = counting<Channel>([undefined]);
    expect(await cachedChannel(db, 'h3', channels.load, t0 + 2)).toBeUndefined();
    expect(channels.reads).toBe(1);
  });
});
