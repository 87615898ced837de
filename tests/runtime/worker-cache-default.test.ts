import { describe, expect, it } from 'vitest';
import { defaultMaxCachedWorkflows, loadConfig, MAX_DEFAULT_CACHED_WORKFLOWS } from '../../runtime/config.js';

/** How many conversations the worker keeps in memory when WORKER_MAX_CACHED_WORKFLOWS is unset. */
describe('worker cache size by default', () => {
  const GiB = 1024 ** 3;

  it('keeps 5,000 conversations on a machine with room for them', () => {
    expect(defaultMaxCachedWorkflows(24 * GiB, 4 * GiB)).toBe(MAX_DEFAULT_CACHED_WORKFLOWS);
    expect(MAX_DEFAULT_CACHED_WORKFLOWS).toBe(5000);
  });

  it('keeps fewer on a small machine or in a small container: a quarter of its memory, within the heap', () => {
    expect(defaultMaxCachedWorkflows(2 * GiB, 4 * GiB)).toBe(2048);
    expect(defaultMaxCachedWorkflows(24 * GiB, 712 * 1024 ** 2)).toBe(2048);
  });

  it('never goes below 500, and a value given in the environment wins', () => {
    expect(defaultMaxCachedWorkflows(256 * 1024 ** 2, 256 * 1024 ** 2)).toBe(500);
    expect(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '1200' }).WORKER_MAX_CACHED_WORKFLOWS).toBe(1200);
    expect(loadConfig({}).WORKER_MAX_CACHED_WORKFLOWS).toBe(defaultMaxCachedWorkflows());
  });
});
