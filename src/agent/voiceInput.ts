/**
 * One inbound voice (the user, or a human agent after takeover): runs the VAD
 * frame by frame, remembers when each frame arrived so the speech onset can be
 * dated to the packet that carried it, and cuts utterances (with a short
 * pre-roll) for the recogniser.
 *
 * End of turn: the VAD ends a segment after a short hangover (200 ms), which is
 * right for barge-in (speech duration) but too eager for a turn: people pause at
 * commas. An utterance is handed over only after `endOfTurnMs` of silence since
 * the last speech; speech that resumes before that continues the same utterance.
 * The wait is also checked by poll() on the frame clock, so a client that stops
 * sending packets in silence (Opus DTX, a muted microphone) still ends its turn.
 */
import type { VadStream } from '../native/vadTypes';
import { VadFlag } from '../native/vadTypes';
import type { FarEndReference } from './farEnd';

export interface VoiceFrameResult {
  flags: number;
  speechStart: boolean;
  speechEnd: boolean;
  durationReached: boolean;
  /** D was reached earlier in the current segment and the user is still in it. */
  reachedInSegment: boolean;
  speechMs: number;
}

export interface Utterance {
  pcm: Int16Array;
  /** Arrival time (ms since epoch) of the packet that carried the first speech sample. */
  onsetArrivalMs: number;
  endArrivalMs: number;
}

const PREROLL_MS = 300;
/** Silence kept after the last speech sample in a handed-over utterance. */
const TAIL_MS = 100;
const MAX_UTTERANCE_MS = 30_000;
const HISTORY_FRAMES = 256;

export class VoiceInput {
  readonly frameSamples: number;
  private readonly pending: Int16Array;
  private pendingLen = 0;
  private samplesIn = 0;
  /** Ring of (first sample, arrival ms) per processed frame, to date onsets. */
  private readonly ringStart = new Float64Array(HISTORY_FRAMES);
  private readonly ringArrival = new Float64Array(HISTORY_FRAMES);
  private ringN = 0;
  /** Pre-roll ring of recent frames, preallocated (no allocation per frame while quiet). */
  private readonly preroll: Int16Array[];
  private prerollN = 0;
  /**
   * The utterance being collected, in one buffer kept across utterances (1 s, grown
   * by doubling while collecting, back to 1 s after one over 8 s): seconds of speech held per session must not
   * be a typed array per frame, which outlives young-generation GC and churns the
   * old one (at 100 sessions, a major GC every second).
   */
  private utterBuf: Int16Array;
  private inUtterance = false;
  private utterSamples = 0;
  /** Arrival of the packet carrying the current (or last) speech segment's first sample. */
  onsetArrivalMs = 0;
  /** The same for the utterance being collected (its first segment). */
  private utterOnsetArrivalMs = 0;
  private onsetDated = false;
  /** Set while the VAD has ended the segment and the end of turn is awaited. */
  private endPending = false;
  /** Utterance samples up to the VAD's speech end (+ tail), and the stream sample count then. */
  private endKeep = 0;
  /** Stream time (ms) of the last speech sample, and the arrival time of the frame that ended it. */
  private endAtMs = 0;
  private endArrivalMs = 0;
  private lastFrameAt = 0;
  /** Stream sample of the current segment's onset, for the detector's share of a barge-in's delay. */
  private onsetSampleN = -1;
  /** Stream sample just after the frame that carried the onset. */
  private onsetFrameEnd = 0;
  readonly result: VoiceFrameResult = { flags: 0, speechStart: false, speechEnd: false, durationReached: false, reachedInSegment: false, speechMs: 0 };
  private reached = false;

  constructor(
    readonly vad: VadStream,
    readonly sampleRate: number,
    frameMs: number,
    private readonly onFrame: (r: VoiceFrameResult, input: VoiceInput) => void,
    private readonly onUtterance: (u: Utterance) => void,
    /** Silence after the last speech that ends a turn (ms); at most the VAD's hangover = at its speech end. */
    private readonly endOfTurnMs = 0,
  ) {
    this.frameSamples = (sampleRate * frameMs) / 1000;
    this.pending = new Int16Array(this.frameSamples);
    this.preroll = Array.from({ length: Math.ceil(PREROLL_MS / frameMs) }, () => new Int16Array(this.frameSamples));
    this.utterBuf = new Int16Array(sampleRate);
  }

