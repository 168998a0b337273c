/**
 * The voice receiver's standalone C++ test (native/test/voice_rx_test.cpp: Opus RTP
 * at real-time pace into the receive thread, the barge-in gating a real pacer queue,
 * strays and losses counted, sockets closed under a flood), built with -Werror and
 * run plain, under ThreadSanitizer and under AddressSanitizer/UBSan by
 * native/test/voice_rx.sh.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/script';

const root = path.resolve(__dirname, '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;
const hasOpus = spawnSync('pkg-config', ['--exists', 'opus']).status === 0;

describe.skipIf(!hasGxx || !hasOpus)('voice receiver C++ test', () => {
  it('passes plain, under TSan and under ASan/UBSan', async () => {
    const { status, out } = await runScript(path.join(root, 'native/test/voice_rx.sh'), 220_000);
    expect(status, out.slice(-3000)).toBe(0);
    expect(out.match(/voice_rx_test: ok/g)?.length, out.slice(-3000)).toBe(3);
    expect(out).not.toMatch(/FAIL |WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error/);
  }, 240_000);
});
