/**
 * The raw-Temporal baseline's workflow (bundled for the baseline worker in lib/baseline-driver.ts):
 * a conversation reduced to its skeleton. Messages arrive as signals (signal-with-start creates the
 * workflow with the first); the workflow drains its queue with one no-op local activity per batch,
 * as taskwire's conversation drains its events with the `recordEvents` local activity. No timer,
 * no search attributes, no memo: the floor a message costs on this Temporal.
 */
import { condition, defineSignal, proxyLocalActivities, setHandler } from '@temporalio/workflow';

export const BASELINE_SIGNAL = 'message';
export const baselineMessage = defineSignal<[number]>(BASELINE_SIGNAL);

export interface BaselineActivities {
  /** Does nothing but note when the messages of `ids` got there (in the worker's process). */
  noop(tag: string, ids: number[]): Promise<void>;
}

const { noop } = proxyLocalActivities<BaselineActivities>({ startToCloseTimeout: '10 seconds' });

export async function baselineConversation(tag: string): Promise<void> {
  const queue: number[] = [];
  setHandler(baselineMessage, (i) => {
    queue.push(i);
  });
  for (;;) {
    await condition(() => queue.length > 0);
    await noop(tag, queue.splice(0));
  }
}