  /** In a user turn: speaking, or paused for less than the end-of-turn silence. */
  get speaking(): boolean {
    return this.inUtterance;
  }

  /**
   * Feeds audio of any length; it is processed in VAD frames. `farEnd` gives the
   * agent audio played back for each frame (or null), for echo rejection, paired by
   * `mediaMs`: the packet's time on the sender's clock (src/media/mediaClock.ts), or
   * its arrival when the transport has none.
   */
  push(pcm: Int16Array, arrivalMs: number, farEnd: FarEndReference | null, mediaMs = arrivalMs): void {
    let off = 0;
    while (off < pcm.length) {
      if (this.pendingLen === 0 && pcm.length - off >= this.frameSamples) {
        this.frame(pcm.subarray(off, off + this.frameSamples), arrivalMs, mediaMs, farEnd);
        off += this.frameSamples;
        continue;
      }
      const take = Math.min(this.frameSamples - this.pendingLen, pcm.length - off);
      this.pending.set(pcm.subarray(off, off + take), this.pendingLen);
      this.pendingLen += take;
      off += take;
      if (this.pendingLen === this.frameSamples) {
        this.pendingLen = 0;
        this.frame(this.pending, arrivalMs, mediaMs, farEnd);
      }
    }
  }

  private frame(f: Int16Array, arrivalMs: number, mediaMs: number, farEnd: FarEndReference | null): void {
    const start = this.samplesIn;
    this.samplesIn += f.length;
    const slot = this.ringN++ % HISTORY_FRAMES;
    this.ringStart[slot] = start;
    this.ringArrival[slot] = arrivalMs;

    const flags = this.vad.process(f, farEnd ? farEnd.next(mediaMs) : null);
    const r = this.result;
    r.flags = flags;
    r.speechStart = (flags & VadFlag.SpeechStart) !== 0;
    r.speechEnd = (flags & VadFlag.SpeechEnd) !== 0;
    r.durationReached = (flags & VadFlag.DurationReached) !== 0;
    r.speechMs = this.vad.speechMs;
    if (r.speechStart) this.reached = false;
    r.reachedInSegment = this.reached && (flags & VadFlag.Speech) !== 0;
    if (r.durationReached) this.reached = true;
    if (r.speechEnd) this.reached = false;

    if (r.speechStart) {
      // the segment's onset (what a barge-in is dated from), also when it resumes a turn
      const slot = this.frameOf(this.vad.onsetSample);
      this.onsetArrivalMs = slot < 0 ? arrivalMs : this.ringArrival[slot];
      this.onsetFrameEnd = (slot < 0 ? start : this.ringStart[slot]) + this.frameSamples;
      this.onsetSampleN = this.vad.onsetSample >= 0 ? this.vad.onsetSample : start;
      this.onsetDated = true;
    }
    if (r.speechStart && this.endPending) {
      // speech resumed before the end of turn: the same utterance goes on (pause included)
      this.endPending = false;
    } else if (r.speechStart) {
      this.utterOnsetArrivalMs = this.onsetArrivalMs;
      // The utterance starts with the pre-roll (oldest first), copied out of the ring.
      const n = Math.min(this.prerollN, this.preroll.length);
      this.inUtterance = true;
      this.utterSamples = 0;
      for (let i = n; i > 0; i--) this.append(this.preroll[(this.prerollN - i) % this.preroll.length]);
    }
    if (this.inUtterance) {
      this.append(f);
    } else {
      this.preroll[this.prerollN++ % this.preroll.length].set(f);
    }
    this.lastFrameAt = arrivalMs;
    this.onFrame(r, this);
    if (!this.inUtterance) return;
    if (this.utterSamples > (MAX_UTTERANCE_MS * this.sampleRate) / 1000) return this.finish(this.utterSamples, arrivalMs);
    if (!this.endPending && (r.speechEnd || (flags & VadFlag.Speech) === 0)) {
      // the VAD's segment ended at its end sample: keep up to there (+ a short tail)
      const end = this.vad.endSample >= 0 ? this.vad.endSample : this.samplesIn;
      const tail = (TAIL_MS * this.sampleRate) / 1000;
      this.endKeep = Math.min(this.utterSamples, this.utterSamples - (this.samplesIn - end) + tail);
      this.endAtMs = (end * 1000) / this.sampleRate;
      this.endArrivalMs = arrivalMs;
      this.endPending = true;
    }
    if (this.endPending && (this.samplesIn * 1000) / this.sampleRate - this.endAtMs >= this.endOfTurnMs) this.finish(this.endKeep, this.endArrivalMs);
  }

