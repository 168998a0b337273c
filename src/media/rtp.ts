/**
 * RTP (RFC 3550) header reading and writing, allocation-free on the read side:
 * `parseRtp` fills a caller-owned RtpView with offsets into the packet.
 */

export interface RtpView {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Payload is packet[payloadOffset, payloadOffset + payloadLength). */
  payloadOffset: number;
  payloadLength: number;
}

export function createRtpView(): RtpView {
  return { payloadType: 0, marker: false, sequenceNumber: 0, timestamp: 0, ssrc: 0, payloadOffset: 0, payloadLength: 0 };
}

/** Returns false for anything that is not a well-formed RTP v2 packet. */
export function parseRtp(pkt: Uint8Array, view: RtpView): boolean {
  if (pkt.length < 12 || pkt[0] >> 6 !== 2) return false;
  const cc = pkt[0] & 0x0f;
  let off = 12 + 4 * cc;
  if (off > pkt.length) return false;
  if (pkt[0] & 0x10) {
    if (off + 4 > pkt.length) return false;
    const words = (pkt[off + 2] << 8) | pkt[off + 3];
    off += 4 + 4 * words;
    if (off > pkt.length) return false;
  }
  let end = pkt.length;
  if (pkt[0] & 0x20) {
    const pad = pkt[pkt.length - 1];
    if (pad === 0 || end - pad < off) return false;
    end -= pad;
  }
  view.marker = (pkt[1] & 0x80) !== 0;
  view.payloadType = pkt[1] & 0x7f;
  view.sequenceNumber = (pkt[2] << 8) | pkt[3];
  view.timestamp = ((pkt[4] << 24) | (pkt[5] << 16) | (pkt[6] << 8) | pkt[7]) >>> 0;
  view.ssrc = ((pkt[8] << 24) | (pkt[9] << 16) | (pkt[10] << 8) | pkt[11]) >>> 0;
  view.payloadOffset = off;
  view.payloadLength = end - off;
  return true;
}

/** Writes a 12-byte RTP header (no CSRC, no extension) at dst[off]. */
export function writeRtpHeader(
  dst: Uint8Array,
  off: number,
  payloadType: number,
  marker: boolean,
  sequenceNumber: number,
  timestamp: number,
  ssrc: number,
): number {
  dst[off] = 0x80;
  dst[off + 1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  dst[off + 2] = (sequenceNumber >>> 8) & 0xff;
  dst[off + 3] = sequenceNumber & 0xff;
  dst[off + 4] = timestamp >>> 24;
  dst[off + 5] = (timestamp >>> 16) & 0xff;
  dst[off + 6] = (timestamp >>> 8) & 0xff;
  dst[off + 7] = timestamp & 0xff;
  dst[off + 8] = ssrc >>> 24;
  dst[off + 9] = (ssrc >>> 16) & 0xff;
  dst[off + 10] = (ssrc >>> 8) & 0xff;
  dst[off + 11] = ssrc & 0xff;
  return 12;
}

/** Builds one RTP packet in a new Buffer. */
export function buildRtp(payloadType: number, marker: boolean, seq: number, ts: number, ssrc: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(12 + payload.length);
  writeRtpHeader(b, 0, payloadType, marker, seq & 0xffff, ts >>> 0, ssrc >>> 0);
  b.set(payload, 12);
  return b;
}
