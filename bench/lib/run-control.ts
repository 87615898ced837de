/**
 * Abort and cleanup of a benchmark run: Ctrl-C, SIGTERM, a failing worker, a non-200 webhook or any
 * uncaught error end the run; the stack is always closed (servers stopped, temp folder removed)
 * before the process exits.
 *
 *   const run = createRunControl({ say, stopExtras: () => sampler?.stop() });
 *   async function main(): Promise<number> {
 *     const s = await run.startStack({ … });   // closed on every way out; a failing worker aborts the run
 *     const driver = await run.startDriver();  // stopped on abort (a phase in progress then rejects)
 *     run.check();                             // throws the abort's error, if any
 *     …
 *   }
 *   await run.finish(main);                    // runs main, cleans up, exits with its code
 *
 * Creating it installs the process's signal and uncaught-error handlers; create one per process.
 */
import { startDriverProcess, type DriverProcess } from './driver-process.js';
import { startStack, type Stack, type StackOptions } from './stack.js';

export interface RunControlOptions {
  say: (line: string) => void;
  /** Stopped first on cleanup, before the driver and the stack (e.g. an RSS sampler); its errors are ignored. */
  stopExtras?: () => Promise<unknown> | undefined;
}

export interface RunControl {
  /** Starts the private taskwire (lib/stack.ts), closed on cleanup; a failing worker aborts the run. Throws if the run was aborted meanwhile. */
  startStack(opts: StackOptions): Promise<Stack>;
  /** Forks the load generator (lib/driver-process.ts), stopped on abort and on cleanup. Throws if the run was aborted meanwhile. */
  startDriver(): Promise<DriverProcess>;
  /** Ends the run with `err` (the first error wins). A phase in progress ends with the driver (its run() rejects). */
  abort(err: Error): void;
  /** Throws the abort's error, if the run was aborted. */
  check(): void;
  /** The abort's error, if any (for loops that check it themselves). */
  aborted(): Error | undefined;
  /** Stops the extras, the driver and the stack, once; later calls get the same promise. */
  cleanup(): Promise<void>;
  /** Runs `main`, reports a failure (its cause: the abort's error, if any), cleans up and exits with main's code (1 on failure, 130 when interrupted). */
  finish(main: () => Promise<number>): Promise<never>;
}

export function createRunControl({ say, stopExtras }: RunControlOptions): RunControl {
  let stack: Stack | undefined;
  let driver: DriverProcess | undefined;
  let abortError: Error | undefined;
  let interrupted = false;
  let cleaning: Promise<void> | undefined;

  function abort(err: Error): void {
    if (abortError) return;
    abortError = err;
    // A phase in progress ends with the driver (its run() rejects).
    void driver?.stop();
  }

  function cleanup(): Promise<void> {
    cleaning ??= (async () => {
      await Promise.resolve(stopExtras?.()).catch(() => undefined);
      await driver?.stop().catch(() => undefined);
      if (!stack) return;
      const t0 = Date.now();
      say('stopping everything …');
      await stack.close();
      say(`stopped (${Date.now() - t0} ms)`);
    })();
    return cleaning;
  }

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (interrupted) {
        // Second Ctrl-C: leave now. Child servers still die with us ('exit' hooks, parent-death signal, watchdog).
        console.error('[bench] forced exit');
        process.exit(130);
      }
      interrupted = true;
      console.error(`[bench] ${sig}: aborting (Ctrl-C again to force)`);
      abort(new Error(`interrupted by ${sig}`));
      void cleanup().finally(() => process.exit(130));
    });
  }

  // Ctrl-C also reaches PostgreSQL and Temporal (same process group): they stop on their own, and a
  // pooled pg client then emits an 'error' nobody listens to. While shutting down that is expected;
  // before, any uncaught error aborts the run — and the cleanup still runs.
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.on(event, (reason: unknown) => {
      const err = reason instanceof Error ? reason : new Error(String(reason));
      if (interrupted || cleaning) {
        say(`(ignored while shutting down: ${err.message.split('\n')[0]})`);
        return;
      }
      console.error(`[bench] ${event}: ${err.stack ?? err.message}`);
      abort(err);
      void cleanup().finally(() => process.exit(1));
    });
  }

  function check(): void {
    if (abortError) throw abortError;
  }

  return {
    async startStack(opts) {
      const s = (stack = await startStack(opts));
      check();
      s.workers.done.catch((err: unknown) => abort(new Error(`a worker failed: ${String(err)}`)));
      return s;
    },
    async startDriver() {
      driver = await startDriverProcess();
      check();
      return driver;
    },
    abort,
    check,
    aborted: () => abortError,
    cleanup,
    async finish(main) {
      let code = 1;
      try {
        code = await main();
      } catch (err) {
        // An abort (failing worker) also ends the driver: report the cause, not the driver's exit.
        const cause = abortError ?? err;
        if (!interrupted) console.error(`[bench] FAILED: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
        code = interrupted ? 130 : 1;
      } finally {
        await cleanup();
      }
      // Handles the SDK or pools may keep (e.g. a last gRPC timer) must not keep the process alive.
      process.exit(code);
    },
  };
}
