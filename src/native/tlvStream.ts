/**
 * Streaming TLV decoder for byte streams split at arbitrary points (TCP audio
 * sockets, WebSocket binary streams). An explicit state machine:
 *
 *   READY   -- no partial frame held; whole frames in a chunk are decoded in place
 *              by the batch codec (native or TS) and handed out as views;
 *   HEADER  -- a header spans chunks; its bytes are collected in an 8-byte buffer;
 *   BODY    -- a payload spans chunks; only this frame is copied, into a buffer of
 *              exactly its declared size (checked against maxPayload first);
 *   FAILED  -- a malformed header was seen; the stream cannot resync.
 *
 * Errors are returned as status values and recorded in `error`; nothing throws
 * per packet.
 */
import { tlvCodec, type TlvImpl } from './tlv';
import { readHeader, type TlvCodecImpl } from './tlvFallback';
import {
  DEFAULT_MAX_PAYLOAD,
  OUT_CONSUMED,
  OUT_FIRST,
  OUT_STATUS,
  TLV_ERROR_CODE,
  TlvFormat,
  TlvStatus,
  createDecodeOut,
  headerSize,
} from './tlvCodes';

/** Receives each frame: the payload is buf[offset, offset+length), valid only during the call. */
export type FrameSink = (kind: number, buf: Uint8Array, offset: number, length: number) => void;

const enum State {
  Ready,
  Header,
  Body,
  Failed,
}

export interface TlvStreamError {
  status: number;
  code: string;
  /** Byte position in the stream where the bad frame started. */
  streamOffset: number;
}

export class TlvStreamDecoder {
  private state = State.Ready;
  private readonly hs: number;
  private readonly header = new Uint8Array(8);
  private readonly hdr = new Uint32Array(2);
  private have = 0;
  /** Reassembly buffer for a frame spanning reads; grown on demand, reused. */
  private body: Uint8Array = new Uint8Array(0);
  private kind = 0;
  private need = 0;
  private readonly out: Int32Array;
  private readonly codec: TlvCodecImpl;
  /** Bytes consumed before the current chunk (for error positions). */
  private streamPos = 0;
  private frameStart = 0;
  error: TlvStreamError | null = null;
  readonly maxPayload: number;

  constructor(
    readonly format: TlvFormat,
    opts: { maxPayload?: number; impl?: TlvImpl; batch?: number } = {},
  ) {
    this.hs = headerSize(format);
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.codec = tlvCodec(opts.impl ?? 'auto');
    this.out = createDecodeOut(opts.batch ?? 64);
  }

  /** Bytes held of an incomplete frame. */
  get buffered(): number {
    return this.state === State.Body ? this.hs + this.have : this.state === State.Header ? this.have : 0;
  }

  push(chunk: Uint8Array, sink: FrameSink): number {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case State.Failed:
          return this.error!.status;
        case State.Body: {
          const take = Math.min(this.need - this.have, len - pos);
          this.body.set(chunk.subarray(pos, pos + take), this.have);
          this.have += take;
          pos += take;
          if (this.have === this.need) {
            this.state = State.Ready;
            this.have = 0;
            sink(this.kind, this.body, 0, this.need);
          }
          break;
        }
        case State.Header: {
          const take = Math.min(this.hs - this.have, len - pos);
          this.header.set(chunk.subarray(pos, pos + take), this.have);
          this.have += take;
          pos += take;
          const s = readHeader(this.format, this.header, 0, this.have, this.maxPayload, this.hdr);
          if (s === TlvStatus.NeedMore) break;
          if (s !== TlvStatus.Ok) return this.fail(s, this.streamPos + pos - this.have);
          if (!this.startBody()) sink(this.kind, this.header, this.hs, 0);
          break;
        }
        case State.Ready: {
          const out = this.out;
          const frames = this.codec.decodeBatch(this.format, chunk, pos, len, this.maxPayload, out, false);
          for (let i = 0, o = OUT_FIRST; i < frames; i++, o += 3) sink(out[o], chunk, out[o + 1], out[o + 2]);
          const status = out[OUT_STATUS];
          const consumed = out[OUT_CONSUMED];
          pos = consumed;
          if (status === TlvStatus.Ok || status === TlvStatus.OutFull) break;
          if (status !== TlvStatus.NeedMore) return this.fail(status, this.streamPos + consumed);
          // A frame spans into the next chunk: keep its header, copy its payload part.
          const rest = len - pos;
          if (rest < this.hs) {
            this.header.set(chunk.subarray(pos, len), 0);
            this.have = rest;
            this.state = State.Header;
          } else {
            readHeader(this.format, chunk, pos, len, this.maxPayload, this.hdr);
            this.startBody();
            const part = rest - this.hs;
            this.body.set(chunk.subarray(pos + this.hs, len), 0);
            this.have = part;
          }
          pos = len;
          break;
        }
      }
    }
    this.streamPos += len;
    return this.state === State.Ready ? TlvStatus.Ok : this.state === State.Failed ? this.error!.status : TlvStatus.NeedMore;
  }

  /** Declares the end of the stream: a partial frame is TLV_TRUNCATED. */
  end(): number {
    if (this.state === State.Failed) return this.error!.status;
    if (this.state !== State.Ready) return this.fail(TlvStatus.Truncated, this.frameStart);
    return TlvStatus.Ok;
  }

  /** Enters BODY for the header in `hdr`; false (stays READY) for an empty payload. */
  private startBody(): boolean {
    this.kind = this.hdr[0];
    this.need = this.hdr[1];
    this.have = 0;
    this.frameStart = this.streamPos;
    if (this.need === 0) {
      this.state = State.Ready;
      return false;
    }
    // Length already checked against maxPayload by readHeader; copy only this frame,
    // into a reused buffer (payload views are valid only during the sink call).
    if (this.body.length < this.need) this.body = new Uint8Array(Math.max(this.need, Math.min(2 * this.body.length, this.maxPayload)));
    this.state = State.Body;
    return true;
  }

  private fail(status: number, streamOffset: number): number {
    this.state = State.Failed;
    this.error = { status, code: TLV_ERROR_CODE[status] ?? 'TLV_UNKNOWN', streamOffset };
    return status;
  }
}
