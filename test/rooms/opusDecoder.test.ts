import { describe, expect, it } from 'vitest';
import { createOpusEncoder } from '../../src/rooms/opusEncoder';
import { createOpusDecoder, type OpusStreamDecoder } from '../../src/rooms/opusDecoder';

/** A voice-like signal: a 180 Hz harmonic series with a slow vibrato, plus a little noise. */
function voice(n: number, rate: number): Int16Array {
  let seed = 7;
  return Int16Array.from({ length: n }, (_, i) => {
    const t = i / rate;
    const f0 = 180 + 15 * Math.sin(2 * Math.PI * 3 * t);
    let v = 0;
    for (let h = 1; h <= 6; h++) v += Math.sin(2 * Math.PI * f0 * h * t) / h;
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return Math.round(4000 * v + ((seed / 0x7fffffff) - 0.5) * 200);
  });
}

function encodeAll(pcm: Int16Array, frame: number, opts: { application?: 0 | 1 | 2 } = {}): Uint8Array[] {
  const enc = createOpusEncoder({ sampleRate: 16000, channels: 1, bitrate: 32000, ...opts });
  const out = new Uint8Array(1275);
  const pkts: Uint8Array[] = [];
  for (let o = 0; o + frame <= pcm.length; o += frame) pkts.push(out.slice(0, enc.encode(pcm.subarray(o, o + frame), out)));
  return pkts;
}

function decodeAll(d: OpusStreamDecoder, pkts: Uint8Array[]): Int16Array {
  const out = new Int16Array(1920);
  const parts: number[] = [];
  for (const p of pkts) {
    const n = d.decode(p, out);
    expect(n).toBeGreaterThan(0);
    for (let i = 0; i < n; i++) parts.push(out[i]!);
  }
  return Int16Array.from(parts);
}

function snrDb(ref: Int16Array, x: Int16Array): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i]! * ref[i]!;
    e += (ref[i]! - x[i]!) ** 2;
  }
  return 10 * Math.log10(s / Math.max(e, 1));
}

describe('OpusDecoder (libopus through the addon, WASM fallback)', () => {
  it('prefers the native decoder; impl "wasm" forces the fallback', async () => {
    expect((await createOpusDecoder({ sampleRate: 16000, channels: 1 })).impl).toBe('native');
    const w = await createOpusDecoder({ sampleRate: 16000, channels: 1, impl: 'wasm' });
    expect(w.impl).toBe('wasm');
    w.free();
  });

  for (const [name, app] of [
    ['SILK/hybrid (voip)', 0],
    ['CELT low delay', 2],
  ] as const) {
    it(`native and WASM decode the same ${name} stream to the same audio (parity)`, async () => {
      const pcm = voice(16000, 16000);
      const pkts = encodeAll(pcm, 320, { application: app });
      const n = await createOpusDecoder({ sampleRate: 16000, channels: 1, impl: 'native' });
      const w = await createOpusDecoder({ sampleRate: 16000, channels: 1, impl: 'wasm' });
      const a = decodeAll(n, pkts);
      const b = decodeAll(w, pkts);
      w.free();
      expect(a.length).toBe(pcm.length);
      expect(b.length).toBe(pcm.length);
      // Both are libopus (Debian's build vs the package's WASM build, possibly other
      // versions): not bit-exact, but the same signal to well within coding noise.
      expect(snrDb(a, b)).toBeGreaterThan(30);
    });
  }

  it('decodes a 60 ms packet whole and refuses one larger than the output buffer', async () => {
    const pkts = encodeAll(voice(960 * 3, 16000), 960);
    const d = await createOpusDecoder({ sampleRate: 16000, channels: 1 });
    expect(d.decode(pkts[0]!, new Int16Array(1920))).toBe(960);
    expect(d.decode(pkts[1]!, new Int16Array(320))).toBe(-2); // OPUS_BUFFER_TOO_SMALL, nothing written past it
  });

  it('reports garbage and empty payloads as negative statuses, never throws, and keeps decoding', async () => {
    for (const impl of ['native', 'wasm'] as const) {
      const d = await createOpusDecoder({ sampleRate: 16000, channels: 1, impl });
      const out = new Int16Array(1920);
      expect(d.decode(new Uint8Array(0), out)).toBeLessThan(0);
      // TOC code 3 with a frame count of 0 is invalid (RFC 6716 §3.2.5).
      expect(d.decode(new Uint8Array([0x03, 0x00]), out)).toBeLessThan(0);
      const good = encodeAll(voice(320, 16000), 320)[0]!;
      expect(d.decode(good, out)).toBe(320);
      d.free();
    }
  });

  it('conceals a lost packet with PLC that continues the voice (native) instead of cutting it', async () => {
    const pcm = voice(320 * 20, 16000);
    const pkts = encodeAll(pcm, 320);
    const d = await createOpusDecoder({ sampleRate: 16000, channels: 1 });
    const out = new Int16Array(1920);
    for (let i = 0; i < 10; i++) d.decode(pkts[i]!, out);
    expect(d.conceal(out, 320)).toBe(320);
    let e = 0;
    for (let i = 0; i < 320; i++) e += out[i]! * out[i]!;
    expect(Math.sqrt(e / 320)).toBeGreaterThan(300); // not silence
    expect(d.decode(pkts[11]!, out)).toBe(320); // the stream goes on after the gap
  });

  it('wrong argument types throw OPUS_BAD_ARG (misuse), not a crash', async () => {
    const d = (await createOpusDecoder({ sampleRate: 16000, channels: 1 })) as unknown as { decode(a: unknown, b: unknown): number; conceal(a: unknown, b: unknown): number };
    expect(() => d.decode(new Int16Array(4), new Int16Array(320))).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
    expect(() => d.decode(new Uint8Array(4), new Float32Array(320))).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
    expect(() => d.conceal(new Int16Array(100), 320)).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
    await expect(createOpusDecoder({ sampleRate: 44100 as 48000, channels: 1 })).rejects.toMatchObject({ code: 'OPUS_BAD_ARG' });
  });
});
