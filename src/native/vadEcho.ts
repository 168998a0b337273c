/**
 * The VAD's echo model (the TS side of native/src/vad_echo.{h,cpp}, step for step):
 * the far end's band energies over the last 0..320 ms, and a per-band regression of
 * near-end on far-end band energies that picks the echo delay and gain. The detector
 * counts only the near-end energy above the echo this predicts, so the agent's own
 * voice leaking back is not taken for the user. While the near end may be talking, a
 * shadow copy of the regression learns instead, adopted when it shows the "speech" was
 * the echo on a changed path. Fixed-size typed arrays; nothing is allocated per hop.
 */

import { BANDS } from './vadSignal';

export const DELAYS = 33; // echo delays searched: 0..320 ms, in hops
const SPREAD = 4; // hops either side of the estimated delay the prediction covers
/**
 * The 4-8 kHz gain is regressed on means over this many hops (90 ms): fricatives are
 * short, and an echo a hop or two off the estimated delay does not correlate with the
 * far end hop by hop.
 */
const HF_SMOOTH = 9;
/**
 * Hops the fit learns late. A hop is learnt once the next one has shown whether it
 * began a candidate segment: the detector's state is known only after the hop has been
 * learnt, so the first hop of a word went in as echo and hid the rest of it (the
 * "excuse me" over the agent's voice confirmed 16 ms later, at the vowel). Longer lags
 * change nothing for that and keep more of an echo-driven start out of the fit.
 */
const LAG = 1;
/** Far history: the prediction's delay + spread, and the regression's lag + delay + mean. */
const HIST = LAG + DELAYS + Math.max(HF_SMOOTH, SPREAD + 1);
const WARM_HOPS = 100; // far-end-active hops before the estimate is trusted
const FAR_ACTIVE = 0.01; // far-end band energy sum (~ -60 dBFS)
const ECHO_PRIOR = 0.5; // echo gain assumed before warm-up ends (-3 dB; vad_echo.cpp)
const ECHO_MARGIN = 4.0; // near-end must exceed predicted echo by 6 dB
const ECHO_LEAK = 0.25;
/**
 * The shadow fit is adopted mid-hold when its correlation (the share of the near end's
 * band-energy variance the far end explains) is above ADOPT_MIN and has risen by
 * ADOPT_RISE over the fit's, or over the fit's delay, or is above RECOVER_MIN after
 * falling by RECOVER_RISE in the hold. The user's speech only lowers it (measured on
 * bench:vad's double-talk clips: never more than +0.04, never a recovery above 0.7).
 */
const ADOPT_MIN = 0.5;
const ADOPT_RISE = 0.1;
const RECOVER_MIN = 0.7;
const RECOVER_RISE = 0.3;
/** At the end of a segment the shadow is kept when its correlation rose by this much. */
const KEEP_RISE = 0.02; // share of a neighbouring band's echo a codec moves over (-6 dB)

/**
 * One fit of the echo path: the running moments of near-end on far-end band energies
 * at every delay, and the delay and gains they give. The model keeps two: the one it
 * predicts with, and a shadow that goes on learning while the near end may be talking.
 */
class EchoFit {
  readonly mx = new Float64Array(DELAYS * BANDS);
  readonly mxx = new Float64Array(DELAYS * BANDS);
  readonly mxy = new Float64Array(DELAYS * BANDS);
  readonly my = new Float64Array(BANDS);
  readonly myy = new Float64Array(BANDS);
  activeHops = 0;
  delayHops = -1;
  /** The normalised correlation at the chosen delay (0: none). */
  bestC = 0;
  /** The best normalised correlation within +-SPREAD hops of the delay `learn` was given. */
  refC = 0;
  readonly gain = new Float64Array(BANDS);
  mxH = 0;
  mxxH = 0;
  mxyH = 0;
  myH = 0;
  gainHf = 0;
  hfHops = 0;

  reset(): void {
    this.mx.fill(0);
    this.mxx.fill(0);
    this.mxy.fill(0);
    this.my.fill(0);
    this.myy.fill(0);
    this.gain.fill(0);
    this.mxH = this.mxxH = this.mxyH = this.myH = this.gainHf = 0;
    this.hfHops = 0;
    this.activeHops = 0;
    this.delayHops = -1;
    this.bestC = 0;
  }

  copyFrom(o: EchoFit): void {
    this.mx.set(o.mx);
    this.mxx.set(o.mxx);
    this.mxy.set(o.mxy);
    this.my.set(o.my);
    this.myy.set(o.myy);
    this.gain.set(o.gain);
    this.mxH = o.mxH;
    this.mxxH = o.mxxH;
    this.mxyH = o.mxyH;
    this.myH = o.myH;
    this.gainHf = o.gainHf;
    this.hfHops = o.hfHops;
    this.activeHops = o.activeHops;
    this.delayHops = o.delayHops;
    this.bestC = o.bestC;
    this.refC = o.refC;
  }

