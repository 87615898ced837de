/**
 * Resident memory of the benchmark's processes (Linux /proc only; elsewhere nothing is sampled).
 *
 * The sampler is a tiny plain-JS Node child process that reads `/proc/<pid>/status` (VmRSS) of
 * each watched process every `intervalMs` and writes one JSON line per sample to its stdout. It
 * runs on its own event loop, so samples keep coming while taskwire's main thread is saturated
 * (a setInterval in this process would skip exactly the busiest moments). It exits when our end
 * of its stdin closes (we died or stopped it).
 *
 * For this process the kernel's own high-water mark (VmHWM) is exact: `resetPeak()` clears it
 * (`echo 5 > /proc/self/clear_refs`), and `readStatus(process.pid).hwmKiB` read later is the
 * true peak since then, between samples too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export interface ProcMemory {
  rssKiB?: number;
  hwmKiB?: number;
}

export function readStatus(pid: number): ProcMemory {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return {};
  }
}

/** Resets this process's peak RSS (VmHWM) to its current RSS. False where that is not possible. */
export function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

export interface RssSample {
  /** epoch ms */
  t: number;
  /** KiB per watched name (absent: the process was gone or unreadable). */
  kib: Record<string, number | undefined>;
}

export interface RssSampler {
  samples: RssSample[];
  /** Peak (KiB) of one name over [from, to] (epoch ms), with the time it was seen; undefined when no sample. */
  peak(name: string, from?: number, to?: number): { kib: number; at: number } | undefined;
  /** The last sample at or before `t` (epoch ms). */
  at(name: string, t: number): number | undefined;
  stop(): Promise<void>;
}

const SAMPLER_JS = `
const fs = require('fs');
const pids = JSON.parse(process.env.RSS_SAMPLER_PIDS);
const every = Number(process.env.RSS_SAMPLER_INTERVAL_MS);
function rss(pid) {
  try {
    const m = /^VmRSS:\\s+(\\d+) kB/m.exec(fs.readFileSync('/proc/' + pid + '/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}
function sample() {
  const kib = {};
  for (const [name, pid] of Object.entries(pids)) kib[name] = rss(pid);
  process.stdout.write(JSON.stringify({ t: Date.now(), kib }) + '\\n');
}
sample();
setInterval(sample, every);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
`;

export function startRssSampler(pids: Record<string, number | undefined>, intervalMs = 250): RssSampler {
  const watched = Object.fromEntries(Object.entries(pids).filter((e): e is [string, number] => typeof e[1] === 'number'));
  const samples: RssSample[] = [];
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, ['-e', SAMPLER_JS], {
      // Plain JS without the tsx loader: small and quick to start.
      env: { ...process.env, RSS_SAMPLER_PIDS: JSON.stringify(watched), RSS_SAMPLER_INTERVAL_MS: String(intervalMs), NODE_OPTIONS: '' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const s = JSON.parse(line) as { t: number; kib: Record<string, number | null> };
          samples.push({ t: s.t, kib: Object.fromEntries(Object.entries(s.kib).map(([k, v]) => [k, v ?? undefined])) });
        } catch {
          /* partial line at exit */
        }
      }
    });
    child.on('error', () => undefined);
    const onExit = () => child?.kill('SIGKILL');
    process.once('exit', onExit);
  } catch {
    child = undefined;
  }
  return {
    samples,
    peak(name, from = -Infinity, to = Infinity) {
      let best: { kib: number; at: number } | undefined;
      for (const s of samples) {
        if (s.t < from || s.t > to) continue;
        const v = s.kib[name];
        if (v !== undefined && (!best || v > best.kib)) best = { kib: v, at: s.t };
      }
      return best;
    },
    at(name, t) {
      let v: number | undefined;
      for (const s of samples) {
        if (s.t > t) break;
        if (s.kib[name] !== undefined) v = s.kib[name];
      }
      return v;
    },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.stdin!.end();
      const killer = setTimeout(() => child!.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(killer);
    },
  };
}
