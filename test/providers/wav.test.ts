import { describe, expect, it } from 'vitest';
import { FrameError } from '../../src/errors';
import { Pcm16Reader, WavStreamParser, encodeWav } from '../../src/providers/wav';
import { concat, sine, toBuffer } from '../helpers/audio';

describe('Pcm16Reader', () => {
  it('decodes samples split across chunks at odd byte counts', () => {
    const pcm = sine(300, 8000, 0.05, 30000);
    const bytes = toBuffer(pcm);
    for (const size of [1, 3, 5, 7, 999]) {
      const r = new Pcm16Reader();
      const parts: Int16Array[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(r.push(bytes.subarray(i, i + size)));
      expect(Array.from(concat(parts))).toEqual(Array.from(pcm));
      expect(r.hasCarry).toBe(false);
    }
  });
});

describe('WavStreamParser', () => {
  it('parses the header and streams the samples for every split position of the header', () => {
    const pcm = sine(440, 22050, 0.01);
    const wav = encodeWav(pcm, 22050);
    for (let i = 0; i < 60; i++) {
      const p = new WavStreamParser();
      const out = concat([p.push(wav.subarray(0, i)), p.push(wav.subarray(i))]);
      expect(p.format).toMatchObject({ sampleRate: 22050, channels: 1, bitsPerSample: 16 });
      expect(Array.from(out)).toEqual(Array.from(pcm));
    }
  });

  it('streams until the end when the data size is the streaming placeholder (espeak-ng --stdout)', () => {
    const pcm = sine(440, 22050, 0.01);
    const wav = encodeWav(pcm, 22050);
    wav.writeUInt32LE(0x7ffff000, 40);
    const p = new WavStreamParser();
    expect(p.push(wav).length).toBe(pcm.length);
  });

  it('skips unknown chunks before data and ignores chunks after a sized data chunk', () => {
    const pcm = new Int16Array([1, 2, 3, 4]);
    const wav = encodeWav(pcm, 16000);
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from([9, 9, 9, 0])]);
    const withList = Buffer.concat([wav.subarray(0, 36), list, wav.subarray(36), list]);
    const p = new WavStreamParser();
    expect(Array.from(p.push(withList))).toEqual([1, 2, 3, 4]);
  });

  it('averages stereo to mono', () => {
    const wav = encodeWav(new Int16Array([100, 300, -50, 50]), 8000);
    wav.writeUInt16LE(2, 22);
    const p = new WavStreamParser();
    const a = p.push(wav.subarray(0, 47));
    const b = p.push(wav.subarray(47));
    expect(Array.from(concat([a, b]))).toEqual([200, 0]);
  });

  it('throws Wav.BadHeader for a non-WAV stream and Wav.Unsupported for 8-bit audio', () => {
    expect(() => new WavStreamParser().push(Buffer.from('ID3 this is an mp3 file'))).toThrow(FrameError);
    const wav = encodeWav(new Int16Array(4), 8000);
    wav.writeUInt16LE(8, 34);
    try {
      new WavStreamParser().push(wav);
      expect.unreachable();
    } catch (e) {
      expect((e as FrameError).code).toBe('Wav.Unsupported');
    }
  });
});