  /**
   * One hop of near-end bands against the far history (row `pos` is this hop); also
   * notes the best correlation within +-SPREAD of delay `ref` (none when ref < 0).
   */
  learn(near: Float64Array, off: number, hist: Float64Array, pos: number, histHf: Float64Array, nearHf: Float64Array, ref: number): void {
    // (near[off..off + BANDS) are this hop's bands; nearHf is a ring aligned with hist)
    let refC = 0;
    this.activeHops++;
    const a = this.activeHops < 100 ? 1.0 / this.activeHops : 0.01;
    const { my, myy, mx, mxx, mxy } = this;
    for (let b = 0; b < BANDS; b++) {
      const y = near[off + b];
      my[b] += a * (y - my[b]);
      myy[b] += a * (y * y - myy[b]);
    }
    // the near end's variance is the same at every delay
    let vy = 0;
    for (let b = 0; b < BANDS; b++) vy += myy[b] - my[b] * my[b];
    let bestC = 0;
    let best = -1;
    for (let d = 0; d < DELAYS; d++) {
      const xo = ((pos - d + HIST) % HIST) * BANDS;
      const o = d * BANDS;
      let cov = 0;
      let vx = 0;
      for (let b = 0; b < BANDS; b++) {
        const x = hist[xo + b];
        const y = near[off + b];
        mx[o + b] += a * (x - mx[o + b]);
        mxx[o + b] += a * (x * x - mxx[o + b]);
        mxy[o + b] += a * (x * y - mxy[o + b]);
        cov += mxy[o + b] - mx[o + b] * my[b];
        vx += mxx[o + b] - mx[o + b] * mx[o + b];
      }
      if (cov > 0 && vx > 0 && vy > 0) {
        const c = (cov * cov) / (vx * vy);
        if (ref >= 0 && d >= ref - SPREAD && d <= ref + SPREAD && c > refC) refC = c;
        if (c > bestC) {
          bestC = c;
          best = d;
        }
      }
    }
    this.bestC = bestC;
    this.refC = refC;
    // no positive correlation at any delay once the path is known (the user's own onset,
    // with no echo on the line): keep the delay, whose gains then go to 0, rather than
    // fall back to the warm-up prior (a +3 dB echo of the loudest far end) that masks
    // the user for the rest of the segment
    if (best < 0 && this.activeHops > WARM_HOPS && this.delayHops >= 0) best = this.delayHops;
    this.delayHops = best;
    if (best >= 0) {
      let x = 0;
      let y = 0;
      for (let j = 0; j < HF_SMOOTH; j++) {
        x += histHf[(pos - best - j + HIST) % HIST];
        y += nearHf[(pos - j + HIST) % HIST];
      }
      x /= HF_SMOOTH;
      y /= HF_SMOOTH;
      this.hfHops++;
      const ah = this.hfHops < 100 ? 1.0 / this.hfHops : 0.01;
      this.myH += ah * (y - this.myH);
      this.mxH += ah * (x - this.mxH);
      this.mxxH += ah * (x * x - this.mxxH);
      this.mxyH += ah * (x * y - this.mxyH);
      const cov = this.mxyH - this.mxH * this.myH;
      const vx = this.mxxH - this.mxH * this.mxH;
      this.gainHf = cov > 0 && vx > 0 ? cov / vx : 0;
    } else {
      this.gainHf = 0;
    }
    for (let b = 0; b < BANDS; b++) {
      if (best < 0) {
        this.gain[b] = 0;
        continue;
      }
      const o = best * BANDS + b;
      const cov = mxy[o] - mx[o] * my[b];
      const vx = mxx[o] - mx[o] * mx[o];
      this.gain[b] = cov > 0 && vx > 0 ? cov / vx : 0;
    }
  }
}

export class EchoModel {
  private readonly hist = new Float64Array(HIST * BANDS);
  private readonly tot = new Float64Array(HIST);
  private pos = 0;
  /** Far bands in talk-spurt time (only hops with far samples). */
  private readonly spurt = new Float64Array(HIST * BANDS);
  private spurtPos = 0;
  /** Hops in a row with far-end samples. */
  private run = 0;
  // the 4-8 kHz energy: far history (wall clock, talk spurt), the near end's last
  // HF_SMOOTH hops, regression, gain
  private readonly histHf = new Float64Array(HIST);
  private readonly spurtHf = new Float64Array(HIST);
  private readonly nearHf = new Float64Array(HIST);
  /** Hops pushed (the clock of the learning lag). */
  private hops = 0;
  /** Hops waiting LAG hops before the fit learns them: near bands, history row, hop. */
  private readonly pendNear = new Float64Array(LAG * BANDS);
  private readonly pendPos = new Int32Array(LAG);
  private readonly pendHop = new Float64Array(LAG);
  private pendHead = 0;
  private pendCount = 0;

