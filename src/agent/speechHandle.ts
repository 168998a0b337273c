/**
 * One outbound utterance of the agent: a handle the producer (LLM/TTS pipeline)
 * fills with PCM and text, and the splicer drains at real-time pace. Interruption
 * is a flush: `interrupt()` is idempotent, aborts the producer's requests through
 * `signal`, drops unplayed audio, and settles `waitForPlayout()` with what the
 * listener actually heard (played samples and the text cut at that position).
 */
import { EventEmitter } from 'node:events';
import { abortError } from '../errors';

export type Priority = 'High' | 'Medium' | 'Low';
export type SamePriorityOption = 'ClearAndInterrupt' | 'Enqueue';
export type SpeechState = 'queued' | 'playing' | 'done' | 'interrupted' | 'expired' | 'failed';

export const PRIORITY_RANK: Record<Priority, number> = { High: 3, Medium: 2, Low: 1 };

export interface PlayoutResult {
  state: SpeechState;
  interrupted: boolean;
  /** Why it stopped early: 'bargeIn', 'manual', 'preempted', 'takeover', 'stop', 'expired', or an error code. */
  reason: string | null;
  playedSamples: number;
  playedMs: number;
  /** Text the listener heard, cut at the playback position. */
  playedText: string;
  /** Whole text the producer supplied. */
  fullText: string;
}

interface Segment {
  text: string;
  /** Sample position where this text's audio starts. */
  start: number;
  /** Sample position where it ends (set when the next segment starts or input ends). */
  end: number;
}

let nextId = 1;

export interface SpeechHandleOptions {
  priority?: Priority;
  source: string;
  sampleRate: number;
  /** Drop the task, unplayed, if it has not started by this time (ms since epoch). */
  expiresAt?: number;
  /** Carries the task's own data (history flags, hang-up intent, ...). */
  meta?: Record<string, unknown>;
}

export class SpeechHandle extends EventEmitter {
  readonly id: string;
  readonly priority: Priority;
  readonly source: string;
  readonly sampleRate: number;
  readonly expiresAt?: number;
  readonly createdAt = Date.now();
  readonly meta: Record<string, unknown>;
  private readonly abort = new AbortController();
  private _state: SpeechState = 'queued';
  private chunks: Int16Array[] = [];
  private chunkPos = 0;
  private buffered = 0;
  private written = 0;
  private played = 0;
  private inputEnded = false;
  private segments: Segment[] = [];
  /** The producer waiting for the buffer to drain below its mark (see waitForRoom). */
  private roomWaiter: { below: number; resolve: () => void } | null = null;
  private settle!: (r: PlayoutResult) => void;
  private readonly playout: Promise<PlayoutResult>;
  startedAt: number | null = null;

  constructor(opts: SpeechHandleOptions) {
    super();
    this.id = `sp-${nextId++}`;
    this.priority = opts.priority ?? 'Medium';
    this.source = opts.source;
    this.sampleRate = opts.sampleRate;
    this.expiresAt = opts.expiresAt;
    this.meta = opts.meta ?? {};
    this.playout = new Promise((r) => (this.settle = r));
  }

  get state(): SpeechState {
    return this._state;
  }
  get signal(): AbortSignal {
    return this.abort.signal;
  }
  get finished(): boolean {
    return this._state !== 'queued' && this._state !== 'playing';
  }
  /** Samples handed to the transport so far. */
  get playedSamples(): number {
    return this.played;
  }
  /** Samples the producer has supplied but the splicer has not yet taken. */
  get bufferedSamples(): number {
    return this.buffered;
  }
  get ended(): boolean {
    return this.inputEnded;
  }

  // ---- producer side ----

  /** Marks the start of a text segment at the current end of the audio. */
  addText(text: string): void {
    if (this.finished) return;
    const last = this.segments[this.segments.length - 1];
    if (last && last.end < 0) last.end = this.written;
    this.segments.push({ text, start: this.written, end: -1 });
  }

  pushAudio(pcm: Int16Array): void {
    if (this.finished || this.inputEnded || pcm.length === 0) return;
    this.chunks.push(pcm);
    this.buffered += pcm.length;
    this.written += pcm.length;
  }

  /**
   * Back-pressure for the producer: null when fewer than `below` samples are
   * buffered, else a promise that resolves once playback has taken enough (or the
   * handle finished). A TTS stream read only this far ahead of playback keeps
   * memory per session bounded and spreads the download over the answer instead of
   * front-loading it (the socket's flow control holds the server meanwhile).
   */
  waitForRoom(below: number): Promise<void> | null {
    if (this.finished || this.buffered < below) return null;
    this.roomWaiter?.resolve(); // one producer per handle: a new wait replaces the old
    return new Promise((resolve) => (this.roomWaiter = { below, resolve }));
  }

