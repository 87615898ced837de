/**
 * What every workflow that owns tasks does with agent actions (workflow-side, deterministic):
 * remember finished requests so a retried update returns the first outcome, and send to the
 * channel one message at a time, in the order agents sent them.
 *
 * `Date.now()` here is the workflow sandbox's clock (the workflow task's time), deterministic on replay.
 */
import type { CommentResult, StartConversationResult, TaskResult } from './shared/types.js';

export type RequestResult = CommentResult | TaskResult | StartConversationResult;
export const MAX_RECENT_REQUESTS = 200;

/** The owner's activity clock: the idle timer counts from the last action; sends keep a run open. */
export interface ActivityClock {
  lastActivityMs: number;
  sendsInFlight: number;
}

/**
 * Runs `fn` once per request id. Update ids de-duplicate only within one run, so finished
 * requests are remembered (and carried across continue-as-new) by the owner.
 */
export async function once<T extends RequestResult>(
  recent: Array<{ requestId: string; result: RequestResult }>,
  clock: ActivityClock,
  requestId: string,
  fn: () => Promise<T>,
): Promise<T> {
  const done = recent.find((r) => r.requestId === requestId);
  if (done) return done.result as T;
  clock.lastActivityMs = Date.now();
  const result = await fn();
  recent.push({ requestId, result });
  if (recent.length > MAX_RECENT_REQUESTS) recent.splice(0, recent.length - MAX_RECENT_REQUESTS);
  return result;
}

/** A queue that runs channel sends one after another, whatever the outcome of the previous one. */
export function createSendQueue(clock: ActivityClock): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    clock.lastActivityMs = Date.now();
    clock.sendsInFlight++;
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run.finally(() => {
      clock.sendsInFlight--;
      clock.lastActivityMs = Date.now();
    });
  };
}