  /** The fit the prediction uses. */
  private readonly fit = new EchoFit();
  /** The fit learning through a hold (a candidate or a segment of near-end speech). */
  private readonly shadow = new EchoFit();
  /** Hops the shadow has learnt in this hold (-1: no hold). */
  private shadowHops = -1;
  /** The fit's correlation when the hold began (or the shadow was last adopted). */
  private holdC = 0;
  /** The shadow's lowest correlation in this hold. */
  private holdMin = 0;

  reset(): void {
    this.hist.fill(0);
    this.tot.fill(0);
    this.spurt.fill(0);
    this.histHf.fill(0);
    this.spurtHf.fill(0);
    this.nearHf.fill(0);
    this.hops = 0;
    this.pendHead = 0;
    this.pendCount = 0;
    this.pos = 0;
    this.spurtPos = 0;
    this.run = 0;
    this.fit.reset();
    this.shadow.reset();
    this.shadowHops = -1;
    this.holdC = 0;
  }

  /**
   * One hop of a given far end: its band energies (null: silent, no bands), its
   * 4-8 kHz energy (0 at 8 kHz input), the near end's 4-8 kHz energy, and whether
   * the hop carried samples (not digital silence). Returns whether the far end was
   * active anywhere in the echo window (then learn/subtract apply).
   */
  push(farBand: Float64Array | null, farHf: number, nearHf: number, samples: boolean): boolean {
    this.pos = (this.pos + 1) % HIST;
    this.histHf[this.pos] = farBand ? farHf : 0;
    this.nearHf[this.pos] = nearHf;
    this.hops++;
    let tot = 0;
    for (let b = 0; b < BANDS; b++) {
      const v = farBand ? farBand[b] : 0;
      this.hist[this.pos * BANDS + b] = v;
      tot += v;
    }
    this.tot[this.pos] = tot;
    // the same bands in "talk-spurt time": advanced only by hops that carry far-end
    // samples, so across a silence it still holds the end of the last spurt
    if (farBand && samples) {
      this.spurtPos = (this.spurtPos + 1) % HIST;
      for (let b = 0; b < BANDS; b++) this.spurt[this.spurtPos * BANDS + b] = farBand[b];
      this.spurtHf[this.spurtPos] = farHf;
    }
    this.run = samples ? this.run + 1 : 0;
    // the hops that have waited LAG hops outside a hold: now they are the echo's
    while (this.pendCount > 0 && this.hops - this.pendHop[this.pendHead] >= LAG) {
      const k = this.pendHead;
      this.fit.learn(this.pendNear, k * BANDS, this.hist, this.pendPos[k], this.histHf, this.nearHf, -1);
      this.pendHead = (k + 1) % LAG;
      this.pendCount--;
    }
    for (let d = 0; d < DELAYS; d++) if (this.tot[(this.pos - d + HIST) % HIST] > FAR_ACTIVE) return true;
    return false;
  }

  /** A hop without a far-end reference. */
  absent(): void {
    this.run = 0;
  }

  /** Whether this hop may train the model: during warm-up, or inside a talk spurt whose echo has had time to arrive. */
  settled(): boolean {
    const f = this.fit;
    return f.activeHops < WARM_HOPS || f.delayHops < 0 || this.run > f.delayHops + SPREAD;
  }

  /** Estimated delay in hops once warm (-1 before). */
  delay(): number {
    return this.fit.activeHops >= WARM_HOPS ? this.fit.delayHops : -1;
  }

  /** Hops in a row the far end has carried samples (its current talk spurt so far). */
  spurtHops(): number {
    return this.run;
  }

  meanGain(): number {
    let g = 0;
    for (let b = 0; b < BANDS; b++) g += this.fit.gain[b];
    return g / BANDS;
  }

