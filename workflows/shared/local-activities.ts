/**
 * Database activities as local activities, one at a time per workflow run.
 *
 * Two local activities in flight at once (the main loop recording a message while an update
 * handler creates an agent's comment) resolve in completion order when they first run, but in
 * scheduling order when the history is replayed (after a worker restart or a cache eviction). The
 * code after them then issues its commands in another order, and replay fails with a
 * nondeterminism error ("UpsertWorkflowSearchAttributesMachine does not handle
 * ActivityTaskScheduled"): the conversation stops until someone resets it. Found by the chaos run
 * (bench/chaos.ts); the same SDK behaviour is sdk-python#1578.
 *
 * Run one at a time, each local activity resolves alone, so first run and replay agree. Runs that
 * started before this change keep the old behaviour (`patched`), so their histories replay.
 * Call at the start of the workflow function, before its first await.
 */
import { patched, proxyLocalActivities, type LocalActivityInterfaceFor, type LocalActivityOptions } from '@temporalio/workflow';

export const SERIAL_LOCAL_ACTIVITIES_PATCH = 'serial-local-activities';

/** `serial: true` when the caller already knows its run is new enough (it asked another patch that implies this one). */
export function proxySerialLocalActivities<A extends object>(options: LocalActivityOptions, serial?: true): LocalActivityInterfaceFor<A> {
  const proxy = proxyLocalActivities<A>(options);
  if (!(serial || patched(SERIAL_LOCAL_ACTIVITIES_PATCH))) return proxy;
  let tail: Promise<unknown> = Promise.resolve();
  return new Proxy(proxy, {
    get(target, name) {
      const fn = (target as Record<string | symbol, unknown>)[name];
      if (typeof fn !== 'function') return fn;
      return (...args: unknown[]) => {
        const run = tail.then(() => (fn as (...a: unknown[]) => Promise<unknown>)(...args));
        tail = run.catch(() => undefined);
        return run;
      };
    },
  });
}
