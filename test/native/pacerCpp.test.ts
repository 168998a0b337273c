/**
 * The pacer's standalone C++ test (native/test/pacer_test.cpp: order and timing on a
 * loopback socket, queue / flush / drain / close racing the sender thread, limits),
 * built with -Werror and run plain, under ThreadSanitizer and under
 * AddressSanitizer/UBSan by native/test/pacer.sh.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;

describe.skipIf(!hasGxx)('pacer C++ test', () => {
  it('passes plain, under TSan and under ASan/UBSan', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxbridge-pacer-cpp-'));
    try {
      const r = spawnSync('bash', [path.join(root, 'native/test/pacer.sh')], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, TMPDIR: dir } });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, out.slice(-3000)).toBe(0);
      expect(out.match(/pacer_test: all passed/g)?.length, out.slice(-3000)).toBe(3);
      expect(out).not.toMatch(/FAIL |WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
