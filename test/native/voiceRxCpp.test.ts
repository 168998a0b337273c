/**
 * The voice receiver's standalone C++ test (native/test/voice_rx_test.cpp: Opus RTP
 * at real-time pace into the receive thread, the barge-in gating a real pacer queue,
 * strays and losses counted, sockets closed under a flood), built with -Werror and
 * run plain, under ThreadSanitizer and under AddressSanitizer/UBSan by
 * native/test/voice_rx.sh.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;
const hasOpus = spawnSync('pkg-config', ['--exists', 'opus']).status === 0;

describe.skipIf(!hasGxx || !hasOpus)('voice receiver C++ test', () => {
  it('passes plain, under TSan and under ASan/UBSan', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxbridge-voice-rx-cpp-'));
    try {
      const r = spawnSync('bash', [path.join(root, 'native/test/voice_rx.sh')], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, TMPDIR: dir } });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, out.slice(-3000)).toBe(0);
      expect(out.match(/voice_rx_test: ok/g)?.length, out.slice(-3000)).toBe(3);
      expect(out).not.toMatch(/FAIL |WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}, 300_000);
