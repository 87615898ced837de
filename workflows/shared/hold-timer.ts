/**
 * A conversation's holds (rules 22–24): one durable timer to the earliest deadline — up to the
 * 30-day retention. A new, earlier deadline starts one more timer; a timer that finds nothing due
 * does nothing. Workflow code: deterministic.
 */
import { sleep } from '@temporalio/workflow';
import type { HoldRef } from './types.js';

export interface HoldTimer {
  /** A timer fired: the holds are to be checked. */
  due: boolean;
  arm(): void;
}

export function holdTimer(holds: () => HoldRef[], nextCheckMs: () => number): HoldTimer {
  let timerDueMs: number | undefined;
  const timer: HoldTimer = {
    due: false,
    arm() {
      if (!holds().length) return;
      const due = nextCheckMs();
      if (timerDueMs !== undefined && timerDueMs <= due) return;
      timerDueMs = due;
      const held = holds().filter((h) => h.held).length;
      void sleep(Math.max(50, due - Date.now()), {
        summary: held ? `hold ${held} message(s) until the reply or expiry` : 'classify observed outgoing messages',
      }).then(() => {
        if (timerDueMs === due) timerDueMs = undefined;
        timer.due = true;
      });
    },
  };
  return timer;
}
