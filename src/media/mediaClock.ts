/**
 * Dates a stream's audio by the sender's own clock instead of by when its packets
 * arrived: media time (an RTP timestamp, or samples counted on a stream socket) mapped
 * onto our clock by the smallest delay seen, i.e. when the packet would have arrived
 * had the uplink added no jitter.
 *
 * Why: the far-end reference (src/agent/farEnd.ts) pairs each user frame with the agent
 * audio being sent when it was captured. The echo in a frame is fixed to its capture
 * time, and the capture time to the sender's timestamp; an uplink that holds packets
 * back and then delivers them in a burst (a late client, a congested Wi-Fi) shifts
 * their arrival, not their echo. Paired by arrival, a run of late packets moved the
 * reference off the echo for as long as it lasted (bench:bargein's echo users at
 * D = 0 when their sender ran 180-280 ms late: 10-16 false barge-ins a minute).
 *
 * The offset (arrival - media) is the least seen, rising by LEAK_MS_PER_S so that a
 * sender whose clock runs slower than ours (at most a few hundred ppm) is followed. A
 * sender that restarts its timestamps re-bases it: media time going back (callers drop
 * reordered packets first), or a packet more than REBASE_MS later than the offset
 * says. A forward jump needs nothing: its smaller offset is taken at once. The result
 * is never after the arrival.
 * Mirrored step for step by native/src/media_clock.h (parity test).
 */
export const MEDIA_CLOCK_LEAK_MS_PER_S = 0.5;
export const MEDIA_CLOCK_REBASE_MS = 1000;

export class MediaClock {
  /** arrival - media time of the least delayed packet (NaN before the first). */
  private offset = NaN;
  private lastArrival = 0;
  private lastMedia = 0;
  /** Times the offset was set anew (the first packet, a timestamp jump). */
  rebases = 0;

  /** Our time for media time `mediaMs` of a packet that arrived at `arrivalMs`. */
  at(mediaMs: number, arrivalMs: number): number {
    const d = arrivalMs - mediaMs;
    if (this.offset !== this.offset || mediaMs < this.lastMedia || d - this.offset > MEDIA_CLOCK_REBASE_MS) {
      this.offset = d;
      this.rebases++;
    } else {
      const dt = arrivalMs - this.lastArrival;
      if (dt > 0) this.offset += (MEDIA_CLOCK_LEAK_MS_PER_S * dt) / 1000;
      if (d < this.offset) this.offset = d;
    }
    this.lastArrival = arrivalMs;
    this.lastMedia = mediaMs;
    return mediaMs + this.offset;
  }

  /** Forgets the stream (a new sender). */
  reset(): void {
    this.offset = NaN;
    this.lastArrival = 0;
    this.lastMedia = 0;
  }
}

/** An RTP timestamp's 32 bits extended to a running count (wraps and reordering), in ms. */
export class RtpMediaTime {
  private ext = 0;
  private last = -1;

  constructor(readonly clockRate: number) {}

  ms(timestamp: number): number {
    if (this.last < 0) this.ext = timestamp;
    else this.ext += (timestamp - this.last) | 0;
    this.last = timestamp >>> 0;
    return (this.ext * 1000) / this.clockRate;
  }

  reset(): void {
    this.last = -1;
    this.ext = 0;
  }
}
