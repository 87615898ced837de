/**
 * Rows the API reads on every request but that change rarely, kept for a short while per
 * database handle.
 *
 * - **Channels** (webhook routing reads the channel of every delivery, by the messenger's id for
 *   it or by ours, to authenticate it): kept `CHANNEL_CACHE_MS`. The channel routes forget them
 *   all when they create or change a channel, so within one API process a change applies to the
 *   very next delivery; another API process (several replicas) sees it within that time. Unknown
 *   ids are remembered too: a flood of made-up ids costs one read each per period.
 * - **Employees by API token** (every `/api` request): kept `TOKEN_CACHE_MS`, found ones only, so
 *   a new employee's token works at once in every process. No route changes or removes an
 *   employee; one changed or removed in the database directly is seen within that time.
 *
 * A failed read is never kept, and no kind keeps more than `MAX_ENTRIES` rows.
 */
import type { Db } from '../db/index.js';
import type { Channel, Employee } from '../db/schema.js';

export const CHANNEL_CACHE_MS = 1000;
export const TOKEN_CACHE_MS = 1000;
const MAX_ENTRIES = 1000;

type Kind = 'channel' | 'employee-by-token';

interface Entry<T> {
  readAt: number;
  row: Promise<T | undefined>;
}

const caches = new WeakMap<Db, Map<Kind, Map<string, Entry<unknown>>>>();

function cacheOf<T>(db: Db, kind: Kind): Map<string, Entry<T>> {
  let kinds = caches.get(db);
  if (!kinds) caches.set(db, (kinds = new Map()));
  let cache = kinds.get(kind);
  if (!cache) kinds.set(kind, (cache = new Map()));
  return cache as Map<string, Entry<T>>;
}

/** The row `load` reads for `key`, read again when the kept one is `ttlMs` old (or missing, unless `keepMissing`). */
function cachedRead<T>(db: Db, kind: Kind, key: string, load: () => Promise<T | undefined>, ttlMs: number, keepMissing: boolean, now: number): Promise<T | undefined> {
  const cache = cacheOf<T>(db, kind);
  const kept = cache.get(key);
  if (kept && now - kept.readAt < ttlMs) return kept.row;
  const row = load();
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(key, { readAt: now, row });
  const forget = () => {
    if (cache.get(key)?.row === row) cache.delete(key);
  };
  row.then((found) => {
    if (found === undefined && !keepMissing) forget();
  }, forget);
  return row;
}

/** The channel `load` reads for `key`, read again only when the kept one is older than CHANNEL_CACHE_MS. */
export function cachedChannel(db: Db, key: string, load: () => Promise<Channel | undefined>, now = Date.now()): Promise<Channel | undefined> {
  return cachedRead(db, 'channel', key, load, CHANNEL_CACHE_MS, true, now);
}

/** After a channel was created or changed through this handle: every delivery reads afresh. */
export function forgetCachedChannels(db: Db): void {
  caches.get(db)?.get('channel')?.clear();
}

/** The employee whose token hashes to `tokenHash`, as `load` reads it; a found one is kept TOKEN_CACHE_MS. */
export function cachedEmployeeByToken(db: Db, tokenHash: string, load: () => Promise<Employee | undefined>, now = Date.now()): Promise<Employee | undefined> {
  return cachedRead(db, 'employee-by-token', tokenHash, load, TOKEN_CACHE_MS, false, now);
}
