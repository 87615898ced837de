/**
 * What a benchmark records about the run around it: the machine, the code (commit and changed
 * files: others edit and commit concurrently), and whether other processes share the cores.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuDiff, cpuSnapshot, type CpuPids, type CpuUse } from './proc-cpu.js';

const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
}

export function machineInfo(): MachineInfo {
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

/** The commit measured, and whether the working tree had changes (others edit concurrently). */
export function gitState(): { commit?: string; changedFiles?: string[] } {
  const run = (args: string[]) => spawnSync('git', args, { cwd: REPO_DIR, encoding: 'utf8' });
  const head = run(['rev-parse', 'HEAD']);
  const status = run(['status', '--porcelain']);
  return {
    commit: head.status === 0 ? head.stdout.trim() : undefined,
    changedFiles: status.status === 0 ? status.stdout.split('\n').filter(Boolean).map((l) => l.trim()) : undefined,
  };
}

export interface WaitForQuietOptions {
  pids: CpuPids;
  cores: number;
  /** Wait at most this long (0 = one sample, then go on). */
  waitQuietS: number;
  /** "Quiet": other processes under this % of one core. */
  quietBelowPercent: number;
  say: (line: string) => void;
  /** Called after every sample; throws to end the wait (e.g. the run was aborted). */
  check: () => void;
}

/**
 * Other people's test runs may share this machine's cores. Samples 2 s windows with our stack idle
 * until other processes use less than `quietBelowPercent`, for at most `waitQuietS` seconds.
 */
export async function waitForQuiet(o: WaitForQuietOptions): Promise<CpuUse> {
  const deadline = Date.now() + o.waitQuietS * 1000;
  for (let first = true; ; first = false) {
    const a = cpuSnapshot(o.pids);
    await new Promise((r) => setTimeout(r, 2000));
    o.check();
    const u = cpuDiff(a, cpuSnapshot(o.pids), o.cores);
    const others = u.othersPercent ?? 0;
    const quiet = others < o.quietBelowPercent;
    if (quiet || Date.now() >= deadline) {
      o.say(
        `background before the run: machine ${u.machineBusyPercent ?? '?'} % busy, other processes ${others} % of one core` +
          (quiet ? '' : ` — still above ${o.quietBelowPercent} % after ${o.waitQuietS} s; measuring anyway`),
      );
      return u;
    }
    if (first) o.say(`other processes use ${others} % of one core; waiting up to ${o.waitQuietS} s for a quieter machine …`);
  }
}
