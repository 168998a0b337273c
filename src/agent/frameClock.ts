/**
 * One drift-free real-time clock for every agent in the process: ticks are
 * scheduled at start + n * period (not "period after the last tick"), so timer
 * jitter never accumulates. A late tick runs the missed frames at once (up to
 * `maxCatchUp`, then the timeline is re-anchored) and is counted, so lateness is
 * visible in the metrics and the bench. One timer serves all sessions, which
 * keeps hundreds of sessions cheap.
 */
import fs from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { createLogger } from '../log';

const log = createLogger('frameClock');

export interface Ticker {
  /** Called once per frame period; `frameTimeMs` is the ideal time of this frame. */
  tick(frameTimeMs: number): void;
}

/** Upper bounds (ms) of the sub-tick lateness histogram (the last bucket is +Inf). */
export const LATENESS_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100];

/** Sub-ticks remembered for maxLateSince(): 1.28 s at 5 ms. */
const RECENT = 256;

export interface ClockStats {
  ticks: number;
  /**
   * Sub-ticks per lateness bucket (LATENESS_BUCKETS_MS, then +Inf; not cumulative):
   * a sub-tick is due every 5 ms, so this is the event loop's delay, sampled.
   */
  lateness: number[];
  latenessSumMs: number;
  /** Sub-ticks that ran more than 10 ms after their ideal time. */
  late: number;
  maxLateMs: number;
  reanchored: number;
  /** Ticks that threw (logged). */
  errors: number;
  /**
   * Where the waits behind late sub-ticks went (Linux; 0 elsewhere): for each timer run
   * that found a sub-tick more than 10 ms late, the wall time since the previous run
   * (`heldMs`), split into the main thread's time on a CPU (`runMs`: our own work,
   * including GC on this thread) and waiting for one (`waitMs`: the machine was busy).
   */
  held: { runs: number; heldMs: number; runMs: number; waitMs: number };
  /**
   * Holds longer than LONG_HOLD_MS (every agent's frames late at once, beyond a
   * pacer's lead), with the same split plus the garbage collection inside them;
   * each is also logged (warn, at most one line per 5 s).
   */
  longHolds: { count: number; heldMs: number; runMs: number; waitMs: number; gcMs: number };
}

/** A hold of the event loop this long is logged with what it was made of. */
export const LONG_HOLD_MS = 50;
const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak-callbacks', 16: 'minor-mark-sweep' };

/**
 * The main thread's CPU time and run-queue wait (ns) from /proc/thread-self/schedstat,
 * read with one pread on a descriptor opened once (~6 µs); null where unavailable.
 */
class SchedProbe {
  private readonly buf = Buffer.alloc(96);
  run = 0;
  wait = 0;
  private constructor(private readonly fd: number) {}

  static open(): SchedProbe | null {
    if (process.platform !== 'linux') return null;
    try {
      const p = new SchedProbe(fs.openSync('/proc/thread-self/schedstat', 'r'));
      return p.read() ? p : null;
    } catch {
      return null;
    }
  }

  read(): boolean {
    const n = fs.readSync(this.fd, this.buf, 0, this.buf.length, 0);
    const [run, wait] = this.buf.toString('latin1', 0, n).split(' ');
    this.run = Number(run) / 1e6;
    this.wait = Number(wait) / 1e6;
    return Number.isFinite(this.run) && Number.isFinite(this.wait);
  }
}

export class FrameClock {
  /**
   * Tickers are spread over `phases` sub-ticks of the period (4 × 5 ms for 20 ms):
   * each still gets one tick per period, but the work of many sessions (Opus
   * encoding, sending) is not done in one burst that would delay everything else
   * on the event loop, including the next tick.
   */
  private readonly phase = new Map<Ticker, number>();
  private readonly byPhase: Set<Ticker>[];
  private readonly subMs: number;
  private timer: NodeJS.Timeout | null = null;
  private anchor = 0;
  private m = 0;
  readonly stats: ClockStats = {
    ticks: 0,
    lateness: new Array(LATENESS_BUCKETS_MS.length + 1).fill(0),
    latenessSumMs: 0,
    late: 0,
    maxLateMs: 0,
    reanchored: 0,
    errors: 0,
    held: { runs: 0, heldMs: 0, runMs: 0, waitMs: 0 },
    longHolds: { count: 0, heldMs: 0, runMs: 0, waitMs: 0, gcMs: 0 },
  };
  /** Long holds waiting for their GC entries (delivered after the fact). */
  private readonly pendingHolds: { from: number; to: number; runMs: number; waitMs: number }[] = [];
  /** Recent GC pauses (performance.now() start, duration, kind). */
  private readonly gcs: { start: number; dur: number; kind: number }[] = [];
  private gcObserver: PerformanceObserver | null = null;
  private lastHoldLog = 0;
  private holdsUnlogged = 0;
  private sched: SchedProbe | null | undefined;
  private lastRun = 0;
  private lastCpu = 0;
  private lastWait = 0;
  private readonly reported = new WeakMap<Ticker, string>();
  /** The last RECENT sub-ticks' ideal wall time and lateness, for maxLateSince(). */
  private readonly recentAt = new Float64Array(RECENT);
  private readonly recentLate = new Float64Array(RECENT);
  private recentN = 0;

