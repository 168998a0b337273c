/**
 * The VAD's echo model (the TS side of native/src/vad_echo.{h,cpp}, step for step):
 * the far end's band energies over the last 0..320 ms, and a per-band regression of
 * near-end on far-end band energies that picks the echo delay and gain. The detector
 * counts only the near-end energy above the echo this predicts, so the agent's own
 * voice leaking back is not taken for the user. Fixed-size typed arrays; nothing is
 * allocated per hop.
 */

import { BANDS } from './vadSignal';

const DELAYS = 33; // echo delays searched: 0..320 ms, in hops
const SPREAD = 4; // hops either side of the estimated delay the prediction covers
/**
 * The 4-8 kHz gain is regressed on means over this many hops (90 ms): fricatives are
 * short, and an echo a hop or two off the estimated delay does not correlate with the
 * far end hop by hop.
 */
const HF_SMOOTH = 9;
/** Far history: the prediction's delay + spread, and the regression's delay + mean. */
const HIST = DELAYS + Math.max(HF_SMOOTH, SPREAD + 1);
const WARM_HOPS = 100; // far-end-active hops before the estimate is trusted
const FAR_ACTIVE = 0.01; // far-end band energy sum (~ -60 dBFS)
const ECHO_PRIOR = 2.0; // echo gain assumed before warm-up ends (+3 dB)
const ECHO_MARGIN = 4.0; // near-end must exceed predicted echo by 6 dB
const ECHO_LEAK = 0.25; // share of a neighbouring band's echo a codec moves over (-6 dB)

export class EchoModel {
  private readonly hist = new Float64Array(HIST * BANDS);
  private readonly tot = new Float64Array(HIST);
  private pos = 0;
  /** Far bands in talk-spurt time (only hops with far samples). */
  private readonly spurt = new Float64Array(HIST * BANDS);
  private spurtPos = 0;
  /** Hops in a row with far-end samples. */
  private run = 0;
  private readonly mx = new Float64Array(DELAYS * BANDS);
  private readonly mxx = new Float64Array(DELAYS * BANDS);
  private readonly mxy = new Float64Array(DELAYS * BANDS);
  private readonly my = new Float64Array(BANDS);
  private readonly myy = new Float64Array(BANDS);
  private activeHops = 0;
  private delayHops = -1;
  private readonly gain = new Float64Array(BANDS);
  // the 4-8 kHz energy: far history (wall clock, talk spurt), the near end's last
  // HF_SMOOTH hops, regression, gain
  private readonly histHf = new Float64Array(HIST);
  private readonly spurtHf = new Float64Array(HIST);
  private readonly nearHf = new Float64Array(HF_SMOOTH);
  private nearHfPos = 0;
  private mxH = 0;
  private mxxH = 0;
  private mxyH = 0;
  private myH = 0;
  private gainHf = 0;
  private hfHops = 0;

  reset(): void {
    this.hist.fill(0);
    this.tot.fill(0);
    this.spurt.fill(0);
    this.mx.fill(0);
    this.mxx.fill(0);
    this.mxy.fill(0);
    this.my.fill(0);
    this.myy.fill(0);
    this.gain.fill(0);
    this.histHf.fill(0);
    this.spurtHf.fill(0);
    this.nearHf.fill(0);
    this.nearHfPos = 0;
    this.mxH = this.mxxH = this.mxyH = this.myH = this.gainHf = 0;
    this.hfHops = 0;
    this.pos = 0;
    this.spurtPos = 0;
    this.run = 0;
    this.activeHops = 0;
    this.delayHops = -1;
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
    this.nearHf[this.nearHfPos] = nearHf;
    this.nearHfPos = (this.nearHfPos + 1) % HF_SMOOTH;
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
    for (let d = 0; d < DELAYS; d++) if (this.tot[(this.pos - d + HIST) % HIST] > FAR_ACTIVE) return true;
    return false;
  }

  /** A hop without a far-end reference. */
  absent(): void {
    this.run = 0;
  }

