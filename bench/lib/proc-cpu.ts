/**
 * CPU accounting from /proc (Linux only; elsewhere every figure is undefined): the whole machine,
 * this Node process (API + workers), the load-generating driver process, the Temporal dev server, and the
 * PostgreSQL postmaster with its backends. Differences of two snapshots give CPU seconds spent.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number.parseInt(out.stdout ?? '', 10);
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

interface ProcStat {
  ppid: number;
  /** utime + stime, seconds */
  self: number;
  /** cutime + cstime (children that were waited for), seconds */
  children: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `comm` may contain spaces and parentheses: fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const num = (i: number) => Number(rest[i] ?? 0);
    const tck = ticksPerSecond();
    return { ppid: num(1), self: (num(11) + num(12)) / tck, children: (num(13) + num(14)) / tck };
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process, plus (optionally) its reaped children and its live children. */
function treeSeconds(pid: number | undefined, withChildren: boolean): number | undefined {
  if (pid === undefined) return undefined;
  const root = readStat(pid);
  if (!root) return undefined;
  let total = root.self;
  if (withChildren) {
    total += root.children;
    for (const entry of safeReaddir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const s = readStat(Number(entry));
      if (s && s.ppid === pid) total += s.self;
    }
  }
  return total;
}

export function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function machine(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
    const tck = ticksPerSecond();
    const total = (user + nice + system + idle + iowait + irq + softirq + steal) / tck;
    return { busy: (total - idle / tck - iowait / tck), total };
  } catch {
    return undefined;
  }
}

export interface CpuSnapshot {
  at: number;
  node: number;
  driver?: number;
  temporal?: number;
  postgres?: number;
  machineBusy?: number;
  machineTotal?: number;
}

export interface CpuPids {
  /** The benchmark's load generator (child process). */
  driverPid?: number;
  temporalPid?: number;
  /** Read at every snapshot (the postmaster writes it into its data dir). */
  postmasterPidFile?: string;
}

export function cpuSnapshot(pids: CpuPids): CpuSnapshot {
  const u = process.cpuUsage();
  const m = machine();
  let postmaster: number | undefined;
  if (pids.postmasterPidFile) {
    try {
      postmaster = Number.parseInt(readFileSync(pids.postmasterPidFile, 'utf8').split('\n')[0] ?? '', 10);
    } catch {
      postmaster = undefined;
    }
  }
  return {
    at: performance.now(),
    node: (u.user + u.system) / 1e6,
    driver: treeSeconds(pids.driverPid, false),
    temporal: treeSeconds(pids.temporalPid, false),
    postgres: Number.isFinite(postmaster) ? treeSeconds(postmaster, true) : undefined,
    machineBusy: m?.busy,
    machineTotal: m?.total,
  };
}

export interface CpuUse {
  wallSeconds: number;
  /** CPU seconds per component; percent is of ONE core (200 % = both cores of a 2-core machine). */
  nodeSeconds: number;
  nodePercent: number;
  driverSeconds?: number;
  driverPercent?: number;
  temporalSeconds?: number;
  temporalPercent?: number;
  postgresSeconds?: number;
  postgresPercent?: number;
  /** Busy share of all cores together (100 % = every core busy). */
  machineBusyPercent?: number;
  /** Everything else on the machine (other users' processes), in one-core percent like the components. */
  othersPercent?: number;
  cores: number;
}

export function cpuDiff(a: CpuSnapshot, b: CpuSnapshot, cores: number): CpuUse {
  const wall = (b.at - a.at) / 1000;
  const pct = (s: number | undefined) => (s === undefined || wall <= 0 ? undefined : Math.round((s / wall) * 1000) / 10);
  const d = (x?: number, y?: number) => (x === undefined || y === undefined ? undefined : Math.round((y - x) * 100) / 100);
  const machineTotal = d(a.machineTotal, b.machineTotal);
  const machineBusy = d(a.machineBusy, b.machineBusy);
  const ours = b.node - a.node + (d(a.driver, b.driver) ?? 0) + (d(a.temporal, b.temporal) ?? 0) + (d(a.postgres, b.postgres) ?? 0);
  return {
    wallSeconds: Math.round(wall * 100) / 100,
    nodeSeconds: d(a.node, b.node)!,
    nodePercent: pct(b.node - a.node)!,
    driverSeconds: d(a.driver, b.driver),
    driverPercent: pct(d(a.driver, b.driver)),
    temporalSeconds: d(a.temporal, b.temporal),
    temporalPercent: pct(d(a.temporal, b.temporal)),
    postgresSeconds: d(a.postgres, b.postgres),
    postgresPercent: pct(d(a.postgres, b.postgres)),
    machineBusyPercent:
      machineTotal && machineBusy !== undefined ? Math.round((machineBusy / machineTotal) * 1000) / 10 : undefined,
    othersPercent: machineBusy !== undefined ? pct(Math.max(0, machineBusy - ours)) : undefined,
    cores,
  };
}

/**
 * A machine speed index: MB/s of sha256 over 1 KiB blocks on this thread for ~`ms` ms. The VM's
 * effective CPU speed varies over time (shared host, no steal time reported), so results taken at
 * different times are only comparable together with this number.
 */
export async function cpuSpeedIndex(ms = 300): Promise<number> {
  const { createHash } = await import('node:crypto');
  const block = Buffer.alloc(1024, 7);
  const start = performance.now();
  let bytes = 0;
  while (performance.now() - start < ms) {
    for (let i = 0; i < 200; i++) createHash('sha256').update(block).digest();
    bytes += 200 * block.length;
  }
  return Math.round(bytes / 1e6 / ((performance.now() - start) / 1000));
}
