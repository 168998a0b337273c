import { defineConfig } from 'vitest/config';

// The files that compile and run C++ harnesses (plain, under sanitizers, under
// libFuzzer) and the type check: seconds of both cores each. They run first, as a
// group of their own, so that the timing-sensitive tests (frame clock, pacer, RTP and
// barge-in tests) do not share the two cores with a compiler.
const compiles = ['test/native/pacerCpp.test.ts', 'test/native/vadCpp.test.ts', 'test/native/vadIsa.test.ts', 'test/native/tlvFuzz.test.ts', 'test/typecheck.test.ts'];

export default defineConfig({
  test: {
    // one event-loop turn after each test (see the file)
    setupFiles: ['test/helpers/yieldBetweenTests.ts'],
    // Real processes, sockets and audio tools: generous per-test limits.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: run at most two test files at a time.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      { extends: true, test: { name: 'compiles', include: compiles, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: compiles, sequence: { groupOrder: 1 } } },
    ],
  },
});
