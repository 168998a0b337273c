/**
 * The VAD's standalone C++ unit test (native/test/vad_test.cpp: synthetic speech,
 * noise, tone, clicks, echo), built with -Werror and run plain and under
 * AddressSanitizer/UndefinedBehaviorSanitizer by native/test/run.sh.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/script';

const root = path.resolve(__dirname, '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;

describe.skipIf(!hasGxx)('VAD C++ unit test', () => {
  it('passes plain and under ASan/UBSan', async () => {
    const { status, out } = await runScript(path.join(root, 'native/test/run.sh'), 180_000);
    expect(status, out.slice(-3000)).toBe(0);
    expect(out.match(/vad_test: all passed/g)?.length, out.slice(-3000)).toBe(2);
    expect(out).not.toMatch(/FAIL |ERROR: AddressSanitizer|runtime error/);
  }, 200_000);
});
