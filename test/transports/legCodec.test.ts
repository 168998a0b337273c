import { describe, expect, it } from 'vitest';
import { LegCodec } from '../../src/transports/legCodec';
import { decodeG711 } from '../../src/media/g711';

const loud = () => new Int16Array(320).fill(12000);
const silent = () => new Int16Array(320);
const peak = (x: Int16Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('LegCodec output', () => {
  it('sends exactly one 20 ms wire frame per core frame once the resampler is primed', () => {
    const c = new LegCodec({ encoding: 'PCMU', sampleRate: 8000 });
    const frames = Array.from({ length: 10 }, () => c.encodeFrame(loud())).filter((f) => f !== null);
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames.every((f) => f!.length === 160)).toBe(true);
  });

  it('resetOutput() drops buffered samples of interrupted speech: the next frame carries none of it', () => {
    const kept = new LegCodec({ encoding: 'PCMU', sampleRate: 8000 });
    const reset = new LegCodec({ encoding: 'PCMU', sampleRate: 8000 });
    for (let i = 0; i < 5; i++) {
      kept.encodeFrame(loud());
      reset.encodeFrame(loud());
    }
    reset.resetOutput();
    // Without the reset, the resampler history and the partial frame leak into the next frame.
    const leaked = kept.encodeFrame(silent());
    expect(leaked && peak(decodeG711('PCMU', leaked))).toBeGreaterThan(1000);
    for (let i = 0; i < 3; i++) {
      const f = reset.encodeFrame(silent());
      if (f) expect(peak(decodeG711('PCMU', f))).toBeLessThan(50);
    }
  });
});
