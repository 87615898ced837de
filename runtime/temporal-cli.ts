/**
 * Finds the Temporal CLI (which embeds the dev server and the UI), building it from the official
 * Go module when it is nowhere to be found and a Go toolchain is.
 *
 * Order: TEMPORAL_CLI → `temporal` on PATH → `<repo>/.cache/bin/temporal` → `go install`.
 * v1.5.1 is pinned: the newest tag whose go.mod has no `replace` directive (so `go install` works),
 * and the server version (1.29.1) the project is tested against.
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forEachLine } from './lines.js';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
/** go.mod of the CLI at v1.5.1 declares `go 1.25.0`. */
const MIN_GO = [1, 25] as const;
const PROGRESS_EVERY_MS = 15_000;

/** The repository root: this file lives in `<repo>/runtime/`. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface FindTemporalCliOptions {
  /** Progress and decisions, one line each. Default: silent. */
  log?: (line: string) => void;
  /** Where the built binary and the build lock live. Default `<repo>/.cache`. */
  cacheDir?: string;
}

export async function findOrBuildTemporalCli(opts: FindTemporalCliOptions = {}): Promise<string> {
  const log = opts.log ?? (() => {});
  const cacheDir = path.resolve(opts.cacheDir ?? path.join(REPO_ROOT, '.cache'));
  const cached = path.join(cacheDir, 'bin', exeName('temporal'));

  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    const p = path.resolve(fromEnv);
    if (!(await isExecutableFile(p))) {
      throw new Error(
        `TEMPORAL_CLI=${fromEnv} ${(await exists(p)) ? 'is not an executable file' : 'does not exist'}. ` +
          'Point TEMPORAL_CLI at a Temporal CLI binary, or unset it to use `temporal` from PATH or the project cache.',
      );
    }
    const version = await cliVersion(p);
    if (version === undefined) throw new Error(`TEMPORAL_CLI=${fromEnv} does not run as the Temporal CLI (\`${p} --version\` failed)`);
    log(`temporal CLI from TEMPORAL_CLI: ${p} (${version})`);
    return p;
  }

  for (const [where, candidate] of [
    ['PATH', await which('temporal')],
    ['project cache', cached],
  ] as const) {
    if (!candidate || !(await isExecutableFile(candidate))) continue;
    const version = await cliVersion(candidate);
    if (version !== undefined) {
      log(`temporal CLI from ${where}: ${candidate} (${version})`);
      return candidate;
    }
    log(`ignoring ${candidate} (${where}): \`--version\` failed`);
  }

  const go = await which('go') ?? (await isExecutableFile('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) throw new Error(noCliMessage('Go is not installed either'));
  const goVersion = await goVersionOf(go);
  if (!goVersion || compareVersion(goVersion.parts, MIN_GO) < 0) {
    throw new Error(
      noCliMessage(
        `${go} is ${goVersion?.text ?? 'of unknown version'}, but building Temporal CLI ${TEMPORAL_CLI_VERSION} needs Go >= ${MIN_GO.join('.')}`,
      ),
    );
  }

  await mkdir(cacheDir, { recursive: true });
  const release = await acquireLock(path.join(cacheDir, 'temporal-build.lock'), log);
  try {
    // Another process may have built it while we waited for the lock.
    if ((await isExecutableFile(cached)) && (await cliVersion(cached)) !== undefined) {
      log(`temporal CLI built by another process: ${cached}`);
      return cached;
    }
    await buildCli(go, goVersion.text, cached, log);
  } finally {
    await release();
  }
  const version = await cliVersion(cached);
  if (version === undefined) throw new Error(`built ${cached}, but \`${cached} --version\` fails`);
  log(`temporal CLI ready: ${cached} (${version})`);
  return cached;
}

function noCliMessage(reason: string): string {
  return [
    `The Temporal CLI was not found (TEMPORAL_CLI unset, no \`temporal\` on PATH, nothing in .cache/bin) and ${reason}.`,
    'Do one of:',
    '  - install the Temporal CLI (https://docs.temporal.io/cli: `brew install temporal`, or',
    '    `curl -sSf https://temporal.download/cli.sh | sh`) and put `temporal` on PATH;',
    '  - set TEMPORAL_CLI=/path/to/temporal;',
    `  - install Go >= ${MIN_GO.join('.')} (https://go.dev/dl/) and run again: it is then built once with`,
    `    \`GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN=<repo>/.cache/bin go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}\`;`,
    '  - or set TEMPORAL_ADDRESS=host:port to use a Temporal server that is already running (no CLI needed then).',
  ].join('\n');
}

async function buildCli(go: string, goVersion: string, target: string, log: (l: string) => void): Promise<void> {
  // Build into a private folder, then rename: nobody ever sees a half-written binary.
  const tmpBin = path.join(path.dirname(path.dirname(target)), `bin.tmp-${process.pid}`);
  await rm(tmpBin, { recursive: true, force: true });
  await mkdir(tmpBin, { recursive: true });
  await mkdir(path.dirname(target), { recursive: true });
  const args = ['install', '-v', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`];
  log(`building the Temporal CLI: ${go} ${args.join(' ')} (${goVersion}; takes minutes the first time)`);
  const started = Date.now();
  let last = '';
  const tail: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, args, {
        cwd: os.tmpdir(), // outside any Go module, so the `@version` form is used as is
        env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOBIN: tmpBin },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const onLine = (line: string) => {
        const l = line.trim();
        if (!l) return;
        last = l;
        tail.push(l);
        if (tail.length > 40) tail.shift();
      };
      forEachLine(child.stdout, onLine);
      forEachLine(child.stderr, onLine);
      const timer = setInterval(() => {
        log(`  … building temporal CLI, ${Math.round((Date.now() - started) / 1000)}s elapsed${last ? `, last: ${last}` : ''}`);
      }, PROGRESS_EVERY_MS);
      // Ctrl-C / kill of this process: the build dies with it (same process group), the lock goes stale.
      const onExit = () => child.kill('SIGKILL');
      process.once('exit', onExit);
      child.once('error', (err) => {
        clearInterval(timer);
        process.removeListener('exit', onExit);
        reject(err);
      });
      child.once('close', (code, signal) => {
        clearInterval(timer);
        process.removeListener('exit', onExit);
        if (code === 0) resolve();
        else reject(new Error(`go install failed (${signal ?? `exit code ${code}`}):\n${tail.join('\n')}`));
      });
    });
    await rename(path.join(tmpBin, exeName('temporal')), target);
    log(`built ${target} in ${Math.round((Date.now() - started) / 1000)}s`);
  } finally {
    await rm(tmpBin, { recursive: true, force: true });
  }
}

/**
 * An exclusive lock file (O_EXCL create) holding the owner's pid. A lock whose owner is gone
 * (killed mid-build) is taken over. Waiters poll once a second and report every 15 s.
 */
async function acquireLock(lockPath: string, log: (l: string) => void): Promise<() => Promise<void>> {
  const started = Date.now();
  let lastReport = started;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      await fh.writeFile(`${process.pid}\n${new Date().toISOString()}\n`);
      await fh.close();
      return async () => {
        await unlink(lockPath).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt((await readFile(lockPath, 'utf8').catch(() => '')).split('\n')[0] ?? '', 10);
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
      log(`removing stale build lock of process ${owner}`);
      await unlink(lockPath).catch(() => {});
      continue;
    }
    if (!Number.isInteger(owner)) {
      // Written a moment ago and still empty, or garbage: give up on it after a minute.
      const age = Date.now() - (await stat(lockPath).then((s) => s.mtimeMs, () => Date.now()));
      if (age > 60_000) {
        await unlink(lockPath).catch(() => {});
        continue;
      }
    }
    if (Date.now() - lastReport >= PROGRESS_EVERY_MS || lastReport === started) {
      log(`  … waiting for process ${Number.isNaN(owner) ? '?' : owner} that is building the temporal CLI (${Math.round((Date.now() - started) / 1000)}s)`);
      lastReport = Date.now();
    }
    await sleep(1000);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `temporal --version` output (e.g. "temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)"), or undefined. */
async function cliVersion(binary: string): Promise<string | undefined> {
  const out = await run(binary, ['--version'], 30_000);
  return out !== undefined && /temporal version/i.test(out) ? out.trim() : undefined;
}

async function goVersionOf(go: string): Promise<{ text: string; parts: number[] } | undefined> {
  const out = await run(go, ['env', 'GOVERSION'], 30_000, { ...process.env, GOTOOLCHAIN: 'local' });
  const m = out?.trim().match(/^go(\d+)\.(\d+)(?:\.(\d+))?/);
  if (!m) return undefined;
  return { text: m[0], parts: [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] };
}

function compareVersion(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function run(file: string, args: string[], timeout: number, env?: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout, env, encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, exeName(name));
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutableFile(p: string): Promise<boolean> {
  try {
    if (!(await stat(p)).isFile()) return false;
    await access(p, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

function exeName(name: string): string {
  return process.platform === 'win32' ? `${name}.exe` : name;
}


function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
