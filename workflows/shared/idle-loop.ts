/**
 * The main loop of a workflow that owns tasks: drain its queue of channel events in order,
 * complete the run when idle (the next event or action starts a new run under the same id), and
 * continue as new when the history grows long. Workflow code: deterministic.
 */
import { allHandlersFinished, condition, sleep, workflowInfo } from '@temporalio/workflow';
import { workInFlight, type ActivityClock } from './task-thread.js';

/**
 * One idle timer that runs across batches (no timer churn per event): when it fires and there was
 * activity meanwhile, it is armed again for the rest of the idle period.
 */
export interface IdleTimer {
  /** The owner's activity clock the idle period counts from. */
  clock: ActivityClock;
  fired: boolean;
  armed: boolean;
  arm(): void;
  /** Something happened within the idle period, or a send (or other started work) is under way. */
  busy(): boolean;
}

export function idleTimer(clock: ActivityClock, idleSeconds: number): IdleTimer {
  const idleMs = idleSeconds * 1000;
  const timer: IdleTimer = {
    clock,
    fired: false,
    armed: false,
    busy: () => Date.now() < clock.lastActivityMs + idleMs || workInFlight(clock) > 0,
    arm() {
      timer.fired = false;
      timer.armed = true;
      // Started work (a send being retried, a profile look-up) may take long: look again an idle
      // period later, not every 50 ms (a timer each time) while it runs.
      const due = Math.max(workInFlight(clock) > 0 ? idleMs : 50, clock.lastActivityMs + idleMs - Date.now());
      void sleep(due, { summary: 'idle: complete the run if nothing happens' }).then(() => {
        timer.armed = false;
        timer.fired = true;
      });
    },
  };
  return timer;
}

export interface ThreadLoop {
  idle: IdleTimer;
  /** Queued channel events (absent: the owner takes none, a lead). `processBatch` takes the next batch off. */
  queue?: { length(): number; processBatch(): Promise<void> };
  /** Other work that comes due on its own timer (a conversation's held messages). */
  other?: { due(): boolean; run(): Promise<void> };
  /** Idle with nothing queued or sending: complete (the default), continue as new to wait, or wait. */
  whenIdle?: () => 'complete' | 'continue-as-new' | 'wait';
  /** Arm the idle timer right after a batch if it had fired (runs recorded before publications did: false). */
  armAfterBatch: boolean;
  /** Continue as new past this many history events (or when the server suggests it); `run(idle)` does it. */
  continueAsNew?: { afterEvents: number; run(idle: boolean): Promise<never> };
}

/** Runs until the owner is idle; returns when the run completes (or continues as new). */
export async function runUntilIdle(o: ThreadLoop): Promise<void> {
  const { clock } = o.idle;
  const queued = () => o.queue?.length() ?? 0;
  const continueAsNew = async (idle: boolean): Promise<never> => {
    await condition(() => allHandlersFinished() && workInFlight(clock) === 0);
    return o.continueAsNew!.run(idle);
  };
  for (;;) {
    await condition(() => queued() > 0 || o.idle.fired || (o.other?.due() ?? false));
    if (o.other?.due()) await o.other.run();

    if (queued() > 0) {
      await o.queue!.processBatch();
      clock.lastActivityMs = Date.now();
      if (o.armAfterBatch && !o.idle.armed) o.idle.arm();
    } else if (o.idle.fired) {
      o.idle.fired = false;
      if (o.idle.busy()) {
        o.idle.arm();
      } else {
        await condition(allHandlersFinished);
        // Re-check: a signal may have landed while handlers finished. If one lands after this
        // point, the server refuses the completion and this task runs again with it queued.
        if (queued() === 0 && workInFlight(clock) === 0) {
          const next = o.whenIdle?.() ?? 'complete';
          if (next === 'complete') return;
          if (next === 'continue-as-new') return continueAsNew(true);
        } else {
          o.idle.arm();
        }
      }
    }

    const info = workflowInfo();
    if (o.continueAsNew && (info.continueAsNewSuggested || info.historyLength > o.continueAsNew.afterEvents)) return continueAsNew(false);
  }
}
