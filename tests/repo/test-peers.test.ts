/**
 * Test files share one Temporal dev server, and workflow ids are derived from the channel and the
 * person (`conversation/vk-218000001/<user>`): two files writing as the same person would signal
 * each other's workflows, served by the other file's workers and database — a flaky test. Every
 * VK user id and WhatsApp number a test file writes as must be its own.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
/** VK user ids (512 34x xxx) and WhatsApp numbers (7916 xxx xx xx) as the tests write them. */
const PEER = /\b(5123\d{5}|7916\d{7})\b/g;

it('no two test files write as the same person', async () => {
  const owners = new Map<string, string>();
  const clashes: string[] = [];
  for (const dir of ['tests/e2e', 'tests/workflows', 'tests/api', 'tests/runtime']) {
    for (const entry of await readdir(path.join(root, dir))) {
      if (!entry.endsWith('.test.ts')) continue;
      const file = `${dir}/${entry}`;
      const source = await readFile(path.join(root, file), 'utf8');
      for (const peer of new Set(source.match(PEER) ?? [])) {
        const other = owners.get(peer);
        if (other && other !== file) clashes.push(`${peer}: ${other} and ${file}`);
        else owners.set(peer, file);
      }
    }
  }
  expect(clashes).toEqual([]);
});