  /** Whether this hop may train the model: during warm-up, or inside a talk spurt whose echo has had time to arrive. */
  settled(): boolean {
    return this.activeHops < WARM_HOPS || this.delayHops < 0 || this.run > this.delayHops + SPREAD;
  }

  /** Estimated delay in hops once warm (-1 before). */
  delay(): number {
    return this.activeHops >= WARM_HOPS ? this.delayHops : -1;
  }

  meanGain(): number {
    let g = 0;
    for (let b = 0; b < BANDS; b++) g += this.gain[b];
    return g / BANDS;
  }

  /**
   * Trains the regression on a hop where the near end is not talking. The 4-8 kHz
   * energy gets a gain of its own, at the delay the bands pick.
   */
  learn(near: Float64Array): void {
    this.activeHops++;
    const a = this.activeHops < 100 ? 1.0 / this.activeHops : 0.01;
    const { my, myy, mx, mxx, mxy } = this;
    for (let b = 0; b < BANDS; b++) {
      const y = near[b];
      my[b] += a * (y - my[b]);
      myy[b] += a * (y * y - myy[b]);
    }
    let bestC = 0;
    let best = -1;
    for (let d = 0; d < DELAYS; d++) {
      const xo = ((this.pos - d + HIST) % HIST) * BANDS;
      const o = d * BANDS;
      let cov = 0;
      let vx = 0;
      let vy = 0;
      for (let b = 0; b < BANDS; b++) {
        const x = this.hist[xo + b];
        const y = near[b];
        mx[o + b] += a * (x - mx[o + b]);
        mxx[o + b] += a * (x * x - mxx[o + b]);
        mxy[o + b] += a * (x * y - mxy[o + b]);
        cov += mxy[o + b] - mx[o + b] * my[b];
        vx += mxx[o + b] - mx[o + b] * mx[o + b];
        vy += myy[b] - my[b] * my[b];
      }
      if (cov > 0 && vx > 0 && vy > 0) {
        const c = (cov * cov) / (vx * vy);
        if (c > bestC) {
          bestC = c;
          best = d;
        }
      }
    }
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
        x += this.histHf[(this.pos - best - j + HIST) % HIST];
        y += this.nearHf[j];
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

  /**
   * The predicted echo energy in 4-8 kHz (with the margin), on an active hop: as the
   * bands, without the neighbour leak (its energy is on another scale than the FFT bands').
   */
  predictHf(): number {
    if (this.activeHops < WARM_HOPS || this.delayHops < 0) {
      let mx = 0;
      for (let d = 0; d < DELAYS + 1; d++) {
        const v = this.histHf[(this.pos - d + HIST) % HIST];
        if (v > mx) mx = v;
      }
      return ECHO_PRIOR * mx;
    }
    return ECHO_MARGIN * this.gainHf * this.farHfMax();
  }

  /** The loudest far 4-8 kHz energy within +-SPREAD hops of the delay (wall clock and talk-spurt time). */
  private farHfMax(): number {
    let mx = 0;
    for (let d = this.delayHops - SPREAD; d <= this.delayHops + SPREAD; d++) {
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
    const warm = this.activeHops >= WARM_HOPS && this.delayHops >= 0;
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
        for (let d = this.delayHops - SPREAD; d <= this.delayHops + SPREAD; d++) {
          if (d < 0) continue;
          for (let bb = b0; bb <= b1; bb++) {
            const wgt = bb === b ? 1.0 : ECHO_LEAK;
            const v = this.hist[((this.pos - d + HIST) % HIST) * BANDS + bb] * wgt;
            if (v > mx) mx = v;
            const w = this.spurt[((this.spurtPos - d + HIST) % HIST) * BANDS + bb] * wgt;
            if (w > mx) mx = w;
          }
        }
        pred = ECHO_MARGIN * this.gain[b] * mx;
      }
      const r = resid[b] - pred;
      resid[b] = r > 0 ? r : 0;
    }
  }
}
