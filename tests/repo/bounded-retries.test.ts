/**
 * Issue 10: no activity may retry without limit. Every activity proxy in workflows/ names a retry
 * policy, and every policy has a maximum number of attempts (the policies in
 * workflows/shared/retry.ts, or a literal with `maximumAttempts`).
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as policies from '../../workflows/shared/retry.js';

const root = path.resolve(import.meta.dirname, '../..');

/** The argument text of every `proxy…Activities<…>(…)` call, braces balanced. */
function proxyCalls(source: string): string[] {
  const calls: string[] = [];
  const re = /proxy(?:Serial)?(?:Local)?Activities<[^>]*>\(/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    for (; i < source.length && depth > 0; i++) {
      if (source[i] === '(') depth++;
      else if (source[i] === ')') depth--;
    }
    calls.push(source.slice(start, i - 1));
  }
  return calls;
}

async function workflowSources(): Promise<Array<{ file: string; source: string }>> {
  const out: Array<{ file: string; source: string }> = [];
  for (const entry of await readdir(path.join(root, 'workflows'), { recursive: true })) {
    if (!entry.endsWith('.ts')) continue;
    out.push({ file: entry, source: await readFile(path.join(root, 'workflows', entry), 'utf8') });
  }
  return out;
}

describe('bounded retries', () => {
  it('every named retry policy has maximumAttempts', () => {
    for (const name of ['DB_RETRY', 'CHANNEL_IN_RETRY', 'CHANNEL_OUT_RETRY'] as const) {
      expect(policies[name].maximumAttempts, name).toBeGreaterThan(0);
      expect(policies[name].maximumAttempts, name).toBeLessThanOrEqual(30);
    }
  });

  it('every activity proxy in workflows/ uses a bounded policy', async () => {
    let seen = 0;
    const files = new Set<string>();
    for (const { file, source } of await workflowSources()) {
      for (const call of proxyCalls(source)) {
        // The serial wrapper's own definition and the options it passes on: its callers are checked.
        if (file === path.join('shared', 'local-activities.ts')) continue;
        seen++;
        files.add(file);
        const retry = /retry:\s*(\{[^}]*\}|[A-Z_]+|[a-zA-Z.]+)/.exec(call);
        expect(retry, `${file}: ${call}`).not.toBeNull();
        const value = retry![1]!;
        if (value.startsWith('{')) expect(value, `${file}: ${call}`).toMatch(/maximumAttempts:\s*\d+/);
        else expect(Object.keys(policies), `${file}: retry ${value}`).toContain(value);
      }
    }
    // The task thread's proxies (conversation, publication, lead) and the bulk send's.
    expect([...files]).toEqual(expect.arrayContaining(['bulk-send.ts', path.join('shared', 'thread-activities.ts')]));
    expect(seen).toBeGreaterThanOrEqual(7);
  });
});
