import { describe, expect, it } from 'vitest';
import { CHANNEL_CACHE_MS, cachedChannel, forgetCachedChannels } from '../../api/channel-cache.js';
import type { Db } from '../../db/index.js';
import type { Channel } from '../../db/schema.js';

/** Webhook routing's channel rows: one database read per channel and period, a change seen at once. */
describe('channel cache', () => {
  const channel = (name: string) => ({ id: '1', name }) as unknown as Channel;
  const counting = (rows: Array<Channel | undefined | Error>) => {
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
  };

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
