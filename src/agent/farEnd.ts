/**
 * The far-end reference for echo rejection: what the agent sent, kept as a
 * continuous stream of 20 ms frames (one per clock tick, silence when nothing was
 * sent), and a cursor that hands the VAD one reference frame per user frame.
 *
 * The VAD's echo model learns a delay in hops between the two streams, so both must
 * advance together. Pairing each user frame with "whatever was sent last when it is
 * processed" does not: under load, user packets are read in bursts and ticks run
 * late, so the same reference frame is paired twice or one is skipped, and the echo
 * seems to move by tens of ms from one moment to the next (the room path's echo
 * users at 100 sessions). Here the cursor moves one frame per user frame; it is
 * placed by time (the frame being sent when the user's packet arrived) only at the
 * start and when the two clocks have drifted apart by more than RESYNC frames.
 */
const SLOTS = 32; // 640 ms of reference: more than the echo window (320 ms) plus resync slack
const RESYNC = 3;

export class FarEndReference {
  private readonly frames: Int16Array[];
  private readonly sentAt = new Float64Array(SLOTS);
  private readonly sounding = new Uint8Array(SLOTS);
  /** Index of the newest slot written (frames since the start), -1 before any. */
  private newest = -1;
  private cursor = -1;
  private readonly silent: Int16Array;
  /** Cursor re-placements (start, drift, a gap in the user's audio). */
  resyncs = 0;

  constructor(readonly frameSamples: number) {
    this.frames = Array.from({ length: SLOTS }, () => new Int16Array(frameSamples));
    this.silent = new Int16Array(frameSamples);
  }

  /** Once per clock tick: the frame sent at `atMs`, or null when the agent sent nothing. */
  onTick(atMs: number, frame: Int16Array | null): void {
    const n = ++this.newest;
    const slot = n % SLOTS;
    this.sentAt[slot] = atMs;
    this.sounding[slot] = frame ? 1 : 0;
    if (frame) this.frames[slot].set(frame);
  }

  /** The reference for the next user frame, whose packet arrived at `arrivalMs`. */
  next(arrivalMs: number): Int16Array {
    if (this.newest < 0) return this.silent;
    // the frame being sent when the packet arrived: the newest one sent at or before it
    let target = this.newest;
    const oldest = Math.max(0, this.newest - SLOTS + 1);
    while (target > oldest && this.sentAt[target % SLOTS] > arrivalMs) target--;
    if (this.cursor < 0 || Math.abs(this.cursor - target) > RESYNC || this.cursor < oldest) {
      this.cursor = target;
      this.resyncs++;
    }
    // user frames a little ahead of the ticks (clock drift, a late tick): repeat the newest
    const at = Math.min(this.cursor, this.newest);
    this.cursor = at + 1;
    const slot = at % SLOTS;
    return this.sounding[slot] ? this.frames[slot] : this.silent;
  }
}
