/**
 * Audio format conversion for a phone leg: the wire format of the gateway or the
 * RTP payload (L16 little- or big-endian, G.711 μ-law / A-law at 8 or 16 kHz)
 * to and from the agent core's 16 kHz PCM16. One instance per leg: the
 * resamplers keep state across packets so chunk boundaries never click.
 */
import { decodeG711, encodeG711 } from '../media/g711';
import { StreamResampler } from '../providers/resample';
import { CORE_RATE } from '../agent/session';
import { InvalidParameterError } from '../errors';

export type LegEncoding = 'L16' | 'PCMU' | 'PCMA';
export const LEG_ENCODINGS: readonly LegEncoding[] = ['L16', 'PCMU', 'PCMA'];
export const LEG_RATES: readonly number[] = [8000, 16000];

export interface LegFormat {
  encoding: LegEncoding;
  sampleRate: number;
  /** L16 byte order: little-endian (gateways, AudioSocket) unless set. */
  bigEndian?: boolean;
}

/** Validates a requested format; errors name the field. */
export function legFormat(encoding: unknown, sampleRate: unknown): LegFormat {
  const enc = (encoding ?? 'L16') as LegEncoding;
  if (typeof enc !== 'string' || !LEG_ENCODINGS.includes(enc)) {
    throw new InvalidParameterError('InvalidParameter.Encoding', `unsupported encoding ${JSON.stringify(encoding)}; use L16, PCMU or PCMA`);
  }
  const rate = sampleRate ?? (enc === 'L16' ? 16000 : 8000);
  if (typeof rate !== 'number' || !LEG_RATES.includes(rate)) {
    throw new InvalidParameterError('InvalidParameter.SampleRate', `sampleRate must be 8000 or 16000 (got ${JSON.stringify(sampleRate)})`);
  }
  if (enc !== 'L16' && rate !== 8000) throw new InvalidParameterError('InvalidParameter.SampleRate', `${enc} is 8000 Hz only`);
  return { encoding: enc, sampleRate: rate };
}

/** Bytes per 20 ms of audio in this format. */
export function bytesPer20ms(f: LegFormat): number {
  return (f.sampleRate / 50) * (f.encoding === 'L16' ? 2 : 1);
}

export class LegCodec {
  private readonly up: StreamResampler | null;
  private readonly down: StreamResampler | null;
  /** Encoded bytes not yet sent as a whole frame (encodeFrame). */
  private pending: Buffer = Buffer.alloc(0);
  readonly frameBytes: number;

  constructor(readonly fmt: LegFormat) {
    this.up = fmt.sampleRate === CORE_RATE ? null : new StreamResampler(fmt.sampleRate, CORE_RATE);
    this.down = fmt.sampleRate === CORE_RATE ? null : new StreamResampler(CORE_RATE, fmt.sampleRate);
    this.frameBytes = bytesPer20ms(fmt);
  }

  /**
   * 16 kHz PCM (one 20 ms frame per call) → exactly one 20 ms wire frame, or null
   * while the resampler's delay is filling (only on the first call of a stream).
   * Gateways and RTP peers get constant frames; the few samples of resampler delay
   * stay here and go out with the next frame.
   */
  encodeFrame(pcm16k: Int16Array): Buffer | null {
    const b = this.encode(pcm16k);
    const all = this.pending.length ? Buffer.concat([this.pending, b]) : b;
    if (all.length < this.frameBytes) {
      this.pending = all;
      return null;
    }
    this.pending = all.length > this.frameBytes ? Buffer.from(all.subarray(this.frameBytes)) : Buffer.alloc(0);
    return all.subarray(0, this.frameBytes);
  }

  /**
   * Drops what the output side still holds of interrupted speech — the encoded bytes
   * waiting for a whole frame and the resampler's history — so the first frame after
   * a barge-in carries none of it.
   */
  resetOutput(): void {
    this.down?.reset();
    this.pending = Buffer.alloc(0);
  }

  /** Wire bytes → 16 kHz PCM (a new array the caller may keep). Odd trailing L16 bytes are ignored. */
  decode(data: Uint8Array): Int16Array {
    let pcm: Int16Array;
    if (this.fmt.encoding === 'L16') {
      const n = data.length >> 1;
      pcm = new Int16Array(n);
      const be = this.fmt.bigEndian === true;
      for (let i = 0, o = 0; i < n; i++, o += 2) {
        const v = be ? (data[o] << 8) | data[o + 1] : data[o] | (data[o + 1] << 8);
        pcm[i] = (v << 16) >> 16;
      }
    } else pcm = decodeG711(this.fmt.encoding, data);
    return this.up ? this.up.push(pcm) : pcm;
  }

  /** 16 kHz PCM → wire bytes (a new Buffer; empty while the resampler fills its history). */
  encode(pcm16k: Int16Array): Buffer {
    const pcm = this.down ? this.down.push(pcm16k) : pcm16k;
    if (this.fmt.encoding === 'L16') {
      const b = Buffer.allocUnsafe(pcm.length * 2);
      if (this.fmt.bigEndian) for (let i = 0; i < pcm.length; i++) b.writeInt16BE(pcm[i], 2 * i);
      else for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i], 2 * i);
      return b;
    }
    const b = Buffer.allocUnsafe(pcm.length);
    encodeG711(this.fmt.encoding, pcm, b);
    return b;
  }
}
