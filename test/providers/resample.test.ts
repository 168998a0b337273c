import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/errors';
import { StreamResampler, resample } from '../../src/providers/resample';
import { concat, rms, sine, toneLevel, zeroCrossingFreq } from '../helpers/audio';

const PAIRS: [number, number][] = [
  [22050, 8000],
  [22050, 16000],
  [22050, 48000],
  [24000, 8000],
  [24000, 16000],
  [24000, 48000],
  [48000, 16000],
  [16000, 48000],
];

describe('StreamResampler', () => {
  it.each(PAIRS)('keeps the frequency and level of a 1 kHz sine, %i -> %i Hz', (inRate, outRate) => {
    const out = resample(sine(1000, inRate, 1), inRate, outRate);
    expect(out.length).toBe(Math.ceil((inRate * outRate) / inRate));
    // Skip the edges (the stream starts and ends against silence).
    const from = Math.round(outRate * 0.05);
    const to = out.length - from;
    expect(zeroCrossingFreq(out, outRate, from, to)).toBeCloseTo(1000, 0);
    expect(toneLevel(out, outRate, 1000, from, to)).toBeGreaterThan(9900);
    expect(toneLevel(out, outRate, 1000, from, to)).toBeLessThan(10100);
    // Little energy anywhere else: residual after removing the tone is small.
    expect(toneLevel(out, outRate, 1500, from, to)).toBeLessThan(30);
  });

  it.each(PAIRS)('gives the same output chunked as one-shot, for odd chunk sizes, %i -> %i Hz', (inRate, outRate) => {
    const input = concat([sine(440, inRate, 0.3, 8000), sine(3000, inRate, 0.3, 5000)]);
    const oneShot = resample(input, inRate, outRate);
    const r = new StreamResampler(inRate, outRate);
    const parts: Int16Array[] = [];
    const sizes = [1, 7, 160, 3, 1023, 2, 441, 97];
    let pos = 0;
    for (let i = 0; pos < input.length; i++) {
      const n = sizes[i % sizes.length]!;
      parts.push(r.push(input.subarray(pos, pos + n)));
      pos += n;
    }
    parts.push(r.flush());
    const chunked = concat(parts);
    expect(chunked.length).toBe(oneShot.length);
    expect(Buffer.from(chunked.buffer).equals(Buffer.from(oneShot.buffer))).toBe(true);
  });

  it('removes content above the output Nyquist frequency (anti-aliasing)', () => {
    // 6 kHz at 22050 Hz into 8 kHz: would alias to 2 kHz without the low-pass.
    const out = resample(sine(6000, 22050, 0.5), 22050, 8000);
    const from = 400;
    expect(toneLevel(out, 8000, 2000, from, out.length - from)).toBeLessThan(100);
  });

  it('passes samples through unchanged when the rates are equal', () => {
    const x = sine(500, 16000, 0.1);
    const r = new StreamResampler(16000, 16000);
    expect(Array.from(r.push(x))).toEqual(Array.from(x));
    expect(r.flush().length).toBe(0);
  });

  it('is time-aligned: an impulse stays at the same time', () => {
    const x = new Int16Array(22050);
    x[11025] = 20000;
    const out = resample(x, 22050, 16000);
    let peak = 0;
    for (let i = 1; i < out.length; i++) if (Math.abs(out[i]!) > Math.abs(out[peak]!)) peak = i;
    expect(Math.abs(peak - 8000)).toBeLessThanOrEqual(1);
  });

  it('produces no click at chunk boundaries on a continuous tone', () => {
    const r = new StreamResampler(22050, 48000);
    const x = sine(1000, 22050, 1);
    const parts: Int16Array[] = [];
    for (let p = 0; p < x.length; p += 512) parts.push(r.push(x.subarray(p, p + 512)));
    parts.push(r.flush());
    const y = concat(parts);
    // The largest sample-to-sample step of a 1 kHz sine of amplitude 10000 at 48 kHz is ~1309.
    let maxStep = 0;
    for (let i = 2000; i < y.length - 2000; i++) maxStep = Math.max(maxStep, Math.abs(y[i]! - y[i - 1]!));
    expect(maxStep).toBeLessThan(1350);
    expect(rms(y, 2000, y.length - 2000)).toBeGreaterThan(7000);
  });

  it('rejects an unsupported sample rate with InvalidParameter.SampleRate', () => {
    expect(() => new StreamResampler(0, 16000)).toThrow(InvalidParameterError);
    expect(() => new StreamResampler(44100, 44101)).toThrow(/unsupported rate pair/);
  });
});
