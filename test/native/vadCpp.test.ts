/**
 * The VAD's standalone C++ unit test (native/test/vad_test.cpp: synthetic speech,
 * noise, tone, clicks, echo), built with -Werror and run plain and under
 * AddressSanitizer/UndefinedBehaviorSanitizer by native/test/run.sh.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;

describe.skipIf(!hasGxx)('VAD C++ unit test', () => {
  it('passes plain and under ASan/UBSan', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxbridge-vad-cpp-'));
    try {
      const r = spawnSync('bash', [path.join(root, 'native/test/run.sh')], {
        encoding: 'utf8',
        timeout: 180_000,
        env: { ...process.env, TMPDIR: dir },
      });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, out.slice(-3000)).toBe(0);
      expect(out.match(/vad_test: all passed/g)?.length, out.slice(-3000)).toBe(2);
      expect(out).not.toMatch(/FAIL |ERROR: AddressSanitizer|runtime error/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 200_000);
});
