import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');

describe('TLV decoder under libFuzzer', () => {
  it('survives a short fuzz run (batch and streaming decoders agree, no sanitizer report)', () => {
    // The long run (>= 10 million inputs) is `npm run fuzz:tlv`; CI keeps a short pass.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxbridge-fuzz-'));
    const r = spawnSync('bash', [path.join(root, 'native/fuzz/run.sh'), '150000'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, VOXBRIDGE_FUZZ_DIR: dir },
    });
    fs.rmSync(dir, { recursive: true, force: true });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out.slice(-2000)).toBe(0);
    expect(out).toMatch(/Done 150000 runs/);
    expect(out).not.toMatch(/ERROR: (AddressSanitizer|libFuzzer)|runtime error/);
  }, 150_000);
});
