/**
 * A benchmark helper in its own Node process (the load generator lib/driver.ts, the raw-Temporal
 * baseline lib/baseline-driver.ts): forked with this process's tsx loader flags, it runs phases on
 * request over IPC. The child exits with us: on `stop()`, on our 'exit', on Ctrl-C (same process
 * group) and when the IPC channel closes (we died).
 *
 * Protocol: parent → `{type:'run', id, opts}`; child → `{type:'ready'}` once, then
 * `{type:'done', id, result}` or `{type:'failed', id, error}` per run.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD_ENV = 'TASKWIRE_BENCH_CHILD';

export interface PhaseProcess<O, R> {
  pid: number;
  run(opts: O): Promise<R>;
  stop(): Promise<void>;
}

type ChildMessage<R> = { type: 'ready' } | { type: 'done'; id: number; result: R } | { type: 'failed'; id: number; error: string };

/** Forks `entry` (a module that calls `servePhases(name, …)`) and waits until it is ready. */
export async function startPhaseProcess<O, R>(entry: URL, name: string): Promise<PhaseProcess<O, R>> {
  const child = fork(fileURLToPath(entry), [], {
    env: { ...process.env, [CHILD_ENV]: name },
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

  const pending = new Map<number, { resolve(r: R): void; reject(e: Error): void }>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  child.on('message', (m: ChildMessage<R>) => {
    if (m.type === 'ready') return ready();
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.type === 'done') p.resolve(m.result);
    else p.reject(new Error(`${name}: ${m.error}`));
  });
  void exited.then((how) => {
    for (const p of pending.values()) p.reject(new Error(`the ${name} process ended (${how})`));
    pending.clear();
  });
  child.once('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });

  await Promise.race([
    isReady,
    exited.then((how) => {
      throw new Error(`the ${name} process ended before it was ready (${how})`);
    }),
  ]);

  let nextId = 1;
  return {
    pid: child.pid!,
    run(opts) {
      const id = nextId++;
      return new Promise<R>((resolve, reject) => {
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

/** In the forked child (a no-op anywhere else): answers the parent's run requests with `run`. */
export function servePhases<O, R>(name: string, run: (opts: O) => Promise<R>): void {
  if (!process.send || process.env[CHILD_ENV] !== name) return;
  // Ctrl-C reaches the whole process group: leave the cleanup to the parent, just stop.
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: { type?: string; id: number; opts: O }) => {
    if (m?.type !== 'run') return;
    run(m.opts).then(
      (result) => process.send!({ type: 'done', id: m.id, result }),
      (err: Error) => process.send!({ type: 'failed', id: m.id, error: err.stack ?? err.message }),
    );
  });
  process.send({ type: 'ready' });
}