  /**
   * Frame-clock check: ends a turn whose silence has lasted `endOfTurnMs` even if
   * no audio arrives any more (the client stopped sending in silence).
   */
  poll(nowMs: number): void {
    if (!this.inUtterance) return;
    if (this.endPending) {
      if (nowMs - this.endArrivalMs >= this.endOfTurnMs) this.finish(this.endKeep, this.endArrivalMs);
    } else if (this.lastFrameAt > 0 && nowMs - this.lastFrameAt >= this.endOfTurnMs + 200) {
      // mid-speech and nothing arrives (a dropped stream): what we have is the utterance
      this.finish(this.utterSamples, this.lastFrameAt);
    }
  }

  private append(f: Int16Array): void {
    const need = this.utterSamples + f.length;
    if (need > this.utterBuf.length) {
      const grown = new Int16Array(Math.max(need, 2 * this.utterBuf.length));
      grown.set(this.utterBuf.subarray(0, this.utterSamples));
      this.utterBuf = grown;
    }
    this.utterBuf.set(f, this.utterSamples);
    this.utterSamples = need;
  }

  private finish(keep: number, endArrivalMs: number): void {
    // a copy: the recogniser works on it asynchronously while the buffer is reused
    const pcm = this.utterBuf.slice(0, Math.max(0, Math.min(keep, this.utterSamples)));
    if (this.utterBuf.length > 8 * this.sampleRate) this.utterBuf = new Int16Array(this.sampleRate); // a long one is rare
    this.inUtterance = false;
    this.utterSamples = 0;
    this.prerollN = 0;
    this.endPending = false;
    this.onsetDated = false;
    this.onUtterance({ pcm, onsetArrivalMs: this.utterOnsetArrivalMs, endArrivalMs });
  }

  /** Ring slot of the frame that contained stream sample `sample` (-1: not kept). */
  private frameOf(sample: number): number {
    if (!(sample >= 0)) return -1;
    const n = Math.min(this.ringN, HISTORY_FRAMES);
    for (let i = 1; i <= n; i++) {
      const slot = (this.ringN - i) % HISTORY_FRAMES;
      if (this.ringStart[slot] <= sample) return slot;
    }
    return -1;
  }

  /**
   * Audio time (ms) from the current segment's onset sample to the end of the frame
   * just processed: how much speech the detector had heard when it decided.
   */
  get heardSinceOnsetMs(): number {
    return this.onsetSampleN < 0 ? 0 : ((this.samplesIn - this.onsetSampleN) * 1000) / this.sampleRate;
  }

  /** Arrival time of the frame just processed (the packet that carried it). */
  get frameArrivalMs(): number {
    return this.lastFrameAt;
  }

  /**
   * How much later than real-time pace the frame just processed arrived, counted from
   * the frame that carried the onset (sender, network, or this process reading its
   * socket late; negative when the packets came faster).
   */
  get transitSinceOnsetMs(): number {
    const paced = ((this.samplesIn - this.onsetFrameEnd) * 1000) / this.sampleRate;
    return this.lastFrameAt - this.onsetArrivalMs - paced;
  }

  /** Whether the current segment's onset has been dated (for barge-in records). */
  get hasOnset(): boolean {
    return this.onsetDated;
  }
}