  private wakeProducer(): void {
    const w = this.roomWaiter;
    if (w && (this.finished || this.buffered < w.below)) {
      this.roomWaiter = null;
      w.resolve();
    }
  }

  /** The producer has supplied everything; the handle completes when it has all played. */
  endInput(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    const last = this.segments[this.segments.length - 1];
    if (last && last.end < 0) last.end = this.written;
    this.emit('inputEnded');
  }

  /** The producer failed: stop with the error code as reason. */
  fail(code: string): void {
    this.finish('failed', code);
  }

  // ---- consumer side (splicer) ----

  /** Marks the handle playing (first frame about to be taken). */
  start(): void {
    if (this._state !== 'queued') return;
    this._state = 'playing';
    this.startedAt = Date.now();
    this.emit('started');
  }

  /**
   * Copies up to dst.length - dstOffset samples into dst. Returns the number
   * written; fewer means an underrun (the producer is behind) or the end.
   */
  read(dst: Int16Array, dstOffset: number): number {
    let want = dst.length - dstOffset;
    let n = 0;
    while (want > 0 && this.chunks.length) {
      const c = this.chunks[0];
      const take = Math.min(want, c.length - this.chunkPos);
      dst.set(c.subarray(this.chunkPos, this.chunkPos + take), dstOffset + n);
      n += take;
      want -= take;
      this.chunkPos += take;
      if (this.chunkPos === c.length) {
        this.chunks.shift();
        this.chunkPos = 0;
      }
    }
    this.buffered -= n;
    this.played += n;
    if (this.roomWaiter) this.wakeProducer();
    return n;
  }

  /**
   * `samples` taken by read() will not be heard after all (a paced output dropped the
   * frames it had queued ahead): the playback position, and the text heard, go back.
   * Call before the task is stopped; a finished task keeps its result.
   */
  unplay(samples: number): void {
    if (!this.finished) this.played = Math.max(0, this.played - samples);
  }

  /** True when all audio has been taken and the producer is done. */
  get drained(): boolean {
    return this.inputEnded && this.buffered === 0;
  }

  /** Called by the splicer after the last frame went out. */
  complete(): void {
    this.finish('done', null);
  }

  /** Stops the task now: aborts its producer and drops unplayed audio. Safe to repeat. */
  interrupt(reason = 'manual'): void {
    this.finish(this._state === 'queued' && reason === 'expired' ? 'expired' : 'interrupted', reason);
  }

  waitForPlayout(): Promise<PlayoutResult> {
    return this.playout;
  }

  /** Text heard up to the playback position; a partly played segment is cut at a word boundary. */
  playedText(): string {
    const out: string[] = [];
    for (const s of this.segments) {
      if (s.start >= this.played) break;
      const end = s.end < 0 ? this.written : s.end;
      if (this.played >= end || end === s.start) {
        out.push(s.text);
        continue;
      }
      const frac = (this.played - s.start) / (end - s.start);
      const cut = Math.floor(s.text.length * frac);
      const upTo = s.text.lastIndexOf(' ', cut);
      const part = (upTo > 0 ? s.text.slice(0, upTo) : s.text.slice(0, cut)).trimEnd();
      if (part) out.push(part);
      break;
    }
    return joinText(out);
  }

  fullText(): string {
    return joinText(this.segments.map((s) => s.text));
  }

  private finish(state: SpeechState, reason: string | null): void {
    if (this.finished) return;
    this._state = state;
    this.chunks = [];
    this.buffered = 0;
    this.wakeProducer();
    // the reason made without a stack (see abortError): the default one captures it
    if (!this.abort.signal.aborted) this.abort.abort(abortError());
    const result: PlayoutResult = {
      state,
      interrupted: state !== 'done',
      reason,
      playedSamples: this.played,
      playedMs: (this.played / this.sampleRate) * 1000,
      playedText: state === 'done' ? this.fullText() : this.playedText(),
      fullText: this.fullText(),
    };
    this.settle(result);
    this.emit('finished', result);
  }
}

function joinText(parts: string[]): string {
  let s = '';
  for (const p of parts) {
    if (!p) continue;
    s = s && !/\s$/.test(s) && !/^\s/.test(p) ? `${s} ${p}` : s + p;
  }
  return s.trim();
}
