/**
 * Forks bench/lib/driver.ts as a child process (with this process's tsx loader flags) and runs
 * phases in it. The child exits with us: on `stop()`, on our 'exit', on Ctrl-C (same process
 * group) and when the IPC channel closes (we died).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PhaseOptions, PhaseResult } from './driver.js';

export interface DriverProcess {
  pid: number;
  run(opts: PhaseOptions): Promise<PhaseResult>;
  stop(): Promise<void>;
}

type ChildMessage =
  | { type: 'ready' }
  | { type: 'done'; id: number; result: PhaseResult }
  | { type: 'failed'; id: number; error: string };

export async function startDriverProcess(): Promise<DriverProcess> {
  const child = fork(fileURLToPath(new URL('./driver.ts', import.meta.url)), [], {
    env: { ...process.env, TASKWIRE_BENCH_DRIVER: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // execArgv defaults to ours: under `tsx`, that includes its loader, so the child runs TypeScript too.
  });
  const onParentExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', onParentExit);
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      process.removeListener('exit', onParentExit);
      resolve(signal ?? `exit code ${code}`);
    }),
  );

  const pending = new Map<number, { resolve(r: PhaseResult): void; reject(e: Error): void }>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') return ready();
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.type === 'done') p.resolve(m.result);
    else p.reject(new Error(`driver: ${m.error}`));
  });
  void exited.then((how) => {
    for (const p of pending.values()) p.reject(new Error(`the driver process ended (${how})`));
    pending.clear();
  });
  child.once('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });

  await Promise.race([
    isReady,
    exited.then((how) => {
      throw new Error(`the driver process ended before it was ready (${how})`);
    }),
  ]);

  let nextId = 1;
  return {
    pid: child.pid!,
    run(opts) {
      const id = nextId++;
      return new Promise<PhaseResult>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ type: 'run', id, opts });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
