import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Child processes, not worker threads: the Temporal worker's native addon is not safe in
    // threads (sdk-typescript#876).
    pool: 'forks',
    // Files run in parallel, but only two at a time: a 2-core machine also runs the dev server
    // and PostgreSQL.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    // One Temporal dev server and one PostgreSQL for the whole run; see tests/global-setup.ts.
    globalSetup: ['tests/global-setup.ts'],
  },
});
