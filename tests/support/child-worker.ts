import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../runtime/config.js';

const SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

export interface ChildWorker {
  process: ChildProcess;
  /** SIGKILL: no graceful shutdown, in-flight activities die with it. */
  kill(): Promise<void>;
}

/** Starts a worker process with this test's configuration; resolves once it polls. */
export async function startChildWorker(config: Config, env: Record<string, string> = {}): Promise<ChildWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: {
      ...process.env,
      DATABASE_URL: config.DATABASE_URL,
      TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
      DATA_DIR: config.dataDir,
      VK_API_BASE_URL: config.VK_API_BASE_URL,
      WHATSAPP_API_BASE_URL: config.WHATSAPP_API_BASE_URL,
      TELEGRAM_API_BASE_URL: config.TELEGRAM_API_BASE_URL,
      MEDIA_ALLOWED_HOSTS: config.MEDIA_ALLOWED_HOSTS.join(','),
      MAX_MEDIA_BYTES: String(config.MAX_MEDIA_BYTES),
      MEDIA_FETCH_ATTEMPTS: String(config.MEDIA_FETCH_ATTEMPTS),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Never leave it behind, even if the test process dies first.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
      if (process.env.TEST_CHILD_LOGS) process.stderr.write(d);
    });
    child.once('exit', (code) => reject(new Error(`worker process exited early (${code})`)));
  });
  return {
    process: child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      process.removeListener('exit', reap);
    },
  };
}
