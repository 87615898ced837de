/**
 * Supervision of one embedded child process (PostgreSQL, the Temporal dev server) for `npm start`:
 *
 * - **Start** retries with backoff until the child is ready or `startTimeoutMs` has passed (a
 *   previous run's processes may still hold the data directory or the port for a moment after a
 *   crash); then it fails with the last attempt's error, which names the cause.
 * - **Restart**: a child that exits while taskwire runs is started again at once, then with
 *   backoff. `maxRestartAttempts` failed attempts in a row, or `maxExits` exits within
 *   `exitWindowMs` (a crash loop), make it give up: `onGiveUp` is called once, and the owner exits
 *   non-zero so that an outer supervisor (systemd, Docker) takes over.
 * - **Liveness**: with a `probe`, a child that is alive but has not answered for `unhealthyAfterMs`
 *   (hung, frozen, or a PostgreSQL stuck in a smart shutdown that waits for our own pool) is
 *   stopped — gracefully, then by force — and restarted like a child that died.
 * - **Stop** stops the current instance and ends supervision; nothing is restarted after it.
 */
import type { Logger } from './logger.js';

/** One running instance of a child. */
export interface ChildInstance {
  pid: number;
  /** Resolves when the process has exited, for whatever reason. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the process (gracefully, then by force) and resolves once it is gone. */
  stop(): Promise<void>;
}

export interface SupervisorOptions<I extends ChildInstance> {
  /** 'PostgreSQL', 'Temporal dev server': used in logs and errors. */
  name: string;
  /** Starts one instance and resolves when it is ready; rejects (with the process gone) if it is not. */
  startOnce(attempt: number): Promise<I>;
  logger: Logger;
  /** Bound on the first start, retries included. Default 60 s. */
  startTimeoutMs?: number;
  /** Failed restart attempts in a row before giving up. Default 6. */
  maxRestartAttempts?: number;
  /** More exits than this within exitWindowMs is a crash loop: give up. Default 10 in 5 min. */
  maxExits?: number;
  exitWindowMs?: number;
  /** Backoff between attempts: initial, doubled up to max. Default 250 ms → 5 s. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Resolves true when the instance serves (it must settle within probeIntervalMs). */
  probe?(instance: I): Promise<boolean>;
  /** Default 2 s. */
  probeIntervalMs?: number;
  /** Failing probes for this long make the child restart. Default 30 s. */
  unhealthyAfterMs?: number;
  /** Called after every successful (re)start, with the instance. */
  onReady?(instance: I, restarts: number): void;
  /** Called when the child is down (exited unexpectedly). */
  onDown?(exit: { code: number | null; signal: NodeJS.Signals | null }): void;
  /** Called once when the child cannot be brought back. */
  onGiveUp(err: Error): void;
}

