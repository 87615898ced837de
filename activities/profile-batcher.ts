/**
 * Profile look-ups batched across conversations, per channel (issue 12): the look-ups for one
 * channel that come within `windowMs`, or until `maxBatch` ids, go in one channel call (VK
 * `users.get` takes 1,000 ids), so a hundred new people cost one or a few calls, not a hundred.
 * One call at a time per channel, at least `minIntervalMs` apart: whatever the number of new
 * people, look-ups take a small, fixed share of the channel's rate limit.
 *
 * In-process (one per worker): a worker that dies with look-ups waiting fails their activities,
 * which are retried like any other.
 */

export interface BatcherOptions {
  /** How long the first look-up waits for others to join its call. */
  windowMs: number;
  /** Ids per call (VK users.get: 1,000). */
  maxBatch: number;
  /** Between the starts of two calls for the same key. */
  minIntervalMs: number;
}

interface Waiter<V> {
  resolve(value: V): void;
  reject(err: unknown): void;
}

interface KeyQueue<C, V> {
  /** The latest context a look-up brought (the channel row: its token may have been rotated). */
  context: C;
  waiting: Map<string, Array<Waiter<V>>>;
  timer?: ReturnType<typeof setTimeout>;
  running: boolean;
  lastStartMs: number;
}

/**
 * `load(context, ids)` answers many ids in one call; the returned function asks for one id under
 * a key (a channel id). An id `load` leaves out is rejected; a failed call rejects its whole batch.
 */
export function keyedBatcher<C, V>(load: (context: C, ids: string[]) => Promise<Record<string, V>>, o: BatcherOptions) {
  const queues = new Map<string, KeyQueue<C, V>>();

  function schedule(key: string, q: KeyQueue<C, V>, full: boolean): void {
    if (q.running) return; // the call under way schedules the next one when it ends
    if (q.timer) {
      if (!full) return;
      clearTimeout(q.timer);
    }
    const delay = Math.max(full ? 0 : o.windowMs, q.lastStartMs + o.minIntervalMs - Date.now());
    q.timer = setTimeout(() => {
      q.timer = undefined;
      void run(key, q);
    }, delay);
  }

  async function run(key: string, q: KeyQueue<C, V>): Promise<void> {
    const ids = [...q.waiting.keys()].slice(0, o.maxBatch);
    const batch = ids.map((id) => [id, q.waiting.get(id)!] as const);
    for (const id of ids) q.waiting.delete(id);
    q.running = true;
    q.lastStartMs = Date.now();
    try {
      const found = await load(q.context, ids);
      for (const [id, waiters] of batch) {
        const value = found[id];
        for (const w of waiters) {
          if (value === undefined) w.reject(new Error(`no answer for ${id}`));
          else w.resolve(value);
        }
      }
    } catch (err) {
      for (const [, waiters] of batch) for (const w of waiters) w.reject(err);
    } finally {
      q.running = false;
      // The queue stays (one per channel): it remembers when its last call started.
      if (q.waiting.size > 0) schedule(key, q, q.waiting.size >= o.maxBatch);
    }
  }

  return (key: string, context: C, id: string): Promise<V> =>
    new Promise<V>((resolve, reject) => {
      let q = queues.get(key);
      if (!q) {
        q = { context, waiting: new Map(), running: false, lastStartMs: 0 };
        queues.set(key, q);
      }
      q.context = context;
      const waiters = q.waiting.get(id) ?? [];
      waiters.push({ resolve, reject });
      q.waiting.set(id, waiters);
      schedule(key, q, q.waiting.size >= o.maxBatch);
    });
}
