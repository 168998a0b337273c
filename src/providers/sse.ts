/**
 * Streaming Server-Sent-Events parser (WHATWG "event stream interpretation"),
 * written as an explicit state machine over byte chunks.
 *
 * - Line terminators are `\n`, `\r\n` or `\r`, also when the `\r` and `\n` arrive
 *   in different chunks (state `AFTER_CR`).
 * - Lines are split on bytes and decoded only once complete: `\r` and `\n` never
 *   occur inside a multi-byte UTF-8 sequence, so a character split across chunks
 *   is decoded whole. Bytes of a line that spans chunks are kept as views and
 *   copied once, when the line ends.
 * - `:` comment lines (keep-alives) are counted, never dispatched.
 * - `data:` lines are joined with `\n`; an event is dispatched on a blank line.
 * - `maxEventBytes` bounds the bytes of one event (pending line + accumulated
 *   fields) and is checked as bytes arrive, before buffering more: the parser then
 *   throws `FrameError('Sse.EventTooLarge')` and stays failed.
 */
import { FrameError } from '../errors';

export interface SseEvent {
  /** `event:` field, `message` when absent. */
  event: string;
  /** `data:` lines joined with `\n`. */
  data: string;
  /** Last event id seen so far in the stream (`id:` field), or '' . */
  id: string;
  /** `retry:` value in ms, when this event carried one. */
  retry?: number;
}

export interface SseParserOptions {
  /** Upper bound on the bytes of one event (default 1 MiB). */
  maxEventBytes?: number;
}

/** Parser states. `LINE`: inside a line; `AFTER_CR`: a `\r` ended the last line, a `\n` may follow. */
type State = 'LINE' | 'AFTER_CR' | 'FAILED';

const LF = 0x0a;
const CR = 0x0d;
const decoder = new TextDecoder('utf-8', { fatal: false });

export class SseParser {
  private state: State = 'LINE';
  private readonly maxEventBytes: number;
  /** Pieces of the current, not yet terminated line. */
  private linePieces: Uint8Array[] = [];
  private lineBytes = 0;
  /** Fields of the event being accumulated. */
  private dataLines: string[] = [];
  private eventType = '';
  private eventRetry: number | undefined;
  private eventBytes = 0;
  private hasFields = false;
  private lastEventId = '';
  private atStreamStart = true;
  /** Number of `:` comment lines seen (keep-alives). */
  comments = 0;

  constructor(options: SseParserOptions = {}) {
    this.maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
  }

  /** True when bytes of an event (or of a line) have been received but not dispatched yet. */
  get hasPartialEvent(): boolean {
    return this.lineBytes > 0 || this.hasFields;
  }

  /**
   * Feeds one chunk; returns the events it completed (possibly none).
   * Throws FrameError('Sse.EventTooLarge') when an event exceeds the limit.
   */
  push(chunk: Uint8Array): SseEvent[] {
    if (this.state === 'FAILED') throw new FrameError('Sse.Failed', 'SSE parser already failed');
    const out: SseEvent[] = [];
    let start = 0;
    let i = 0;
    if (this.atStreamStart && chunk.length > 0) {
      start = i = this.skipBom(chunk);
      if (start < 0) return out; // BOM prefix incomplete: kept in linePieces
    }
    const n = chunk.length;
    while (i < n) {
      if (this.state === 'AFTER_CR') {
        this.state = 'LINE';
        if (chunk[i] === LF) {
          i++;
          start = i;
          continue;
        }
      }
      // LINE: scan for the next terminator.
      let j = i;
      while (j < n && chunk[j] !== LF && chunk[j] !== CR) j++;
      if (j === n) {
        // Line continues in the next chunk: keep a view, check the limit now.
        if (j > start) this.appendPiece(chunk.subarray(start, j));
        return out;
      }
      if (j > start) this.appendPiece(chunk.subarray(start, j));
      this.state = chunk[j] === CR ? 'AFTER_CR' : 'LINE';
      this.endLine(out);
      i = j + 1;
      start = i;
    }
    return out;
  }

  /**
   * End of stream. An event not terminated by a blank line is discarded (per the
   * spec); callers use `hasPartialEvent` before calling this to detect truncation.
   */
  end(): void {
    this.linePieces = [];
    this.lineBytes = 0;
    this.resetEvent();
  }

  private skipBom(chunk: Uint8Array): number {
    const bom = [0xef, 0xbb, 0xbf];
    // Bytes of a possible BOM already held from earlier chunks.
    const held = this.lineBytes;
    let k = 0;
    while (held + k < 3 && k < chunk.length && chunk[k] === bom[held + k]) k++;
    if (held + k === 3) {
      this.linePieces = [];
      this.lineBytes = 0;
      this.atStreamStart = false;
      return k;
    }
    if (k === chunk.length && held + k < 3) {
      // Still a BOM prefix: hold it until decided.
      this.appendPiece(chunk);
      return -1;
    }
    this.atStreamStart = false;
    return 0;
  }

  private appendPiece(piece: Uint8Array): void {
    this.linePieces.push(piece);
    this.lineBytes += piece.length;
    this.checkLimit();
  }

  private checkLimit(): void {
    if (this.eventBytes + this.lineBytes > this.maxEventBytes) {
      this.state = 'FAILED';
      this.linePieces = [];
      throw new FrameError(
        'Sse.EventTooLarge',
        `SSE event exceeds ${this.maxEventBytes} bytes`,
      );
    }
  }

  private takeLine(): string {
    const pieces = this.linePieces;
    let line: string;
    if (pieces.length === 0) line = '';
    else if (pieces.length === 1) line = decoder.decode(pieces[0]);
    else {
      const buf = new Uint8Array(this.lineBytes);
      let o = 0;
      for (const p of pieces) {
        buf.set(p, o);
        o += p.length;
      }
      line = decoder.decode(buf);
    }
    this.linePieces = [];
    this.lineBytes = 0;
    return line;
  }

  private endLine(out: SseEvent[]): void {
    if (this.atStreamStart) this.atStreamStart = false;
    if (this.lineBytes === 0) {
      this.dispatch(out);
      return;
    }
    const bytes = this.lineBytes;
    const line = this.takeLine();
    if (line.charCodeAt(0) === 0x3a /* ':' */) {
      this.comments++;
      return;
    }
    this.eventBytes += bytes;
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        this.hasFields = true;
        break;
      case 'event':
        this.eventType = value;
        this.hasFields = true;
        break;
      case 'id':
        if (!value.includes('\u0000')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.eventRetry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.dataLines.length > 0) {
      const ev: SseEvent = {
        event: this.eventType || 'message',
        data: this.dataLines.join('\n'),
        id: this.lastEventId,
      };
      if (this.eventRetry !== undefined) ev.retry = this.eventRetry;
      out.push(ev);
    }
    this.resetEvent();
  }

  private resetEvent(): void {
    this.dataLines = [];
    this.eventType = '';
    this.eventRetry = undefined;
    this.eventBytes = 0;
    this.hasFields = false;
  }
}
