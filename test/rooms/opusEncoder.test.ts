import { describe, expect, it } from 'vitest';
import { createOpusEncoder, opusLibraryVersion } from '../../src/rooms/opusEncoder';
import { loadWasmOpusDecoder } from '../../src/rooms/opusDecoder';

function tone(n: number, rate: number, hz = 440, amp = 8000): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate)));
}

describe('OpusEncoder (libopus through the addon)', () => {
  it('reports the libopus version', () => {
    expect(opusLibraryVersion()).toMatch(/^libopus \d/);
  });

  it('encode() of a 20 ms 16 kHz frame decodes back to the same tone (opus-decoder at 16 kHz)', async () => {
    const enc = createOpusEncoder({ sampleRate: 16000, channels: 1 });
    const Dec = await loadWasmOpusDecoder();
    const dec = new Dec({ sampleRate: 16000, channels: 1 });
    await dec.ready;
    const out = new Uint8Array(1275);
    const pcm = tone(320 * 25, 16000);
    let energy = 0;
    let decoded = 0;
    for (let f = 0; f < 25; f++) {
      const n = enc.encode(pcm.subarray(f * 320, (f + 1) * 320), out);
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThan(200);
      const d = dec.decodeFrame(out.slice(0, n));
      decoded += d.samplesDecoded;
      if (f > 5) for (const v of d.channelData[0]!) energy += v * v;
    }
    dec.free();
    expect(decoded).toBe(320 * 25);
    const rms = Math.sqrt(energy / (19 * 320)) * 32768;
    expect(rms).toBeGreaterThan(8000 / Math.SQRT2 * 0.7);
    expect(rms).toBeLessThan(8000 / Math.SQRT2 * 1.3);
  });

  it('encode() of an invalid frame size throws OPUS_BAD_FRAME_SIZE', () => {
    const enc = createOpusEncoder({ sampleRate: 16000, channels: 1 });
    expect(() => enc.encode(new Int16Array(300), new Uint8Array(1275))).toThrow(expect.objectContaining({ code: 'OPUS_BAD_FRAME_SIZE' }));
  });

  it('encode() keeps the packet within the output buffer; an empty one throws OPUS_BAD_ARG', () => {
    const enc = createOpusEncoder({ sampleRate: 16000, channels: 1, bitrate: 64000 });
    const n = enc.encode(tone(320, 16000), new Uint8Array(3));
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(3);
    expect(() => enc.encode(tone(320, 16000), new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
  });

  it('creating an encoder with a bad rate or bitrate throws OPUS_BAD_ARG', () => {
    expect(() => createOpusEncoder({ sampleRate: 44100, channels: 1 })).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
    expect(() => createOpusEncoder({ sampleRate: 16000, channels: 1, bitrate: 10 })).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
    const enc = createOpusEncoder({ sampleRate: 16000, channels: 1 });
    expect(() => enc.setBitrate(1)).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
  });

  it('encode() with wrong argument types throws OPUS_BAD_ARG, not a crash', () => {
    const enc = createOpusEncoder({ sampleRate: 16000, channels: 1 }) as unknown as { encode(a: unknown, b: unknown): number };
    expect(() => enc.encode(new Float32Array(320), new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
    expect(() => enc.encode('x', null)).toThrow(expect.objectContaining({ code: 'OPUS_BAD_ARG' }));
  });

  it('reset() starts a fresh stream', () => {
    const enc = createOpusEncoder({ sampleRate: 16000, channels: 1 });
    const out = new Uint8Array(1275);
    enc.encode(tone(320, 16000), out);
    expect(() => enc.reset()).not.toThrow();
    expect(enc.encode(tone(320, 16000), out)).toBeGreaterThan(0);
  });
});
