/**
 * A server child process (PostgreSQL, the Temporal dev server) that never outlives taskwire:
 *
 * - It runs in its own process group, and on Linux it is started through `setpriv --pdeathsig <signal>`: the kernel sends it that
 *   signal when this process dies in any way, SIGKILL included. (setpriv execs the binary: the pid
 *   stays the server's.) Elsewhere a small shell watchdog does the same.
 * - Its output is kept (the last lines) for error messages, and forwarded to `log` until stop().
 * - stop() sends the graceful signal, then escalates after the given delays, and resolves once the
 *   process is gone; it is safe to call after the process died by itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { forEachLine } from './lines.js';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerChild {
  process: ChildProcess;
  pid: number;
  /** Resolves after the process exited and its output was read. */
  exited: Promise<ChildExit>;
  /** Rejects-never promise that settles with the spawn error, if the binary could not be run. */
  spawnError: Promise<Error>;
  /** The last lines the process wrote. */
  tail(): string[];
  isRunning(): boolean;
  /** Sends signals[0], then each next one after its delay, until the process is gone. */
  stop(): Promise<void>;
}

export interface ServerChildOptions {
  /** Sent when taskwire dies (pdeathsig) or exits, and first on stop(). */
  stopSignal: NodeJS.Signals;
  /** Escalation on stop(): [signal, after ms since the previous one]. Default SIGKILL after 5 s. */
  escalate?: Array<[NodeJS.Signals, number]>;
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  tailLines?: number;
}

export function spawnServerChild(binary: string, args: string[], opts: ServerChildOptions): ServerChild {
  const [command, commandArgs] = withParentDeathSignal(binary, args, opts.stopSignal);
  const child = spawn(command, commandArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C in a terminal signals the whole foreground group at once, and
    // the server must stop after taskwire's workers, not with them (stop() does it in order).
    detached: true,
    uid: opts.uid,
    gid: opts.gid,
    env: opts.env,
  });
  const max = opts.tailLines ?? 40;
  const lines: string[] = [];
  let quiet = false;
  const onLine = (l: string) => {
    lines.push(l);
    if (lines.length > max) lines.shift();
    if (!quiet) opts.log?.(l);
  };
  forEachLine(child.stdout, onLine);
  forEachLine(child.stderr, onLine);

  // 'close' (not 'exit'): fires after the output pipes are drained, so the tail is complete.
  const exited = new Promise<ChildExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const isRunning = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;

  // A normal exit of taskwire (or process.exit after an error): the server must not outlive us.
  const onParentExit = () => {
    if (isRunning()) child.kill(opts.stopSignal);
  };
  process.on('exit', onParentExit);
  void exited.then(() => process.removeListener('exit', onParentExit));
  void spawnError.then(() => process.removeListener('exit', onParentExit));

  const watchdog = pdeathsigAvailable() || !child.pid ? undefined : startWatchdog(child.pid, opts.stopSignal);
  void exited.then(() => watchdog?.kill('SIGKILL'));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      quiet = true;
      if (isRunning()) {
        const steps: Array<[NodeJS.Signals, number]> = opts.escalate ?? [['SIGKILL', 5_000]];
        const timers: NodeJS.Timeout[] = [];
        let at = 0;
        for (const [signal, after] of steps) {
          at += after;
          timers.push(setTimeout(() => isRunning() && child.kill(signal), at));
        }
        child.kill(opts.stopSignal);
        await Promise.race([exited, spawnError]);
        for (const t of timers) clearTimeout(t);
      }
      watchdog?.kill('SIGKILL');
      process.removeListener('exit', onParentExit);
    })());

  return { process: child, pid: child.pid ?? -1, exited, spawnError, tail: () => [...lines], isRunning, stop };
}

let pdeathsig: boolean | undefined;
function pdeathsigAvailable(): boolean {
  if (process.platform !== 'linux') return false;
  pdeathsig ??= spawnSync('setpriv', ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore' }).status === 0;
  return pdeathsig;
}

function withParentDeathSignal(binary: string, args: string[], signal: NodeJS.Signals): [string, string[]] {
  if (!pdeathsigAvailable()) return [binary, args];
  return ['setpriv', ['--pdeathsig', signal.replace(/^SIG/, ''), '--', binary, ...args]];
}

/** Without setpriv: a shell loop that signals the server once this process is gone. */
function startWatchdog(pid: number, signal: NodeJS.Signals): ChildProcess | undefined {
  if (process.platform === 'win32') return undefined;
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; kill -${signal.replace(/^SIG/, '')} ${pid} 2>/dev/null`;
  const w = spawn('sh', ['-c', script], { stdio: 'ignore', detached: false });
  w.on('error', () => {});
  w.unref();
  return w;
}

/** True when a process with this pid exists (ours or another user's). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a live process (Linux /proc), '' when unknown or not readable. */
export function commandLineOf(pid: number): string {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // A zombie has an empty command line: it is dead for our purposes.
    return raw.split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** Whether `pid` is alive and (where /proc tells) its command line contains every marker. */
export function processMatches(pid: number, markers: string[]): boolean {
  if (!processAlive(pid)) return false;
  if (process.platform !== 'linux') return true;
  const cmd = commandLineOf(pid);
  return cmd !== '' && markers.every((m) => cmd.includes(m));
}

/**
 * Ends a process left by an earlier run (its owner crashed): `signals` in turn, each given its
 * time to work. Resolves true when it is gone, false if it survived everything.
 */
export async function endLeftover(pid: number, markers: string[], signals: Array<[NodeJS.Signals, number]>): Promise<boolean> {
  for (const [signal, waitMs] of signals) {
    if (!processMatches(pid, markers)) return true;
    try {
      process.kill(pid, signal);
    } catch {
      return !processMatches(pid, markers);
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!processMatches(pid, markers)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return !processMatches(pid, markers);
}
