/**
 * Pacing of a leg's outgoing agent audio: the gap between consecutive 20 ms
 * frames as they leave the bridge. Gaps over 100 ms are pauses between talk
 * spurts, not jitter, and are left out. A fixed ring of the last 3000 frames
 * (one minute) keeps the cost constant.
 */
const RING = 3000;

export interface PacingSummary {
  frames: number;
  /** |gap − 20 ms| percentiles and maximum, ms. */
  jitterP50: number;
  jitterP95: number;
  jitterMax: number;
  /** Frames sent less than 10 ms after the previous one (bursts; target 0 apart from catch-up ticks). */
  early: number;
}

export class PacingStats {
  private readonly gaps = new Float32Array(RING);
  private n = 0;
  private last = 0;
  private frames = 0;
  private early = 0;

  constructor(readonly frameMs = 20) {}

  note(atMs: number): void {
    this.frames++;
    if (this.last) {
      const gap = atMs - this.last;
      if (gap <= 100) {
        this.gaps[this.n % RING] = Math.abs(gap - this.frameMs);
        this.n++;
        if (gap < this.frameMs / 2) this.early++;
      }
    }
    this.last = atMs;
  }

  summary(): PacingSummary {
    const k = Math.min(this.n, RING);
    const sorted = Array.from(this.gaps.subarray(0, k)).sort((a, b) => a - b);
    const q = (p: number): number => (k ? Math.round(sorted[Math.min(k - 1, Math.floor(p * k))] * 100) / 100 : 0);
    return { frames: this.frames, jitterP50: q(0.5), jitterP95: q(0.95), jitterMax: k ? Math.round(sorted[k - 1] * 100) / 100 : 0, early: this.early };
  }
}
