/**
 * The pacer's standalone C++ test (native/test/pacer_test.cpp: order and timing on a
 * loopback socket, queue / flush / drain / close racing the sender thread, limits),
 * built with -Werror and run plain, under ThreadSanitizer and under
 * AddressSanitizer/UBSan by native/test/pacer.sh.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/script';

const root = path.resolve(__dirname, '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;

describe.skipIf(!hasGxx)('pacer C++ test', () => {
  it('passes plain, under TSan and under ASan/UBSan', async () => {
    const { status, out } = await runScript(path.join(root, 'native/test/pacer.sh'), 160_000);
    expect(status, out.slice(-3000)).toBe(0);
    expect(out.match(/pacer_test: all passed/g)?.length, out.slice(-3000)).toBe(3);
    expect(out).not.toMatch(/FAIL |WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error/);
  }, 180_000);
});
