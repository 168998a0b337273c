/**
 * Pure-TS TLV codec with exactly the behaviour of native/src/tlv.cpp (parity
 * tests run both). Used when the addon is absent and for small inputs where a
 * native call does not pay (see BENCHMARKS.md).
 */
import {
  AUDIOSOCKET_HEADER,
  AudioSocketKind,
  CTRL_HEADER,
  CTRL_KIND,
  OUT_CONSUMED,
  OUT_FIRST,
  OUT_FRAMES,
  OUT_STATUS,
  TlvFormat,
  TlvStatus,
} from './tlvCodes';

export interface TlvCodecImpl {
  decodeBatch(format: number, buf: Uint8Array, start: number, end: number, maxPayload: number, out: Int32Array, final: boolean): number;
  encode(format: number, kind: number, payload: Uint8Array, dst: Uint8Array, dstOffset: number): number;
  writeHeader(format: number, kind: number, payloadLen: number, dst: Uint8Array, dstOffset: number): number;
}

export function isKnownAudioSocketKind(k: number): boolean {
  return k === AudioSocketKind.Hangup || k === AudioSocketKind.Id || k === AudioSocketKind.Audio || k === AudioSocketKind.Error;
}

/**
 * Reads one header at buf[pos..end). Returns a status; on Ok, hdr[0]=kind and
 * hdr[1]=payload length. A wrong ctrl magic is rejected on the first wrong byte.
 */
export function readHeader(format: number, buf: Uint8Array, pos: number, end: number, maxPayload: number, hdr: Uint32Array): number {
  const len = end - pos;
  let plen: number;
  if (format === TlvFormat.Ctrl) {
    if (len > 0 && buf[pos] !== 0x63) return TlvStatus.BadMagic;
    if (len > 1 && buf[pos + 1] !== 0x74) return TlvStatus.BadMagic;
    if (len > 2 && buf[pos + 2] !== 0x72) return TlvStatus.BadMagic;
    if (len > 3 && buf[pos + 3] !== 0x6c) return TlvStatus.BadMagic;
    if (len < CTRL_HEADER) return TlvStatus.NeedMore;
    hdr[0] = CTRL_KIND;
    plen = ((buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]) >>> 0;
  } else {
    if (len < 1) return TlvStatus.NeedMore;
    if (!isKnownAudioSocketKind(buf[pos])) return TlvStatus.UnknownKind;
    if (len < AUDIOSOCKET_HEADER) return TlvStatus.NeedMore;
    hdr[0] = buf[pos];
    plen = (buf[pos + 1] << 8) | buf[pos + 2];
  }
  hdr[1] = plen;
  return plen > maxPayload ? TlvStatus.Oversize : TlvStatus.Ok;
}

const scratch = new Uint32Array(2);

function decodeBatch(format: number, buf: Uint8Array, start: number, end: number, maxPayload: number, out: Int32Array, final: boolean): number {
  const hs = format === TlvFormat.Ctrl ? CTRL_HEADER : AUDIOSOCKET_HEADER;
  const maxFrames = ((out.length - OUT_FIRST) / 3) | 0;
  let pos = start;
  let frames = 0;
  let status: number = TlvStatus.Ok;
  while (pos < end) {
    if (frames === maxFrames) {
      status = TlvStatus.OutFull;
      break;
    }
    const s = readHeader(format, buf, pos, end, maxPayload, scratch);
    if (s === TlvStatus.NeedMore) {
      status = final ? TlvStatus.Truncated : TlvStatus.NeedMore;
      break;
    }
    if (s !== TlvStatus.Ok) {
      status = s;
      break;
    }
    const plen = scratch[1];
    if (end - pos - hs < plen) {
      status = final ? TlvStatus.Truncated : TlvStatus.NeedMore;
      break;
    }
    const o = OUT_FIRST + 3 * frames;
    out[o] = scratch[0];
    out[o + 1] = pos + hs;
    out[o + 2] = plen;
    frames++;
    pos += hs + plen;
  }
  out[OUT_FRAMES] = frames;
  out[OUT_CONSUMED] = pos;
  out[OUT_STATUS] = status;
  return frames;
}

function writeHeader(format: number, kind: number, payloadLen: number, dst: Uint8Array, off: number): number {
  if (format === TlvFormat.Ctrl) {
    if (dst.length - off < CTRL_HEADER || payloadLen > 0xffffffff || payloadLen < 0) return 0;
    dst[off] = 0x63;
    dst[off + 1] = 0x74;
    dst[off + 2] = 0x72;
    dst[off + 3] = 0x6c;
    dst[off + 4] = payloadLen >>> 24;
    dst[off + 5] = (payloadLen >>> 16) & 0xff;
    dst[off + 6] = (payloadLen >>> 8) & 0xff;
    dst[off + 7] = payloadLen & 0xff;
    return CTRL_HEADER;
  }
  if (dst.length - off < AUDIOSOCKET_HEADER || payloadLen > 0xffff || payloadLen < 0 || kind > 0xff) return 0;
  dst[off] = kind;
  dst[off + 1] = payloadLen >>> 8;
  dst[off + 2] = payloadLen & 0xff;
  return AUDIOSOCKET_HEADER;
}

function encode(format: number, kind: number, payload: Uint8Array, dst: Uint8Array, off: number): number {
  const hs = format === TlvFormat.Ctrl ? CTRL_HEADER : AUDIOSOCKET_HEADER;
  if (off > dst.length || dst.length - off < hs + payload.length) return 0;
  if (writeHeader(format, kind, payload.length, dst, off) === 0) return 0;
  dst.set(payload, off + hs);
  return hs + payload.length;
}

export const tsTlv: TlvCodecImpl = { decodeBatch, encode, writeHeader };