export class Supervisor<I extends ChildInstance> {
  private current: I | undefined;
  private stopped = false;
  private restarts = 0;
  private exits: number[] = [];
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: SupervisorOptions<I>) {}

  /** The running instance (undefined while it is down or restarting). */
  get instance(): I | undefined {
    return this.current;
  }

  get restartCount(): number {
    return this.restarts;
  }

  /** Starts the child (retrying within startTimeoutMs) and begins supervising it. */
  async start(): Promise<I> {
    const timeout = this.opts.startTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeout;
    let attempt = 0;
    let lastError: unknown;
    while (!this.stopped) {
      attempt++;
      try {
        const instance = await this.opts.startOnce(attempt);
        this.adopt(instance);
        return instance;
      } catch (err) {
        lastError = err;
        const wait = this.backoff(attempt);
        if (Date.now() + wait > deadline) break;
        this.opts.logger.warn({ child: this.opts.name, attempt, retryInMs: wait, err: firstLine(err) }, `${this.opts.name} did not start; retrying`);
        await this.sleep(wait);
      }
    }
    if (this.stopped) throw new Error(`${this.opts.name}: stopped while starting`);
    throw new Error(`${this.opts.name} could not be started within ${Math.round(timeout / 1000)} s (${attempt} attempts); last error: ${message(lastError)}`, { cause: lastError });
  }

  /** Stops the child; no restart follows. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop?.catch(() => {});
    const instance = this.current;
    this.current = undefined;
    await instance?.stop();
  }

  private adopt(instance: I): void {
    this.current = instance;
    this.opts.onReady?.(instance, this.restarts);
    const watch = this.watchLiveness(instance);
    void instance.exited.then((exit) => {
      watch?.();
      if (this.stopped || this.current !== instance) return;
      this.current = undefined;
      this.opts.onDown?.(exit);
      this.opts.logger.error({ child: this.opts.name, pid: instance.pid, ...exit }, `${this.opts.name} exited unexpectedly; restarting it`);
      this.loop = this.restartLoop();
    });
  }

  /** Probes the instance; one that fails for unhealthyAfterMs is stopped (then restarted). */
  private watchLiveness(instance: I): (() => void) | undefined {
    const probe = this.opts.probe;
    if (!probe) return undefined;
    const interval = this.opts.probeIntervalMs ?? 2_000;
    const limit = this.opts.unhealthyAfterMs ?? 30_000;
    let lastOk = Date.now();
    let busy = false;
    let stopping = false;
    const timer = setInterval(() => {
      if (busy || stopping || this.stopped || this.current !== instance) return;
      busy = true;
      const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), interval).unref());
      void Promise.race([probe(instance).catch(() => false), timeout]).then((ok) => {
        busy = false;
        if (ok) {
          lastOk = Date.now();
          return;
        }
        const silentMs = Date.now() - lastOk;
        if (silentMs < limit || stopping || this.stopped || this.current !== instance) return;
        stopping = true;
        this.opts.logger.error({ child: this.opts.name, pid: instance.pid, silentSeconds: Math.round(silentMs / 1000) }, `${this.opts.name} is running but has not answered for ${Math.round(silentMs / 1000)} s; restarting it`);
        void instance.stop();
      });
    }, interval);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async restartLoop(): Promise<void> {
    const now = Date.now();
    const windowMs = this.opts.exitWindowMs ?? 300_000;
    this.exits = [...this.exits.filter((t) => now - t < windowMs), now];
    if (this.exits.length > (this.opts.maxExits ?? 10)) {
      this.giveUp(new Error(`${this.opts.name} exited ${this.exits.length} times within ${Math.round(windowMs / 1000)} s (a crash loop)`));
      return;
    }
    const max = this.opts.maxRestartAttempts ?? 6;
    let lastError: unknown;
    for (let attempt = 1; attempt <= max && !this.stopped; attempt++) {
      // The first attempt at once: a child killed by accident is usually back in a second.
      if (attempt > 1) await this.sleep(this.backoff(attempt - 1));
      if (this.stopped) return;
      try {
        const instance = await this.opts.startOnce(attempt);
        if (this.stopped) {
          await instance.stop();
          return;
        }
        this.restarts++;
        this.opts.logger.info({ child: this.opts.name, pid: instance.pid, attempt, restarts: this.restarts }, `${this.opts.name} restarted`);
        this.adopt(instance);
        return;
      } catch (err) {
        lastError = err;
        this.opts.logger.warn({ child: this.opts.name, attempt, of: max, err: firstLine(err) }, `${this.opts.name} restart failed`);
      }
    }
    if (!this.stopped) {
      this.giveUp(new Error(`${this.opts.name} could not be restarted after ${max} attempts; last error: ${message(lastError)}`, { cause: lastError }));
    }
  }

  private giveUp(err: Error): void {
    this.stopped = true;
    this.opts.onGiveUp(err);
  }

  private backoff(attempt: number): number {
    const initial = this.opts.initialBackoffMs ?? 250;
    const max = this.opts.maxBackoffMs ?? 5_000;
    return Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? 'unknown');
}

function firstLine(err: unknown): string {
  return message(err).split('\n')[0]!;
}
