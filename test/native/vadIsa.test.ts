/**
 * The VAD's per-hop functions are compiled three times on x86-64 Linux (AVX-512 and
 * AVX2 clones picked by the CPU at load time, and the baseline; native/src/vad_simd.h).
 * All must give the same output bits: this builds the standalone harness both ways and compares
 * a hash of every frame's outputs on speech over noise with the agent's echo, at
 * every input rate.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as clips from '../helpers/clips';

const root = path.resolve(__dirname, '..', '..');
const src = path.join(root, 'native', 'src');
const hasGxx = spawnSync('g++', ['--version']).status === 0;
const avx2 = process.arch === 'x64' && fs.existsSync('/proc/cpuinfo') && /\bavx2\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));

function build(out: string, defines: string[]): void {
  const files = ['vad.cpp', 'vad_signal.cpp', 'vad_echo.cpp', 'vad_onset.cpp'].map((f) => path.join(src, f));
  const r = spawnSync(
    'g++',
    ['-std=c++17', '-O2', '-Wall', '-Wextra', '-Werror', ...defines, `-I${src}`, path.join(root, 'native/test/vad_perf.cpp'), ...files, '-o', out],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
}

function run(bin: string, rate: number, near: string, far: string): string {
  const r = spawnSync(bin, [String(rate), near, far, '1'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const m = /flags sum (\d+), check \S+, hash ([0-9a-f]{16})/.exec(r.stdout);
  expect(m, r.stdout).not.toBeNull();
  expect(Number(m![1])).toBeGreaterThan(0); // it saw speech (and the far end)
  return m![2];
}

describe.skipIf(!hasGxx)('VAD: the AVX-512/AVX2 clones and the baseline give the same bits', () => {
  it('same hash of every output at 8, 16 and 48 kHz, with and without a far end', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxbridge-vad-isa-'));
    try {
      const multi = path.join(dir, 'vad_multi');
      const base = path.join(dir, 'vad_base');
      build(multi, []);
      build(base, ['-DVOXBRIDGE_VAD_BASELINE_ONLY']);
      // the loader picks the best clone the CPU has; the AVX2 one, built on its own, is
      // checked too (on an AVX-512 machine the clones binary never runs it)
      const v3 = path.join(dir, 'vad_v3');
      if (avx2) build(v3, ['-DVOXBRIDGE_VAD_BASELINE_ONLY', '-march=x86-64-v3']);
      if (process.platform === 'linux' && avx2) {
        // the clones exist (and on this CPU the loader picks one of them)
        const nm = spawnSync('nm', ['-C', multi], { encoding: 'utf8' });
        for (const isa of ['v3', 'v4']) {
          expect(nm.stdout).toMatch(new RegExp(`Vad::hop\\(.*\\) \\[clone \\.arch_x86_64_${isa}\\]`));
          expect(nm.stdout).toMatch(new RegExp(`SignalPath::bands\\(.*\\) \\[clone \\.arch_x86_64_${isa}\\]`));
        }
      }
      const write = (name: string, pcm: Int16Array): string => {
        const f = path.join(dir, name);
        fs.writeFileSync(f, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
        return f;
      };
      for (const rate of [8000, 16000, 48000] as const) {
        const user = clips.speak('could you stop there for a moment please', rate, { voice: 'en-us+m3' });
        const agent = clips.speak('the weather tomorrow will be sunny with a light breeze from the west', rate, { voice: 'en-gb+f3' });
        const len = Math.max(user.length + rate, agent.length + rate / 2);
        const farPcm = clips.mixAt(len, [{ pcm: agent, at: 0 }]);
        const echo = clips.gainDb(agent, -12);
        const near = clips.mixAt(len, [
          { pcm: clips.noise('pink', len / rate + 0.1, rate, -50), at: 0 },
          { pcm: echo, at: Math.round(rate * 0.06) },
          { pcm: user, at: Math.round(rate * 0.7) },
        ]);
        const nearF = write(`near${rate}.raw`, near);
        const farF = write(`far${rate}.raw`, farPcm);
        for (const far of [farF, '-']) {
          const label = `${rate} Hz ${far === '-' ? 'alone' : 'with far end'}`;
          const want = run(base, rate, nearF, far);
          expect(run(multi, rate, nearF, far), label).toBe(want);
          if (avx2) expect(run(v3, rate, nearF, far), `${label}, AVX2 build`).toBe(want);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
