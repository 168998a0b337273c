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
 * placed by time (the frame being sent when the user's frame was captured, by its RTP
 * timestamp through src/media/mediaClock.ts, or when its packet arrived on transports
 * without timestamps) at the start,
 * and moved again only when every packet of the last WINDOW user frames, arrived
 * over at least WINDOW_SPAN_MS, puts it more than RESYNC frames off in the same
 * direction (the user's stream paused or the clocks drifted), by the smallest of
 * those offsets. One late packet, or a burst of them read at once, does not move
 * it: a burst's first packets look many frames behind, its last ones are on time.
 * (Re-placing on every burst, as before, put the cursor up to 13 frames off while
 * all sessions started at once, and the echo of the agent then seemed to come
 * before its reference: VAD taps of bench:bargein's echo users, rtp N = 100, 28
 * false barge-ins in 3 min, 0 when replayed with this rule.)
 */
/**
 * 1.28 s of reference: a user frame is paired with what was sent when it was captured,
 * and the media clock takes up to MEDIA_CLOCK_REBASE_MS (1 s) of uplink delay for
 * jitter, so the frame it needs may be that old (plus the VAD's own echo window behind it).
 */
const SLOTS = 64;
const RESYNC = 3;
const WINDOW = 10;
/** ...and those packets must have arrived over this long, not in one read. */
const WINDOW_SPAN_MS = 150;

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
  /** target - cursor of the last WINDOW user frames since the last placement. */
  private readonly dRing = new Float64Array(WINDOW);
  private readonly dAt = new Float64Array(WINDOW);
  private dN = 0;

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

  /** The reference for the next user frame, dated `arrivalMs` (its media time, or its packet's arrival). */
  next(arrivalMs: number): Int16Array {
    if (this.newest < 0) return this.silent;
    // the frame being sent when the packet arrived: the newest one sent at or before it
    let target = this.newest;
    const oldest = Math.max(0, this.newest - SLOTS + 1);
    while (target > oldest && this.sentAt[target % SLOTS] > arrivalMs) target--;
    if (this.cursor < 0 || this.cursor < oldest) {
      this.place(target);
    } else {
      // how far the cursor is behind the time target; re-placed only when the
      // packets of the last WINDOW frames all say so (see the file comment)
      const d = target - this.cursor;
      const w = this.dN++ % WINDOW;
      this.dRing[w] = d;
      this.dAt[w] = arrivalMs;
      // (the oldest of the window is the next slot to be written)
      if (this.dN >= WINDOW && arrivalMs - this.dAt[this.dN % WINDOW] >= WINDOW_SPAN_MS) {
        let lo = Infinity, hi = -Infinity;
        for (let i = 0; i < WINDOW; i++) {
          lo = Math.min(lo, this.dRing[i]);
          hi = Math.max(hi, this.dRing[i]);
        }
        if (lo > RESYNC) this.place(this.cursor + lo);
        else if (hi < -RESYNC) this.place(this.cursor + hi);
      }
    }
    // user frames a little ahead of the ticks (clock drift, a late tick): repeat the newest
    const at = Math.min(this.cursor, this.newest);
    this.cursor = at + 1;
    const slot = at % SLOTS;
    return this.sounding[slot] ? this.frames[slot] : this.silent;
  }

  private place(k: number): void {
    this.cursor = k;
    this.dN = 0;
    this.resyncs++;
  }
}