  constructor(
    readonly periodMs = 20,
    private readonly maxCatchUp = 5,
    readonly phases = 4,
  ) {
    this.subMs = periodMs / phases;
    this.byPhase = Array.from({ length: phases }, () => new Set<Ticker>());
  }

  add(t: Ticker): void {
    if (this.phase.has(t)) return;
    let best = 0;
    for (let k = 1; k < this.phases; k++) if (this.byPhase[k].size < this.byPhase[best].size) best = k;
    this.byPhase[best].add(t);
    this.phase.set(t, best);
    if (!this.timer) this.startTimer();
  }

  remove(t: Ticker): void {
    const k = this.phase.get(t);
    if (k === undefined) return;
    this.byPhase[k].delete(t);
    this.phase.delete(t);
    if (this.phase.size === 0) this.stop();
  }

  get size(): number {
    return this.phase.size;
  }

  private startTimer(): void {
    this.anchor = performance.now();
    this.m = 0;
    if (this.sched === undefined) this.sched = SchedProbe.open();
    if (this.sched && !this.gcObserver) {
      this.gcObserver = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          this.gcs.push({ start: e.startTime, dur: e.duration, kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0 });
          if (this.gcs.length > 64) this.gcs.shift();
        }
      });
      this.gcObserver.observe({ entryTypes: ['gc'] });
    }
    this.noteSched(this.anchor, false);
    this.schedule();
  }

  /** Long holds, once their GC entries have arrived: counted, and logged with their make-up. */
  private reportHolds(now: number): void {
    for (const h of this.pendingHolds.splice(0)) {
      let gcMs = 0;
      const kinds = new Set<string>();
      for (const g of this.gcs) {
        const overlap = Math.min(h.to, g.start + g.dur) - Math.max(h.from, g.start);
        if (overlap > 0) {
          gcMs += overlap;
          kinds.add(GC_KINDS[g.kind] ?? String(g.kind));
        }
      }
      const l = this.stats.longHolds;
      l.count++;
      l.heldMs += h.to - h.from;
      l.runMs += h.runMs;
      l.waitMs += h.waitMs;
      l.gcMs += gcMs;
      if (now - this.lastHoldLog < 5000) {
        this.holdsUnlogged++;
        continue;
      }
      this.lastHoldLog = now;
      log.warn('event loop held', {
        heldMs: Math.round(h.to - h.from),
        onCpuMs: Math.round(h.runMs),
        waitingForCpuMs: Math.round(h.waitMs),
        gcMs: Math.round(gcMs),
        gc: [...kinds],
        notLogged: this.holdsUnlogged,
      });
      this.holdsUnlogged = 0;
    }
  }

  /**
   * The main thread's time since the clock's last run (at most a sub-tick ago unless
   * the loop was held), split into on a CPU and waiting for one; the clock's own
   * figures are not touched. For explaining one slow step after the fact (a barge-in's
   * abort that took over 5 ms); null where /proc/thread-self/schedstat is unavailable.
   */
  schedSinceLastRun(): { windowMs: number; runMs: number; waitMs: number } | null {
    const p = this.sched;
    if (!p || this.lastRun === 0) return null;
    const cpu = this.lastCpu;
    const wait = this.lastWait;
    if (!p.read()) return null;
    return { windowMs: performance.now() - this.lastRun, runMs: p.run - cpu, waitMs: p.wait - wait };
  }

  /**
   * Garbage collection in [fromMs, toMs] (performance.now() time), from the entries
   * observed so far (the last 64; they arrive a little after the GC): ms and kinds.
   */
  gcWithin(fromMs: number, toMs: number): { ms: number; kinds: string[] } {
    let ms = 0;
    const kinds = new Set<string>();
    for (const g of this.gcs) {
      const overlap = Math.min(toMs, g.start + g.dur) - Math.max(fromMs, g.start);
      if (overlap > 0) {
        ms += overlap;
        kinds.add(GC_KINDS[g.kind] ?? String(g.kind));
      }
    }
    return { ms, kinds: [...kinds] };
  }

  /** Splits the time since the previous run into CPU and run-queue wait, when `late`. */
  private noteSched(now: number, late: boolean): void {
    const p = this.sched;
    if (!p || !p.read()) return;
    if (late && this.lastRun > 0) {
      const h = this.stats.held;
      h.runs++;
      h.heldMs += now - this.lastRun;
      h.runMs += p.run - this.lastCpu;
      h.waitMs += p.wait - this.lastWait;
      if (now - this.lastRun > LONG_HOLD_MS && this.pendingHolds.length < 16) {
        this.pendingHolds.push({ from: this.lastRun, to: now, runMs: p.run - this.lastCpu, waitMs: p.wait - this.lastWait });
      }
    }
    if (this.pendingHolds.length && now - this.pendingHolds[0].to > 200) this.reportHolds(now);
    this.lastRun = now;
    this.lastCpu = p.run;
    this.lastWait = p.wait;
  }

  /**
   * Runs the ticks that are due now, if any are more than `slackMs` late. Called on
   * the media input path (every received packet): a burst of packets read in one go
   * (a socket or pipe that filled while the process was descheduled) would otherwise
   * hold the event loop until all of it is processed, and every tick due meanwhile
   * would be late by the whole burst. Costs one performance.now() when nothing is due.
   */
  poll(slackMs = 2): void {
    if (!this.timer) return;
    if (performance.now() < this.anchor + (this.m + 1) * this.subMs + slackMs) return;
    clearTimeout(this.timer);
    this.run();
  }

  private schedule(): void {
    const due = this.anchor + (this.m + 1) * this.subMs;
    this.timer = setTimeout(() => this.run(), Math.max(0, due - performance.now()));
  }

  private run(): void {
    this.timer = null;
    const now = performance.now();
    let steps = 0;
    let late = false;
    while (this.anchor + (this.m + 1) * this.subMs <= now + 0.5 && steps <= this.maxCatchUp * this.phases) {
      this.m++;
      steps++;
      const tickers = this.byPhase[this.m % this.phases];
      if (tickers.size === 0) continue;
      const ideal = this.anchor + this.m * this.subMs;
      const lateMs = now - ideal;
      this.stats.ticks++;
      if (lateMs > 10) {
        this.stats.late++;
        late = true;
      }
      let b = 0;
      while (b < LATENESS_BUCKETS_MS.length && lateMs > LATENESS_BUCKETS_MS[b]) b++;
      this.stats.lateness[b]++;
      this.stats.latenessSumMs += lateMs;
      if (lateMs > this.stats.maxLateMs) this.stats.maxLateMs = lateMs;
      const wall = performance.timeOrigin + ideal;
      const r = this.recentN++ % RECENT;
      this.recentAt[r] = wall;
      this.recentLate[r] = lateMs;
      for (const t of tickers) {
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
    this.noteSched(now, late);
    if (this.anchor + (this.m + 1) * this.subMs <= now) {
      // Too far behind (event loop was blocked): re-anchor instead of bursting.
      this.stats.reanchored++;
      this.anchor = now;
      this.m = 0;
    }
    if (this.phase.size) this.schedule();
  }

  /**
   * The longest a sub-tick waited after `wallMs` (ms since epoch, at most ~1.3 s back):
   * how long this process's event loop was held up since then, e.g. between a speech
   * onset's arrival and the interrupt decision. Resolution: the sub-ticks that have
   * tickers (5 ms with many sessions, 20 ms with one).
   */
  maxLateSince(wallMs: number): number {
    let max = 0;
    const n = Math.min(this.recentN, RECENT);
    for (let i = 1; i <= n; i++) {
      const r = (this.recentN - i) % RECENT;
      // the part of this sub-tick's wait that fell inside the window
      const held = this.recentAt[r] + this.recentLate[r] - Math.max(this.recentAt[r], wallMs);
      if (held > max) max = held;
    }
    return max;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.gcObserver?.disconnect();
    this.gcObserver = null;
  }
}

/** The process-wide clock all sessions share. */
export const sharedClock = new FrameClock(20);
