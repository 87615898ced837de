/**
 * The embedded runtime heals itself (issue 9), against a real `npm start`:
 * - the short chaos run: kill -9 of taskwire with an immediate restart, of the embedded
 *   PostgreSQL and of the Temporal dev server, and a graceful restart, while VK and WhatsApp
 *   messages and agent replies flow, and children that live on without serving (PostgreSQL in a
 *   smart shutdown, a dev server frozen for good), restarted by the health probe: every message present once and in order, every reply
 *   delivered once, nothing left running after the stop (the long run is `npm run chaos`);
 * - a child that cannot be restarted makes taskwire exit non-zero with a message naming it.
 * Speed is measured by `npm run chaos`, not here: the bounds below only say "it came back".
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, inject, it } from 'vitest';
import { runChaos } from '../../bench/lib/chaos.js';
import { processAlive } from '../../runtime/child-process.js';
import { freePort } from '../../runtime/free-port.js';

const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('survives kill -9 of taskwire, PostgreSQL and Temporal, and hung children, with nothing lost, doubled or out of order', async () => {
  const lines: string[] = [];
  const report = await runChaos({
    kills: 3,
    stops: 1,
    faults: ['kill-taskwire', 'kill-postgres', 'kill-temporal', 'restart-taskwire', 'smart-stop-postgres', 'hang-temporal', 'kill-taskwire'],
    env: { EMBEDDED_UNHEALTHY_SECONDS: '4' },
    rate: 15,
    vkPeople: 6,
    waPeople: 3,
    replyEverySeconds: 1,
    pauseSeconds: [1, 2],
    maxSeconds: 240,
    seed: 9,
    temporalCli: inject('temporalCli'),
    say: (l) => lines.push(l),
  });
  const summary = JSON.stringify({ faults: report.faults, messages: report.messages, replies: report.replies, problems: report.problems, stop: report.stopSeconds }, null, 1);
  console.log(`[chaos test] ${summary}`);
  if (!report.pass) console.log(lines.join('\n'));
  expect(report.faults.map((f) => f.kind)).toEqual(['kill-taskwire', 'kill-postgres', 'kill-temporal', 'restart-taskwire', 'smart-stop-postgres', 'hang-temporal', 'kill-taskwire']);
  expect(report.messages.acknowledged).toBeGreaterThan(50);
  expect(report.messages.unacknowledged).toBe(0);
  expect({ lost: report.messages.lost, duplicated: report.messages.duplicated, outOfOrder: report.messages.outOfOrder }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
  expect(report.replies.accepted).toBeGreaterThan(0);
  expect({ lost: report.replies.lost, twiceOnVk: report.replies.deliveredTwiceVk, comments: report.replies.duplicatedComments }).toEqual({ lost: 0, twiceOnVk: 0, comments: 0 });
  // Back by itself (generous bounds: CI shares two cores with the rest of the suite).
  for (const f of report.faults) expect(f.readyS, f.kind).toBeLessThan(60);
  for (const s of report.stopSeconds) expect(s).toBeLessThan(15);
  expect(report.leftoverProcesses).toEqual([]);
  expect(report.problems).toEqual([]);
}, 420_000);

it('exits non-zero, naming the child, when a killed child cannot be restarted, and leaves nothing behind', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskwire-giveup-'));
  dirs.push(dir);
  await chmod(dir, 0o755);
  // A Temporal CLI that works while the flag file exists.
  const flag = path.join(dir, 'temporal-allowed');
  const cli = path.join(dir, 'temporal');
  await writeFile(flag, '');
  await writeFile(cli, `#!/bin/sh\n[ -f '${flag}' ] || { echo 'temporal: switched off by the test' >&2; exit 3; }\nexec '${inject('temporalCli')}' "$@"\n`);
  await chmod(cli, 0o755);
  const port = await freePort();
  const env = {
    ...process.env,
    DATA_DIR: path.join(dir, 'data'),
    PORT: String(port),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    TEMPORAL_CLI: cli,
    LOG_LEVEL: 'warn',
  };
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'FILES_DIR', 'HOST']) delete (env as Record<string, unknown>)[k];
  const child = spawn('npm', ['start'], { cwd: REPO_DIR, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 180_000, 'ready');
    const pg = Number((await readFile(path.join(env.DATA_DIR, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const temporal = (JSON.parse(await readFile(path.join(env.DATA_DIR, 'temporal.pid'), 'utf8')) as { pid: number }).pid;
    await unlink(flag);
    process.kill(temporal, 'SIGKILL');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90_000))]);
    expect(code).toBe(1);
    expect(output).toMatch(/Temporal dev server could not be restarted after \d+ attempts/);
    expect(output).toMatch(/switched off by the test/);
    // PostgreSQL was stopped on the way out.
    await waitFor(async () => !processAlive(pg), 10_000, 'PostgreSQL gone');
  } finally {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
}, 300_000);

async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
