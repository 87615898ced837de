/**
 * Webhook routing reads the channel of every delivery (by the messenger's id for it, or by ours)
 * to authenticate it. Channels change rarely, deliveries come many per second: a row read here is
 * reused for up to `CHANNEL_CACHE_MS` by the same database handle. The channel routes forget
 * everything when they create or change a channel, so within one API process a change applies to
 * the very next delivery; another API process (several replicas) sees it within that time.
 * Unknown ids are remembered too (a flood of made-up ids costs one read each per period), and the
 * cache never holds more than `MAX_ENTRIES` rows.
 */
import type { Db } from '../db/index.js';
import type { Channel } from '../db/schema.js';

export const CHANNEL_CACHE_MS = 1000;
const MAX_ENTRIES = 1000;

interface Entry {
  readAt: number;
  row: Promise<Channel | undefined>;
}

const caches = new WeakMap<Db, Map<string, Entry>>();

/** The row `load` reads for `key`, read again only when the kept one is older than CHANNEL_CACHE_MS. */
export function cachedChannel(db: Db, key: string, load: () => Promise<Channel | undefined>, now = Date.now()): Promise<Channel | undefined> {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map()));
  const kept = cache.get(key);
  if (kept && now - kept.readAt < CHANNEL_CACHE_MS) return kept.row;
  const row = load();
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(key, { readAt: now, row });
  // A failed read is not kept: the next delivery asks the database again.
  row.catch(() => {
    if (cache.get(key)?.row === row) cache.delete(key);
  });
  return row;
}

/** After a channel was created or changed through this handle: every delivery reads afresh. */
export function forgetCachedChannels(db: Db): void {
  caches.get(db)?.clear();
}
