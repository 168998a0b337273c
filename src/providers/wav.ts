/**
 * PCM16 byte formats of the providers: raw little-endian PCM16 streams whose
 * chunks may split a sample (odd byte counts), streamed WAV files (the header is
 * parsed as it arrives, then samples are streamed), and WAV encoding.
 *
 * A streamed WAV (`espeak-ng --stdout`) has no known length when its header is
 * written: a data size of 0 or near 2^31/2^32 means "until the end of the stream".
 * Parse errors are FrameErrors: `Wav.BadHeader`, `Wav.Unsupported`.
 */
import { FrameError } from '../errors';

/** Turns a stream of PCM16 LE bytes into samples, carrying an odd byte to the next chunk. */
export class Pcm16Reader {
  private carry = -1;

  push(chunk: Uint8Array): Int16Array {
    let off = 0;
    const total = chunk.length + (this.carry >= 0 ? 1 : 0);
    const out = new Int16Array(total >> 1);
    let o = 0;
    if (this.carry >= 0 && chunk.length > 0) {
      const v = this.carry | (chunk[0]! << 8);
      out[o++] = v >= 0x8000 ? v - 0x10000 : v;
      this.carry = -1;
      off = 1;
    }
    const n = chunk.length - off;
    const pairs = n >> 1;
    if (pairs > 0) {
      if ((chunk.byteOffset + off) % 2 === 0) {
        // Aligned: view the bytes directly (little-endian host), one copy into `out`.
        out.set(new Int16Array(chunk.buffer, chunk.byteOffset + off, pairs), o);
      } else {
        const dv = new DataView(chunk.buffer, chunk.byteOffset + off, pairs * 2);
        for (let i = 0; i < pairs; i++) out[o + i] = dv.getInt16(i * 2, true);
      }
      o += pairs;
    }
    if (n & 1) this.carry = chunk[chunk.length - 1]!;
    return o === out.length ? out : out.subarray(0, o);
  }

  /** True when half a sample is pending (a stream should not end like that). */
  get hasCarry(): boolean {
    return this.carry >= 0;
  }
}

export interface WavFormat {
  audioFormat: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
}

type WavState = 'RIFF' | 'CHUNK_HEADER' | 'FMT' | 'SKIP' | 'DATA' | 'TRAILER';

const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Streaming WAV parser: `push(bytes)` returns the mono PCM16 samples available
 * (stereo is averaged), none until the header is complete.
 */
export class WavStreamParser {
  private state: WavState = 'RIFF';
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private need = 12;
  private skip = 0;
  private dataLeft = Infinity;
  private headerBytes = 0;
  private readonly pcm = new Pcm16Reader();
  private stereoCarry: Int16Array | null = null;
  format: WavFormat | null = null;

  push(chunk: Uint8Array): Int16Array {
    let data = chunk;
    const parts: Int16Array[] = [];
    while (data.length > 0) {
      if (this.state === 'DATA') {
        const take = this.dataLeft === Infinity ? data.length : Math.min(data.length, this.dataLeft);
        parts.push(this.samples(data.subarray(0, take)));
        if (this.dataLeft !== Infinity) {
          this.dataLeft -= take;
          if (this.dataLeft === 0) this.state = 'TRAILER';
        }
        data = data.subarray(take);
        continue;
      }
      if (this.state === 'TRAILER') break; // chunks after the data (LIST ...) are ignored
      if (this.state === 'SKIP') {
        const take = Math.min(this.skip, data.length);
        this.skip -= take;
        this.countHeader(take);
        data = data.subarray(take);
        if (this.skip === 0) this.expect('CHUNK_HEADER', 8);
        continue;
      }
      // Accumulate `need` bytes for a header field.
      const take = Math.min(this.need - this.pendingBytes, data.length);
      this.pending.push(data.subarray(0, take));
      this.pendingBytes += take;
      data = data.subarray(take);
      if (this.pendingBytes < this.need) break;
      const buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.countHeader(buf.length);
      this.header(buf);
    }
    if (parts.length === 1) return parts[0]!;
    const n = parts.reduce((a, p) => a + p.length, 0);
    const out = new Int16Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** True once the `data` chunk has started. */
  get inData(): boolean {
    return this.state === 'DATA' || this.state === 'TRAILER';
  }

  private expect(state: WavState, need: number): void {
    this.state = state;
    this.need = need;
  }

  private countHeader(n: number): void {
    this.headerBytes += n;
    if (this.headerBytes > MAX_HEADER_BYTES) throw new FrameError('Wav.BadHeader', 'no WAV data chunk in the first 64 KiB');
  }

  private header(buf: Buffer): void {
    switch (this.state) {
      case 'RIFF':
        if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
          throw new FrameError('Wav.BadHeader', 'not a RIFF/WAVE stream');
        }
        this.expect('CHUNK_HEADER', 8);
        return;
      case 'CHUNK_HEADER': {
        const id = buf.toString('latin1', 0, 4);
        const size = buf.readUInt32LE(4);
        if (id === 'fmt ') {
          if (size < 16 || size > 1024) throw new FrameError('Wav.BadHeader', `bad fmt chunk size ${size}`);
          this.expect('FMT', size + (size & 1));
        } else if (id === 'data') {
          if (!this.format) throw new FrameError('Wav.BadHeader', 'data chunk before fmt chunk');
          this.state = 'DATA';
          this.dataLeft = size === 0 || size >= 0x7fff0000 ? Infinity : size;
        } else {
          this.skip = size + (size & 1);
          if (this.skip === 0) this.expect('CHUNK_HEADER', 8);
          else this.state = 'SKIP';
        }
        return;
      }
      case 'FMT': {
        const f: WavFormat = {
          audioFormat: buf.readUInt16LE(0),
          channels: buf.readUInt16LE(2),
          sampleRate: buf.readUInt32LE(4),
          bitsPerSample: buf.readUInt16LE(14),
        };
        const pcm = f.audioFormat === 1 || f.audioFormat === 0xfffe;
        if (!pcm || f.bitsPerSample !== 16 || f.channels < 1 || f.channels > 2 || f.sampleRate < 1000) {
          throw new FrameError(
            'Wav.Unsupported',
            `unsupported WAV format ${f.audioFormat}, ${f.bitsPerSample} bits, ${f.channels} channels, ${f.sampleRate} Hz`,
          );
        }
        this.format = f;
        this.expect('CHUNK_HEADER', 8);
        return;
      }
      default:
        return;
    }
  }

  private samples(bytes: Uint8Array): Int16Array {
    const s = this.pcm.push(bytes);
    if (this.format!.channels === 1) return s;
    // Stereo: average the pairs, carrying a lone left sample.
    let src = s;
    if (this.stereoCarry) {
      src = new Int16Array(s.length + 1);
      src[0] = this.stereoCarry[0]!;
      src.set(s, 1);
      this.stereoCarry = null;
    }
    const frames = src.length >> 1;
    const out = new Int16Array(frames);
    for (let i = 0; i < frames; i++) out[i] = (src[2 * i]! + src[2 * i + 1]!) >> 1;
    if (src.length & 1) this.stereoCarry = src.subarray(src.length - 1);
    return out;
  }
}

/** A canonical 44-byte-header PCM16 mono WAV file. */
export function encodeWav(pcm: Int16Array, sampleRate: number): Buffer {
  const dataBytes = pcm.length * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'latin1');
  buf.write('fmt ', 12, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < pcm.length; i++) buf.writeInt16LE(pcm[i]!, 44 + 2 * i);
  return buf;
}