  /**
   * Trains on one hop. Outside a hold the fit learns it. In a hold (the near end may be
   * talking) the fit stands still and a shadow copy learns instead, to be adopted or
   * dropped when the hold is released.
   */
  learn(near: Float64Array, hold: boolean): void {
    if (!hold) {
      const k = (this.pendHead + this.pendCount) % LAG;
      this.pendNear.set(near, k * BANDS);
      this.pendPos[k] = this.pos;
      this.pendHop[k] = this.hops;
      this.pendCount++;
      return;
    }
    if (this.shadowHops < 0) {
      this.shadow.copyFrom(this.fit);
      this.shadowHops = 0;
      this.holdC = this.fit.bestC;
      this.holdMin = this.fit.bestC;
      // the hops still waiting belong to the hold
      for (; this.pendCount > 0; this.pendCount--) {
        const k = this.pendHead;
        this.shadow.learn(this.pendNear, k * BANDS, this.hist, this.pendPos[k], this.histHf, this.nearHf, this.fit.delayHops);
        this.pendHead = (k + 1) % LAG;
      }
    }
    this.shadow.learn(near, 0, this.hist, this.pos, this.histHf, this.nearHf, this.fit.delayHops);
    this.shadowHops++;
    // the far end explains the near end better with the hold's hops than without: what
    // the detector took for the user is the echo, on a path that has changed
    const c = this.shadow.bestC;
    if (c < this.holdMin) this.holdMin = c;
    const grew = c > this.holdC + ADOPT_RISE;
    const moved = Math.abs(this.shadow.delayHops - this.fit.delayHops) > SPREAD && c > this.shadow.refC + ADOPT_RISE;
    const recovered = c > RECOVER_MIN && c - this.holdMin > RECOVER_RISE;
    if (c > ADOPT_MIN && (grew || moved || recovered)) {
      this.fit.copyFrom(this.shadow);
      this.holdC = c;
    }
  }

  /**
   * Ends a hold. A candidate that did not become a segment was not speech: its hops
   * are the echo's, so the shadow that learnt them becomes the fit. A segment's shadow
   * is kept only when the segment made it fit the far end better (echo taken for the
   * user); otherwise it is dropped with the user's hops, and the lead-in hops with them.
   */
  release(candidate: boolean): void {
    if (this.shadowHops < 0) return;
    const adopt = candidate || this.shadow.bestC >= this.holdC + KEEP_RISE;
    if (adopt) this.fit.copyFrom(this.shadow);
    this.shadowHops = -1;
  }

  /**
   * The predicted echo energy in 4-8 kHz (with the margin), on an active hop: as the
   * bands, without the neighbour leak (its energy is on another scale than the FFT bands').
   */
  predictHf(): number {
    if (this.fit.activeHops < WARM_HOPS || this.fit.delayHops < 0) {
      let mx = 0;
      for (let d = 0; d < DELAYS + 1; d++) {
        const v = this.histHf[(this.pos - d + HIST) % HIST];
        if (v > mx) mx = v;
      }
      return ECHO_PRIOR * mx;
    }
    return ECHO_MARGIN * this.fit.gainHf * this.farHfMax();
  }

  /** The loudest far 4-8 kHz energy within +-SPREAD hops of the delay (wall clock and talk-spurt time). */
  private farHfMax(): number {
    let mx = 0;
    for (let d = this.fit.delayHops - SPREAD; d <= this.fit.delayHops + SPREAD; d++) {
      if (d < 0) continue;
      const v = this.histHf[(this.pos - d + HIST) % HIST];
      if (v > mx) mx = v;
      const w = this.spurtHf[(this.spurtPos - d + HIST) % HIST];
      if (w > mx) mx = w;
    }
    return mx;
  }

  /** resid[b] -= predicted echo (floored at 0), on an active hop. */
  subtract(resid: Float64Array): void {
    const warm = this.fit.activeHops >= WARM_HOPS && this.fit.delayHops >= 0;
    for (let b = 0; b < BANDS; b++) {
      let pred: number;
      if (!warm) {
        let mx = 0;
        for (let d = 0; d < DELAYS + 1; d++) {
          const v = this.hist[((this.pos - d + HIST) % HIST) * BANDS + b];
          if (v > mx) mx = v;
        }
        pred = ECHO_PRIOR * mx;
      } else {
        // the delay moves by a frame or two between talk spurts (the reference is the
        // frame most recently sent): +-SPREAD hops around the estimate; and the echo
        // may be held over a silence: the spurt history at the same delays. Lossy
        // codecs on the echo path (Opus out to the user, Opus back) move energy into
        // the neighbouring bands (MDCT spreading, CELT band folding): the far end of
        // those bands counts at ECHO_LEAK.
        let mx = 0;
        const b0 = b > 0 ? b - 1 : 0;
        const b1 = b < BANDS - 1 ? b + 1 : b;
        for (let d = this.fit.delayHops - SPREAD; d <= this.fit.delayHops + SPREAD; d++) {
          if (d < 0) continue;
          for (let bb = b0; bb <= b1; bb++) {
            const wgt = bb === b ? 1.0 : ECHO_LEAK;
            const v = this.hist[((this.pos - d + HIST) % HIST) * BANDS + bb] * wgt;
            if (v > mx) mx = v;
            const w = this.spurt[((this.spurtPos - d + HIST) % HIST) * BANDS + bb] * wgt;
            if (w > mx) mx = w;
          }
        }
        pred = ECHO_MARGIN * this.fit.gain[b] * mx;
      }
      const r = resid[b] - pred;
      resid[b] = r > 0 ? r : 0;
    }
  }
}
