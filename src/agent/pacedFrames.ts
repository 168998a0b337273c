/**
 * The agent's frames between the tick that made them and the moment they left, for a
 * paced output (AgentOutput.paced: frames handed in `leadMs` early, sent on time by
 * the native pacer). The echo reference and the barge-in record need what actually
 * went out and when, in order, one entry per frame period:
 * - a frame reported sent is released with its real send time;
 * - a period with nothing to send (silence) is released once its time has come;
 * - a frame that will not be sent (flushed by an interrupt, or never reported within
 *   `GIVE_UP_MS` of its time: refused, socket closed) is released as silence at its
 *   time;
 * - a flushed slot whose period the session makes again (a frame made ahead) is not
 *   released at all, so each period is released once.
 * Releases are strictly in slot order, so the reference stream stays monotonic.
 */
import type { SpeechHandle } from './speechHandle';

/** A frame not reported sent this long after its due time is taken as not sent. */
const GIVE_UP_MS = 100;
/** Slots kept at most (frames ahead of the wire plus those awaiting their report). */
const CAPACITY = 32;

const PENDING = 0;
const SENT = 1;
const DROPPED = 2;
/** Flushed, and its period given again: skipped. */
const VOID = 3;

/** Receives each frame period in order: `frame` null for silence (or a frame that did not leave). */
export type ReleaseSink = (atMs: number, frame: Int16Array | null, handle: SpeechHandle | null, beganAtMs: number) => void;

export class PacedFrames {
  private readonly pcm: Int16Array[];
  private readonly due = new Float64Array(CAPACITY);
  private readonly sentAt = new Float64Array(CAPACITY);
  private readonly beganAt = new Float64Array(CAPACITY);
  private readonly state = new Uint8Array(CAPACITY);
  private readonly audio = new Uint8Array(CAPACITY);
  private readonly handles: (SpeechHandle | null)[] = new Array(CAPACITY).fill(null);
  /** Slot ids are sequence numbers; slot k lives at k % CAPACITY. */
  private head = 1;
  private next = 1;
  /** Frames released unsent although they had audio (flushed or never reported). */
  dropped = 0;

  constructor(
    frameSamples: number,
    private readonly sink: ReleaseSink,
  ) {
    this.pcm = Array.from({ length: CAPACITY }, () => new Int16Array(frameSamples));
  }

  get pending(): number {
    return this.next - this.head;
  }

  /** A frame handed to the output, due on the wire at `dueMs`; returns its id for the send report. */
  audioFrame(dueMs: number, frame: Int16Array, handle: SpeechHandle | null): number {
    const id = this.slot(dueMs);
    const k = id % CAPACITY;
    this.pcm[k].set(frame);
    this.audio[k] = 1;
    this.handles[k] = handle;
    return id;
  }

  /** A frame period with nothing to send, at `dueMs`. */
  silence(dueMs: number): void {
    this.slot(dueMs);
  }

  /**
   * The output's report: frame `id` left at `atMs`, its first part at `beganAtMs`.
   * Unknown ids (e.g. silence the output made itself) are ignored.
   */
  sent(id: number, atMs: number, beganAtMs = atMs): void {
    if (id < this.head || id >= this.next) return;
    const k = id % CAPACITY;
    if (this.audio[k] && this.state[k] === PENDING) {
      this.state[k] = SENT;
      this.sentAt[k] = atMs;
      this.beganAt[k] = beganAtMs;
    }
  }

  /** Each audio frame not (yet) reported sent, oldest first, with its speech. */
  forEachUnsent(visit: (handle: SpeechHandle | null) => void): void {
    for (let id = this.head; id < this.next; id++) {
      const k = id % CAPACITY;
      if (this.audio[k] && this.state[k] === PENDING) visit(this.handles[k]);
    }
  }

  /**
   * Every frame not yet reported will not be sent (the output was flushed); slots due
   * at or after `reissueFromMs` are void, as the session makes their periods again.
   */
  dropUnsent(reissueFromMs = Infinity): void {
    for (let id = this.head; id < this.next; id++) {
      const k = id % CAPACITY;
      if (this.state[k] === SENT) continue;
      if (this.due[k] >= reissueFromMs) {
        if (this.audio[k]) this.dropped++;
        this.state[k] = VOID;
      } else if (this.audio[k] && this.state[k] === PENDING) this.state[k] = DROPPED;
    }
  }

  /** Releases, in order, every slot whose outcome is known at `nowMs`. */
  release(nowMs: number): void {
    while (this.head < this.next) {
      const k = this.head % CAPACITY;
      if (this.state[k] === VOID) {
        // (skipped)
      } else if (this.audio[k] && this.state[k] === SENT) {
        this.sink(this.sentAt[k], this.pcm[k], this.handles[k], this.beganAt[k]);
      } else if (this.audio[k] && this.state[k] === PENDING && nowMs < this.due[k] + GIVE_UP_MS) {
        return;
      } else if (!this.audio[k] && nowMs < this.due[k]) {
        return;
      } else {
        if (this.audio[k]) this.dropped++;
        this.sink(this.due[k], null, null, this.due[k]);
      }
      this.handles[k] = null;
      this.head++;
    }
  }

  private slot(dueMs: number): number {
    if (this.next - this.head === CAPACITY) this.forceOldest();
    const id = this.next++;
    const k = id % CAPACITY;
    this.due[k] = dueMs;
    this.state[k] = PENDING;
    this.audio[k] = 0;
    this.handles[k] = null;
    return id;
  }

  /** Full (reports stopped coming): the oldest slot is released as it stands. */
  private forceOldest(): void {
    const k = this.head % CAPACITY;
    if (this.state[k] === VOID) {
      // (skipped)
    } else if (this.audio[k] && this.state[k] === SENT) this.sink(this.sentAt[k], this.pcm[k], this.handles[k], this.beganAt[k]);
    else {
      if (this.audio[k]) this.dropped++;
      this.sink(this.due[k], null, null, this.due[k]);
    }
    this.handles[k] = null;
    this.head++;
  }
}
