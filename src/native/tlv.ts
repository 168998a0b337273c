/**
 * TLV codec front door: picks the native addon or the TS fallback, and offers the
 * convenience encoders the rest of the bridge uses. Decoding never copies
 * payloads; results are offsets into the caller's buffer (see tlvCodes.ts).
 */
import { nativeAddon } from './addon';
import { tsTlv, type TlvCodecImpl } from './tlvFallback';
import { TlvFormat, headerSize } from './tlvCodes';

export type TlvImpl = 'native' | 'ts' | 'auto';

/**
 * Below this many bytes a decode call stays in JS: crossing into the addon costs
 * more than it saves for one or two frames (bench:tlv, BENCHMARKS.md: a single
 * 32 B frame decodes in ~160 ns in TS vs ~230 ns native; a 1000-frame batch in
 * ~7 ns/frame native vs ~73 ns/frame TS).
 */
export const NATIVE_MIN_BYTES = 512;

let hybrid: TlvCodecImpl | undefined;

/** The codec implementation: 'auto' = native for large inputs when built, else TS. */
export function tlvCodec(impl: TlvImpl = 'auto'): TlvCodecImpl {
  if (impl === 'ts') return tsTlv;
  const n = nativeAddon();
  if (!n) {
    if (impl === 'native') throw Object.assign(new Error('native addon is not built (npm run build:native)'), { code: 'NATIVE_NOT_BUILT' });
    return tsTlv;
  }
  if (impl === 'native') return n.tlv;
  return (hybrid ??= {
    decodeBatch: (f, buf, start, end, max, out, final) =>
      (end - start >= NATIVE_MIN_BYTES ? n.tlv : tsTlv).decodeBatch(f, buf, start, end, max, out, final),
    encode: (f, kind, payload, dst, off) => (payload.length >= NATIVE_MIN_BYTES ? n.tlv : tsTlv).encode(f, kind, payload, dst, off),
    writeHeader: tsTlv.writeHeader,
  });
}

/** Encodes one frame into a new Buffer (header and payload in one allocation). */
export function encodeFrame(format: TlvFormat, kind: number, payload: Uint8Array, impl: TlvImpl = 'auto'): Buffer {
  const out = Buffer.allocUnsafe(headerSize(format) + payload.length);
  const n = tlvCodec(impl).encode(format, kind, payload, out, 0);
  if (n === 0) throw new RangeError(`payload of ${payload.length} bytes does not fit a ${format === TlvFormat.Ctrl ? 'ctrl' : 'audiosocket'} frame`);
  return out;
}

/** `ctrl` + u32be length + JSON: the binary control frame clients send on the data channel. */
export function encodeCtrl(message: unknown): Buffer {
  const json = Buffer.from(typeof message === 'string' ? message : JSON.stringify(message), 'utf8');
  return encodeFrame(TlvFormat.Ctrl, 0, json);
}
