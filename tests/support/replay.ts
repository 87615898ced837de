/**
 * Determinism checks: replays the histories of a test file's workflows (and the recorded ones in
 * tests/fixtures/histories) with the current workflow code. `RECORD_HISTORIES=1` re-records.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { WORKFLOWS_PATH } from '../../worker/index.js';
import type { Harness } from './harness.js';

const run = promisify(execFile);
export const HISTORIES_DIR = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));

/**
 * Returns the failures (empty when every history replays). `prefix` names recorded files;
 * `record` picks which live workflows are recorded (all by default).
 */
export async function replayAll(h: Harness, prefix: string, record: (workflowId: string) => boolean = () => true): Promise<{ replayed: number; failures: string[] }> {
  const live: Array<{ workflowId: string; runId: string; history: Awaited<ReturnType<ReturnType<Harness['client']['workflow']['getHandle']>['fetchHistory']>> }> = [];
  for await (const r of h.client.workflow.list({ query: `TaskQueue = '${h.config.TEMPORAL_TASK_QUEUE}'` })) {
    live.push({ workflowId: r.workflowId, runId: r.runId, history: await h.client.workflow.getHandle(r.workflowId, r.runId).fetchHistory() });
  }
  if (process.env.RECORD_HISTORIES === '1') {
    await mkdir(HISTORIES_DIR, { recursive: true });
    // The CLI's JSON is the documented interchange format (also what the UI downloads).
    for (const [i, x] of live.filter((l) => record(l.workflowId)).entries()) {
      const { stdout } = await run(inject('temporalCli'), ['workflow', 'show', '--address', h.config.TEMPORAL_ADDRESS!, '--workflow-id', x.workflowId, '--run-id', x.runId, '--output', 'json'], { maxBuffer: 64 << 20 });
      await writeFile(path.join(HISTORIES_DIR, `${prefix}-${i}.json`), stdout);
    }
  }
  const recorded = [];
  for (const f of (await readdir(HISTORIES_DIR).catch(() => [] as string[])).filter((f) => f.endsWith('.json'))) {
    recorded.push({ workflowId: `recorded/${f}`, history: historyFromJSON(JSON.parse(await readFile(path.join(HISTORIES_DIR, f), 'utf8'))) });
  }
  const failures: string[] = [];
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH }, [...live.map(({ workflowId, history }) => ({ workflowId, history })), ...recorded])) {
    replayed++;
    if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
  }
  return { replayed, failures };
}
