/**
 * Registered in vitest.config.ts for every test file. A file of synchronous,
 * CPU-bound tests (the VAD on generated clips) otherwise never returns to the event
 * loop between tests: the worker's RPC replies from vitest wait unread, and once the
 * file runs past 60 s (it does under the whole suite's load on 2 cores) the
 * worker's own 60 s RPC timer fires first ("Timeout calling onTaskUpdate") and the run
 * fails with every test passed. One macrotask turn after each test lets them in.
 */
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
