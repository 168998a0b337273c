/**
 * One drift-free real-time clock for every agent in the process: ticks are
 * scheduled at start + n * period (not "period after the last tick"), so timer
 * jitter never accumulates. A late tick runs the missed frames at once (up to
 * `maxCatchUp`, then the timeline is re-anchored) and is counted, so lateness is
 * visible in the metrics and the bench. One timer serves all sessions, which
 * keeps hundreds of sessions cheap.
 */
import { createLogger } from '../log';

const log = createLogger('frameClock');

export interface Ticker {
  /** Called once per frame period; `frameTimeMs` is the ideal time of this frame. */
  tick(frameTimeMs: number): void;
}

export interface ClockStats {
  ticks: number;
  /** Ticks that ran more than 10 ms after their ideal time. */
  late: number;
  maxLateMs: number;
  reanchored: number;
  /** Ticks that threw (logged). */
  errors: number;
}

export class FrameClock {
  private readonly tickers = new Set<Ticker>();
  private timer: NodeJS.Timeout | null = null;
  private anchor = 0;
  private n = 0;
  readonly stats: ClockStats = { ticks: 0, late: 0, maxLateMs: 0, reanchored: 0, errors: 0 };
  private readonly reported = new WeakMap<Ticker, string>();

  constructor(
    readonly periodMs = 20,
    private readonly maxCatchUp = 5,
  ) {}

  add(t: Ticker): void {
    this.tickers.add(t);
    if (!this.timer) this.startTimer();
  }

  remove(t: Ticker): void {
    this.tickers.delete(t);
    if (this.tickers.size === 0) this.stop();
  }

  get size(): number {
    return this.tickers.size;
  }

  private startTimer(): void {
    this.anchor = performance.now();
    this.n = 0;
    this.schedule();
  }

  private schedule(): void {
    const due = this.anchor + (this.n + 1) * this.periodMs;
    this.timer = setTimeout(() => this.run(), Math.max(0, due - performance.now()));
  }

  private run(): void {
    this.timer = null;
    const now = performance.now();
    let frames = 0;
    while (this.anchor + (this.n + 1) * this.periodMs <= now + 0.5 && frames <= this.maxCatchUp) {
      this.n++;
      frames++;
      const ideal = this.anchor + this.n * this.periodMs;
      const lateMs = now - ideal;
      this.stats.ticks++;
      if (lateMs > 10) this.stats.late++;
      if (lateMs > this.stats.maxLateMs) this.stats.maxLateMs = lateMs;
      const wall = performance.timeOrigin + ideal;
      for (const t of this.tickers) {
        try {
          t.tick(wall);
        } catch (e) {
          // A failing session must not stop the others' audio; report it (once per
          // ticker per error message, so a persistent fault does not flood the log).
          this.stats.errors++;
          const key = (e as Error)?.message ?? String(e);
          if (this.reported.get(t) !== key) {
            this.reported.set(t, key);
            log.error('frame tick failed', { error: e, stack: (e as Error)?.stack });
          }
        }
      }
    }
    if (this.anchor + (this.n + 1) * this.periodMs <= now) {
      // Too far behind (event loop was blocked): re-anchor instead of bursting.
      this.stats.reanchored++;
      this.anchor = now;
      this.n = 0;
    }
    if (this.tickers.size) this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The process-wide clock all sessions share. */
export const sharedClock = new FrameClock(20);
