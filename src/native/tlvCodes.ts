/** TLV formats, status values and stable error codes shared with native/src/tlv.h. */
export const TlvFormat = { Ctrl: 0, AudioSocket: 1 } as const;
export type TlvFormat = (typeof TlvFormat)[keyof typeof TlvFormat];

export const TlvStatus = {
  Ok: 0,
  NeedMore: 1,
  OutFull: 2,
  BadMagic: -1,
  Oversize: -2,
  Truncated: -3,
  UnknownKind: -4,
} as const;
export type TlvStatus = (typeof TlvStatus)[keyof typeof TlvStatus];

/** Error codes reported to the sender of a malformed frame (docs/ERRORS.md). */
export const TLV_ERROR_CODE: Record<number, string> = {
  [TlvStatus.BadMagic]: 'TLV_BAD_MAGIC',
  [TlvStatus.Oversize]: 'TLV_OVERSIZE',
  [TlvStatus.Truncated]: 'TLV_TRUNCATED',
  [TlvStatus.UnknownKind]: 'TLV_UNKNOWN_KIND',
};

export const CTRL_HEADER = 8;
export const AUDIOSOCKET_HEADER = 3;
/** Kind reported for ctrl frames (they carry no kind byte). */
export const CTRL_KIND = 0x63;
export const DEFAULT_MAX_PAYLOAD = 64 * 1024;

export const AudioSocketKind = { Hangup: 0x00, Id: 0x01, Audio: 0x10, Error: 0xff } as const;

export function headerSize(format: TlvFormat): number {
  return format === TlvFormat.Ctrl ? CTRL_HEADER : AUDIOSOCKET_HEADER;
}

/** Layout of the caller-provided result array of decodeBatch. */
export const OUT_FRAMES = 0;
export const OUT_CONSUMED = 1;
export const OUT_STATUS = 2;
export const OUT_FIRST = 4;

/** Allocates a result array for up to `maxFrames` frames per call. */
export function createDecodeOut(maxFrames = 256): Int32Array {
  return new Int32Array(OUT_FIRST + 3 * maxFrames);
}
