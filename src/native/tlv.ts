/**
 * TLV codec front door: picks the native addon or the TS fallback, and offers the
 * convenience encoders the rest of the bridge uses. Decoding never copies
 * payloads; results are offsets into the caller's buffer (see tlvCodes.ts).
 */
import { nativeAddon } from './addon';
import { tsTlv, type TlvCodecImpl } from './tlvFallback';
import { TlvFormat, headerSize } from './tlvCodes';

export type TlvImpl = 'native' | 'ts' | 'auto';

/** The codec implementation: 'auto' = native when built, else TS. */
export function tlvCodec(impl: TlvImpl = 'auto'): TlvCodecImpl {
  if (impl === 'ts') return tsTlv;
  const n = nativeAddon();
  if (n) return n.tlv;
  if (impl === 'native') throw Object.assign(new Error('native addon is not built (npm run build:native)'), { code: 'NATIVE_NOT_BUILT' });
  return tsTlv;
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
