/**
 * One durable timer to the earliest of a set of deadlines (a conversation's holds, its replies that
 * wait) — up to the 30-day retention. A new, earlier deadline starts one more timer; a timer that
 * finds nothing due does nothing. Workflow code: deterministic.
 */
import { sleep } from '@temporalio/workflow';
import type { HoldRef } from './types.js';

export interface HoldTimer {
  /** A timer fired: the holds are to be checked. */
  due: boolean;
  arm(): void;
}

export interface DeadlineSource {
  /** Is anything waiting? */
  any(): boolean;
  /** The earliest deadline (ms since the epoch). */
  nextMs(): number;
  /** What the timer is for (shown in the Temporal UI). */
  summary(): string;
}

export function deadlineTimer(source: DeadlineSource): HoldTimer {
  let timerDueMs: number | undefined;
  const timer: HoldTimer = {
    due: false,
    arm() {
      if (!source.any()) return;
      const due = source.nextMs();
      if (timerDueMs !== undefined && timerDueMs <= due) return;
      timerDueMs = due;
      void sleep(Math.max(50, due - Date.now()), { summary: source.summary() }).then(() => {
        if (timerDueMs === due) timerDueMs = undefined;
        timer.due = true;
      });
    },
  };
  return timer;
}

export function holdTimer(holds: () => HoldRef[], nextCheckMs: () => number): HoldTimer {
  return deadlineTimer({
    any: () => holds().length > 0,
    nextMs: nextCheckMs,
    summary: () => {
      const held = holds().filter((h) => h.held).length;
      return held ? `hold ${held} message(s) until the reply or expiry` : 'classify observed outgoing messages';
    },
  });
}
