import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // one event-loop turn after each test (see the file)
    setupFiles: ['test/helpers/yieldBetweenTests.ts'],
    // Real processes, sockets and audio tools: generous per-test limits.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: run at most two test files at a time.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
