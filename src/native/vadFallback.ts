/**
 * Voice-activity detector in TypeScript: the fallback of native/src/vad.cpp, step
 * for step the same algorithm. The native core runs its signal path (decimation,
 * filters, FFT, periodicity, fine-spectrum vetoes) in float with 4-lane vectors;
 * this file runs the same steps in double, so the two are not bit-identical: the
 * parity test checks that they make the same decisions (flags, speechMs, onset)
 * frame by frame on real clips, with scores equal to within 1e-3. The decision
 * logic and the dB conversions (db10) are the same arithmetic on both sides.
 * See native/src/vad.h for the pipeline. Change both files together.
 *
 * Fixed-size state in typed arrays; nothing is allocated per frame.
 */

/** Per-frame flags, as returned by process() (same values as vad.h); defined once in vadTypes.ts. */
import { VadFlag } from './vadTypes';
export { VadFlag };

/** Indices of the numbers process() writes into `out` (same as vad.h OutIndex). */
export const VadOut = {
  Flags: 0,
  Score: 1,
  SpeechMs: 2,
  Onset: 3,
  End: 4,
  Reached: 5,
  SnrDb: 6,
  EchoDelayMs: 7,
  LastMs: 8,
  Count: 9,
} as const;

/** Status values of configuration checks (same as vad.h Status). */
export const VadStatus = {
  Ok: 0,
  BadSampleRate: -1,
  BadFrameMs: -2,
  BadInterruptMs: -3,
  BadHangoverMs: -4,
} as const;

export interface VadCoreConfig {
  sampleRate: number;
  frameMs: number;
  interruptMs: number;
  hangoverMs: number;
}

export function validateVadConfig(c: VadCoreConfig): number {
  if (c.sampleRate !== 8000 && c.sampleRate !== 16000 && c.sampleRate !== 48000) return VadStatus.BadSampleRate;
  if (c.frameMs !== 10 && c.frameMs !== 20 && c.frameMs !== 30) return VadStatus.BadFrameMs;
  if (!Number.isInteger(c.interruptMs) || c.interruptMs < 0 || c.interruptMs > 10000) return VadStatus.BadInterruptMs;
  if (!Number.isInteger(c.hangoverMs) || c.hangoverMs < 50 || c.hangoverMs > 2000) return VadStatus.BadHangoverMs;
  return VadStatus.Ok;
}

const PI = 3.141592653589793;
const EDGES = [3, 6, 10, 13, 16, 20, 25, 29, 35, 41, 47, 55, 64, 74, 86, 101, 118];
const MIN_FLOOR_PER_BIN = 1e-8;
const FLOOR_BIAS = 2.0;
const FAR_ACTIVE = 0.01;
const WARM_HOPS_ECHO = 100;
const ECHO_PRIOR = 2.0;
const ECHO_MARGIN = 4.0;
const ECHO_LEAK = 0.25; // share of a neighbouring band's echo a codec moves over (-6 dB)
const SNR_GATE = 1.5;
const SUSTAIN_GATE = 0.45;
const SUSTAIN_BLOCKS = 15;
const PEAK_REL = 0.01; // -20 dB: sustained blocks are this close to the peak
const BLK = 16;
const HF_WEIGHT = 3.0;
// background (babble, music) vs foreground (the user); see vad.cpp
const BG_FAST = 1.0 / 50;
const BG_SLOW = 1.0 / 1000;
const FG_LEARN = 6.0;
const BG_FREE = 4.5;
const BG_RAMP = 2.0;
const FG_K = 2.5;
const FG_MIN = 4.0;
const FG_MAX = 8.0;
const FG_DROP = 30;
const BUSY_VOICED = 4;
const BUSY_HARM = 0.1;
const BUSY_RECENT = 5;
// A segment's own hops, from its onset to its start, are learnt as segment hops (not at
// the fast rate of quiet hops) when the background was quiet and learnt before the onset:
// otherwise the user's first syllable makes a quiet room look busy to the rest of the
// segment. Hops of background state kept for that (onset backdating + candidate gaps).
const BG_HIST = 32;
const BG_SETTLED = 100;
const START_PEAK = 0.95;
const FAR_SKIP = 4;
const FG_RECENT = 20;

const HOP = 80;
const FFT = 256;
const N2 = 128;
const BANDS = 16;
const DELAYS = 33;
const ECHO_SPREAD = 4; // hops either side of the estimated echo delay the prediction covers
const FAR_HIST = DELAYS + ECHO_SPREAD + 1;
const PITCH_HIST = 152;
const RES = PITCH_HIST - 4;
const PITCH_WIN = 80;
const LAG_MIN = 10;
const LAG_MAX = 67;
const BLOCKS = 64;
const MIN_SUB = 5;
const MIN_SUB_LEN = 20;
const FLUX_LAG = 5;
const FLUX_KEEP = 10;
const START_HOPS = 2;
const REACH_VOICED = 2;
const VOICED_HARM = 0.5;
const VOICED_SCORE = 0.25; // speech evidence a voiced hop needs
const CAND_GAP = 8;
const DROPOUT_HOPS = 10;
const RECENT = 10;
const RECENT_MIN = 5;
const STAT_LAG = 10;
const STAT_SHORT = 3;
const FIR1 = 23;
const FIR2 = 31;
const WARM = 3; // FFT / HOP, rounded down: hops before the FFT window holds real samples
const BINS = N2 + 1;

// db10(x) = 10 log10(x) for x > 0, computed as in vad.cpp (exponent from the bits,
// atanh series for the mantissa), so both sides get the same double.
const dbView = new DataView(new ArrayBuffer(8));
function db10(x: number): number {
  dbView.setFloat64(0, x);
  const hi = dbView.getUint32(0);
  let e = ((hi >>> 20) & 0x7ff) - 1023;
  dbView.setUint32(0, (hi & 0x000fffff) | 0x3ff00000);
  let m = dbView.getFloat64(0);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  const t = (m - 1) / (m + 1);
  const t2 = t * t;
  const ln = 2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
  return 4.342944819032518 * (ln + e * 0.6931471805599453);
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
function clampTo(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function designLowpass(h: Float64Array, n: number, cutoff: number, fs: number): void {
  const fc = cutoff / fs;
  const m = n - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const t = i - m / 2.0;
    const s = t === 0 ? 2 * fc : Math.sin(2 * PI * fc * t) / (PI * t);
    const w = 0.54 - 0.46 * Math.cos((2 * PI * i) / m);
    h[i] = s * w;
    sum += h[i];
  }
  for (let i = 0; i < n; i++) h[i] = h[i] / sum;
}

function designBiquad(b: Float64Array, a: Float64Array, f0: number, fs: number, hp: boolean): void {
  const w0 = (2 * PI * f0) / fs;
  const cw = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * 0.7071067811865476);
  const a0 = 1 + alpha;
  if (hp) {
    b[0] = (1 + cw) / 2 / a0;
    b[1] = -(1 + cw) / a0;
    b[2] = (1 + cw) / 2 / a0;
  } else {
    b[0] = (1 - cw) / 2 / a0;
    b[1] = (1 - cw) / a0;
    b[2] = (1 - cw) / 2 / a0;
  }
  a[0] = 1;
  a[1] = (-2 * cw) / a0;
  a[2] = (1 - alpha) / a0;
}

class Channel {
  buf = new Float64Array(FFT);
  hpX1 = 0;
  hpX2 = 0;
  hpY1 = 0;
  hpY2 = 0;
  x1 = new Float64Array(FIR1 - 1 + 480);
  x2 = new Float64Array(FIR2 - 1 + 160);
  band = new Float64Array(BANDS);
  pow = new Float64Array(BINS);
  reset(): void {
    this.buf.fill(0);
    this.hpX1 = this.hpX2 = this.hpY1 = this.hpY2 = 0;
    this.x1.fill(0);
    this.x2.fill(0);
    this.band.fill(0);
    this.pow.fill(0);
  }
}

/** Diagnostics of the last 10 ms hop (tests and tuning). */
export interface VadFeatures {
  snrDb: number;
  sustain: number;
  harm: number;
  flux: number;
  score: number;
  stat: number;
  statShort: number;
  peak: number;
  /** Broadband level over the floor above the background, dB. */
  fgDb: number;
  /** The background: mean broadband level over the floor of quiet hops, dB. */
  bgDb: number;
  /** How far a hop must stand out from the background to start a segment, dB (0: not busy). */
  fgThr: number;
}

export class VadFallback {
  readonly config: VadCoreConfig;
  readonly frameSamples: number;
  private readonly decim: number;
  private readonly groupDelay: number;
  private readonly h1 = new Float64Array(FIR1);
  private readonly h2 = new Float64Array(FIR2);
  private readonly hpB = new Float64Array(3);
  private readonly hpA = new Float64Array(3);
  private readonly lpB = new Float64Array(3);
  private readonly lpA = new Float64Array(3);
  private readonly win = new Float64Array(FFT);
  private readonly cosT = new Float64Array(BINS);
  private readonly sinT = new Float64Array(BINS);
  private readonly rev = new Int32Array(N2);

  private readonly near = new Channel();
  private readonly far = new Channel();

  private readonly smooth = new Float64Array(BANDS);
  private readonly subMin = new Float64Array(MIN_SUB * BANDS);
  private readonly curMin = new Float64Array(BANDS);
  private subPos = 0;
  private subCount = 0;
  private readonly floor = new Float64Array(BANDS);
  private hopsSeen = 0;
  private hopSmooth = 0;
  private hopCurMin = 1e300;
  private readonly hopMin = new Float64Array(MIN_SUB);
  private hopFloor = 0;
  private lpSmooth = 0;
  private lpCurMin = 1e300;
  private readonly lpMin = new Float64Array(MIN_SUB);
  private lpFloor = 0;
  private readonly lpBlk = new Float64Array(SUSTAIN_BLOCKS);
  private lpPos = 0;
  private readonly hfHop = new Float64Array(HOP / BLK);
  private readonly hfBlk = new Float64Array(SUSTAIN_BLOCKS);
  private hfPos = 0;
  private hfSmooth = 0;
  private hfCurMin = 1e300;
  private readonly hfMin = new Float64Array(MIN_SUB);
  private hfFloor = 0;

  private readonly shapeHist = new Float64Array((FLUX_LAG + 1) * (BANDS + 1));
  private shapePos = 0;
  private readonly fluxHist = new Float64Array(FLUX_KEEP);
  private fluxPos = 0;

  private readonly blk = new Float64Array(BLOCKS);
  private blkPos = 0;

  private lpX1 = 0;
  private lpX2 = 0;
  private lpY1 = 0;
  private lpY2 = 0;
  private readonly p4 = new Float64Array(PITCH_HIST);
  private readonly res = new Float64Array(RES);
  private readonly cum = new Float64Array(RES + 1);

  private readonly farHist = new Float64Array(FAR_HIST * BANDS);
  private readonly farTot = new Float64Array(FAR_HIST);
  private farPos = 0;
  private readonly spurtHist = new Float64Array(FAR_HIST * BANDS);
  private spurtPos = 0;
  private farRun = 0;
  private readonly mx = new Float64Array(DELAYS * BANDS);
  private readonly mxx = new Float64Array(DELAYS * BANDS);
  private readonly mxy = new Float64Array(DELAYS * BANDS);
  private readonly my = new Float64Array(BANDS);
  private readonly myy = new Float64Array(BANDS);
  private farActiveHops = 0;
  private echoDelay = -1;
  private readonly echoGain = new Float64Array(BANDS);

  private farSilent = 0;
  private bgDb = 0;
  private bgVar = 0;
  private bgHops = 0; // warm hops the background has learnt from
  /** Per hop (hop8 % BG_HIST): the background before the hop's update, its level, whether speech. */
  private readonly bgHistDb = new Float64Array(BG_HIST);
  private readonly bgHistVar = new Float64Array(BG_HIST);
  private readonly bgHistLvl = new Float64Array(BG_HIST);
  private readonly bgHistSpeech = new Uint8Array(BG_HIST);
  private readonly bgHistHop = new Float64Array(BG_HIST);
  private fgQuiet = 0;
  private lastFgEnd = 0;
  private readonly fgRecent = new Uint8Array(FG_RECENT);
  private fgRecentPos = 0;
  private fgRecentCount = 0;

  private speechRun = 0;
  private quietRun = 0;
  private candGap = 0;
  private segVoiced = 0;
  private prevVoicedFg = false;
  private speaking = false;
  private readonly recent = new Uint8Array(RECENT);
  private recentPos = 0;
  private recentCount = 0;
  private segHops = 0;
  private segSpeech = 0;
  private statNow = 0;
  private statPrev1 = 0;
  private statPrev2 = 0;
  private reachedFired = false;
  private onset = -1;
  private end = -1;
  private reached = -1;
  private candOnset = -1;
  private lastSpeechEnd = 0;
  private lastMs = 0;
  private samples = 0;
  private hop8 = 0;
  readonly features: VadFeatures = { snrDb: 0, sustain: 0, harm: 0, flux: 0, score: 0, stat: 0, statShort: 0, peak: 0, fgDb: 0, bgDb: 0, fgThr: 0 };

  private readonly re = new Float64Array(N2);
  private readonly im = new Float64Array(N2);
  private readonly powHist = new Float64Array(STAT_LAG * BINS);
  private powPos = 0;
  private readonly n8 = new Float64Array(HOP);
  private readonly f8 = new Float64Array(HOP);
  private readonly resid = new Float64Array(BANDS);
  private readonly shape = new Float64Array(BANDS + 1);
  private readonly lpc = new Float64Array(5);
  private readonly lpcTmp = new Float64Array(5);
  private readonly r = new Float64Array(5);
  private statLong = 0;
  private statShort = 0;
  private peak = 0;

  /** Call validateVadConfig() first; a bad config falls back to the defaults (as in C++). */
  constructor(c: VadCoreConfig) {
    this.config = validateVadConfig(c) === VadStatus.Ok ? { ...c } : { sampleRate: 16000, frameMs: 20, interruptMs: 200, hangoverMs: 200 };
    const cfg = this.config;
    this.frameSamples = (cfg.sampleRate / 1000) * cfg.frameMs;
    this.decim = cfg.sampleRate / 8000;
    this.groupDelay = cfg.sampleRate === 8000 ? 0 : cfg.sampleRate === 16000 ? 14 : 51;
    designLowpass(this.h1, FIR1, 5000, 48000);
    designLowpass(this.h2, FIR2, 4000, 16000);
    for (let i = 1; i < FIR2; i += 2) if (i !== (FIR2 - 1) / 2) this.h2[i] = 0;
    designBiquad(this.hpB, this.hpA, 100, 8000, true);
    designBiquad(this.lpB, this.lpA, 1000, 8000, false);
    for (let i = 0; i < FFT; i++) this.win[i] = 0.5 - 0.5 * Math.cos((2 * PI * i) / FFT);
    for (let k = 0; k <= N2; k++) {
      this.cosT[k] = Math.cos((2 * PI * k) / FFT);
      this.sinT[k] = Math.sin((2 * PI * k) / FFT);
    }
    for (let i = 0; i < N2; i++) {
      let r = 0;
      for (let b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b);
      this.rev[i] = r;
    }
    this.reset();
  }

  reset(): void {
    this.near.reset();
    this.far.reset();
    for (let b = 0; b < BANDS; b++) {
      this.smooth[b] = 0;
      this.curMin[b] = 1e300;
      this.floor[b] = MIN_FLOOR_PER_BIN * (EDGES[b + 1] - EDGES[b]);
    }
    this.subMin.fill(1e300);
    this.shapeHist.fill(0);
    this.subPos = 0;
    this.subCount = 0;
    this.hopsSeen = 0;
    this.shapePos = 0;
    this.fluxHist.fill(0);
    this.fluxPos = 0;
    this.blk.fill(0);
    this.blkPos = 0;
    this.hopSmooth = 0;
    this.hopCurMin = 1e300;
    this.hopMin.fill(1e300);
    this.hopFloor = 0;
    this.lpBlk.fill(0);
    this.lpPos = 0;
    this.lpSmooth = 0;
    this.lpCurMin = 1e300;
    this.lpMin.fill(1e300);
    this.lpFloor = 0;
    this.hfBlk.fill(0);
    this.hfHop.fill(0);
    this.hfPos = 0;
    this.hfSmooth = 0;
    this.hfCurMin = 1e300;
    this.hfMin.fill(1e300);
    this.hfFloor = 0;
    this.lpX1 = this.lpX2 = this.lpY1 = this.lpY2 = 0;
    this.p4.fill(0);
    this.farTot.fill(0);
    this.farHist.fill(0);
    this.farPos = 0;
    this.spurtHist.fill(0);
    this.spurtPos = 0;
    this.farRun = 0;
    this.mx.fill(0);
    this.mxx.fill(0);
    this.mxy.fill(0);
    this.my.fill(0);
    this.myy.fill(0);
    this.echoGain.fill(0);
    this.farActiveHops = 0;
    this.echoDelay = -1;
    this.farSilent = 0;
    this.bgDb = 0;
    this.bgVar = 0;
    this.bgHops = 0;
    this.bgHistDb.fill(0);
    this.bgHistVar.fill(0);
    this.bgHistLvl.fill(0);
    this.bgHistSpeech.fill(0);
    this.bgHistHop.fill(-1);
    this.fgQuiet = 0;
    this.lastFgEnd = 0;
    this.fgRecent.fill(0);
    this.fgRecentPos = 0;
    this.fgRecentCount = 0;
    this.speechRun = 0;
    this.candGap = 0;
    this.segVoiced = 0;
    this.prevVoicedFg = false;
    this.quietRun = 0;
    this.recent.fill(0);
    this.recentPos = 0;
    this.recentCount = 0;
    this.segHops = 0;
    this.segSpeech = 0;
    this.statNow = this.statPrev1 = this.statPrev2 = 0;
    this.speaking = false;
    this.reachedFired = false;
    this.onset = -1;
    this.end = -1;
    this.reached = -1;
    this.candOnset = -1;
    this.lastSpeechEnd = 0;
    this.lastMs = 0;
    this.samples = 0;
    this.hop8 = 0;
    this.powHist.fill(0);
    this.powPos = 0;
    const f = this.features;
    f.snrDb = f.sustain = f.harm = f.flux = f.score = f.stat = f.statShort = f.peak = 0;
  }

  setInterruptMs(ms: number): number {
    if (!Number.isInteger(ms) || ms < 0 || ms > 10000) return VadStatus.BadInterruptMs;
    this.config.interruptMs = ms;
    return VadStatus.Ok;
  }

  /** One frame (frameSamples samples; farEnd the same or null); writes VadOut.Count numbers into out. */
  process(pcm: Int16Array, farEnd: Int16Array | null, out: Float64Array): number {
    let flags = 0;
    const hopIn = HOP * this.decim;
    const hops = this.frameSamples / hopIn;
    for (let h = 0; h < hops; h++) {
      this.toInternal(this.near, pcm, h * hopIn, this.n8, this.hfHop);
      let farLive = false;
      if (farEnd) {
        // a far end of digital zero for more than FAR_SKIP hops is not processed
        let nz = 0;
        for (let i = h * hopIn; i < (h + 1) * hopIn; i++) nz |= farEnd[i];
        this.farSilent = nz ? 0 : this.farSilent + 1;
        if (this.farSilent === FAR_SKIP + 1) this.far.reset();
        farLive = this.farSilent <= FAR_SKIP;
        if (farLive) this.toInternal(this.far, farEnd, h * hopIn, this.f8, null);
      }
      flags = (flags & ~VadFlag.Speech) | this.hop(this.n8, farLive ? this.f8 : null, farEnd !== null);
    }
    this.samples += this.frameSamples;
    const rate = this.config.sampleRate;
    out[VadOut.Flags] = flags;
    out[VadOut.Score] = this.features.score;
    out[VadOut.SpeechMs] = this.speaking ? ((this.samples - this.onset) * 1000.0) / rate : 0;
    out[VadOut.Onset] = this.onset;
    out[VadOut.End] = this.end;
    out[VadOut.Reached] = this.reached;
    out[VadOut.SnrDb] = this.features.snrDb;
    out[VadOut.EchoDelayMs] = this.farActiveHops >= WARM_HOPS_ECHO && this.echoDelay >= 0 ? this.echoDelay * 10.0 : -1;
    out[VadOut.LastMs] = this.lastMs;
    return flags;
  }

  private toInternal(ch: Channel, pcm: Int16Array, off: number, out8: Float64Array, hfOut: Float64Array | null): void {
    const scale = 1.0 / 32768;
    if (this.decim === 1) {
      for (let i = 0; i < HOP; i++) out8[i] = pcm[off + i] * scale;
      return;
    }
    const x2 = ch.x2;
    const h2 = this.h2;
    if (this.decim === 2) {
      for (let i = 0; i < 2 * HOP; i++) x2[FIR2 - 1 + i] = pcm[off + i] * scale;
    } else {
      const x1 = ch.x1;
      const h1 = this.h1;
      for (let i = 0; i < 6 * HOP; i++) x1[FIR1 - 1 + i] = pcm[off + i] * scale;
      for (let m = 0; m < 2 * HOP; m++) {
        const top = FIR1 - 1 + 3 * m + 2;
        let acc = 0;
        for (let j = 0; j < FIR1; j++) acc += h1[j] * x1[top - j];
        x2[FIR2 - 1 + m] = acc;
      }
      for (let i = 0; i < FIR1 - 1; i++) x1[i] = x1[6 * HOP + i];
    }
    if (hfOut) {
      for (let j = 0; j < HOP / BLK; j++) {
        let e = 0;
        for (let i = 0; i < 2 * BLK; i++) {
          const n = FIR2 - 1 + 2 * BLK * j + i;
          const d = x2[n] - x2[n - 1];
          e += d * d;
        }
        hfOut[j] = e;
      }
    }
    const c = (FIR2 - 1) / 2;
    for (let m = 0; m < HOP; m++) {
      const top = FIR2 - 1 + 2 * m + 1;
      let acc = h2[c] * x2[top - c];
      for (let j = 0; j < FIR2; j += 2) acc += h2[j] * x2[top - j];
      out8[m] = acc;
    }
    for (let i = 0; i < FIR2 - 1; i++) x2[i] = x2[2 * HOP + i];
  }

  private highpass(ch: Channel, x: Float64Array): void {
    const b = this.hpB;
    const a = this.hpA;
    for (let i = 0; i < HOP; i++) {
      const y = b[0] * x[i] + b[1] * ch.hpX1 + b[2] * ch.hpX2 - a[1] * ch.hpY1 - a[2] * ch.hpY2;
      ch.hpX2 = ch.hpX1;
      ch.hpX1 = x[i];
      ch.hpY2 = ch.hpY1;
      ch.hpY1 = y;
      x[i] = y;
    }
  }

  private bands(ch: Channel, x: Float64Array): void {
    const buf = ch.buf;
    buf.copyWithin(0, HOP, FFT);
    for (let i = 0; i < HOP; i++) buf[FFT - HOP + i] = x[i];
    const re = this.re;
    const im = this.im;
    const win = this.win;
    const cosT = this.cosT;
    const sinT = this.sinT;
    for (let i = 0; i < N2; i++) {
      const r = this.rev[i];
      re[r] = buf[2 * i] * win[2 * i];
      im[r] = buf[2 * i + 1] * win[2 * i + 1];
    }
    for (let size = 2; size <= N2; size *= 2) {
      const half = size / 2;
      const step = FFT / size;
      for (let i = 0; i < N2; i += size) {
        for (let j = 0; j < half; j++) {
          const wr = cosT[j * step];
          const wi = -sinT[j * step];
          const p = i + j;
          const q = p + half;
          const tr = wr * re[q] - wi * im[q];
          const ti = wr * im[q] + wi * re[q];
          re[q] = re[p] - tr;
          im[q] = im[p] - ti;
          re[p] = re[p] + tr;
          im[p] = im[p] + ti;
        }
      }
    }
    const pow = ch.pow;
    for (let k = EDGES[0]; k < EDGES[BANDS]; k++) {
      const kc = N2 - k;
      const zr = re[k];
      const zi = im[k];
      const cr = re[kc];
      const ci = -im[kc];
      const er = 0.5 * (zr + cr);
      const ei = 0.5 * (zi + ci);
      const orr = 0.5 * (zr - cr);
      const oi = 0.5 * (zi - ci);
      const ar = oi;
      const ai = -orr;
      const wr = cosT[k];
      const wi = -sinT[k];
      const xr = er + (ar * wr - ai * wi);
      const xi = ei + (ar * wi + ai * wr);
      pow[k] = xr * xr + xi * xi;
    }
    for (let b = 0; b < BANDS; b++) {
      let s = 0;
      for (let k = EDGES[b]; k < EDGES[b + 1]; k++) s += pow[k];
      ch.band[b] = s;
    }
  }

  private lowband(x8: Float64Array): void {
    const p4 = this.p4;
    p4.copyWithin(0, HOP / 2, PITCH_HIST);
    const b = this.lpB;
    const a = this.lpA;
    for (let i = 0; i < HOP; i++) {
      const y = b[0] * x8[i] + b[1] * this.lpX1 + b[2] * this.lpX2 - a[1] * this.lpY1 - a[2] * this.lpY2;
      this.lpX2 = this.lpX1;
      this.lpX1 = x8[i];
      this.lpY2 = this.lpY1;
      this.lpY1 = y;
      if (i & 1) p4[PITCH_HIST - HOP / 2 + (i >> 1)] = y;
    }
  }

  private periodicity(): number {
    const p4 = this.p4;
    const r = this.r;
    for (let l = 0; l <= 4; l++) {
      let s = 0;
      for (let n = l; n < PITCH_HIST; n++) s += p4[n] * p4[n - l];
      r[l] = s;
    }
    if (r[0] < 1e-10) return 0;
    r[0] = r[0] * 1.0001;
    const a = this.lpc;
    const tmp = this.lpcTmp;
    a[0] = 1;
    a[1] = a[2] = a[3] = a[4] = 0;
    let err = r[0];
    for (let i = 1; i <= 4; i++) {
      let acc = r[i];
      for (let j = 1; j < i; j++) acc += a[j] * r[i - j];
      const k = -acc / err;
      for (let j = 0; j <= 4; j++) tmp[j] = a[j];
      for (let j = 1; j < i; j++) a[j] = tmp[j] + k * tmp[i - j];
      a[i] = k;
      err = err * (1 - k * k);
    }
    const res = this.res;
    for (let n = 4; n < PITCH_HIST; n++) {
      res[n - 4] = p4[n] + a[1] * p4[n - 1] + a[2] * p4[n - 2] + a[3] * p4[n - 3] + a[4] * p4[n - 4];
    }
    const cum = this.cum;
    cum[0] = 0;
    for (let n = 0; n < RES; n++) cum[n + 1] = cum[n] + res[n] * res[n];
    const n0 = RES - PITCH_WIN;
    const e0 = cum[RES] - cum[n0];
    if (e0 <= 0) return 0;
    let best = 0;
    let bestLag = 0;
    for (let lag = LAG_MIN; lag <= LAG_MAX; lag += 2) {
      const c = this.lagCorr(n0, lag, e0);
      if (c > best) {
        best = c;
        bestLag = lag;
      }
    }
    if (bestLag === 0) return 0;
    for (let lag = bestLag - 1; lag <= bestLag + 1; lag += 2) {
      if (lag < LAG_MIN || lag > LAG_MAX) continue;
      const c = this.lagCorr(n0, lag, e0);
      if (c > best) best = c;
    }
    return Math.sqrt(best);
  }

  private lagCorr(n0: number, lag: number, e0: number): number {
    const res = this.res;
    let s = 0;
    for (let n = n0; n < RES; n++) s += res[n] * res[n - lag];
    if (s <= 0) return 0;
    const e1 = this.cum[RES - lag] - this.cum[n0 - lag];
    return (s * s) / (e0 * e1 + 1e-30);
  }

  private hop(near8: Float64Array, far8: Float64Array | null, farGiven: boolean): number {
    let flags = 0;
    const near = this.near;
    this.highpass(near, near8);
    this.bands(near, near8);
    this.lowband(near8);
    let lpE = 0;
    for (let j = 0; j < HOP / BLK; j++) {
      let s = 0;
      for (let i = 0; i < BLK / 2; i++) {
        const v = this.p4[PITCH_HIST - HOP / 2 + (BLK / 2) * j + i];
        s += v * v;
      }
      this.lpBlk[this.lpPos] = s;
      this.lpPos = (this.lpPos + 1) % SUSTAIN_BLOCKS;
      lpE += s;
    }

    let hfE = 0;
    for (let j = 0; j < HOP / BLK; j++) {
      this.hfBlk[this.hfPos] = this.hfHop[j];
      this.hfPos = (this.hfPos + 1) % SUSTAIN_BLOCKS;
      hfE += this.hfHop[j];
    }

    let hopE = 0;
    for (let j = 0; j < HOP / BLK; j++) {
      let s = 0;
      for (let i = 0; i < BLK; i++) s += near8[BLK * j + i] * near8[BLK * j + i];
      this.blk[this.blkPos] = s;
      this.blkPos = (this.blkPos + 1) % BLOCKS;
      hopE += s;
    }

    let farActive = false;
    if (farGiven) {
      if (far8) {
        this.highpass(this.far, far8);
        this.bands(this.far, far8);
      } else {
        this.far.band.fill(0);
      }
      this.farPos = (this.farPos + 1) % FAR_HIST;
      let tot = 0;
      for (let b = 0; b < BANDS; b++) {
        this.farHist[this.farPos * BANDS + b] = this.far.band[b];
        tot += this.far.band[b];
      }
      this.farTot[this.farPos] = tot;
      // the same bands in "talk-spurt time": advanced only by hops that carry far-end
      // samples, so across a silence it still holds the end of the last spurt
      if (far8 && this.farSilent === 0) {
        this.spurtPos = (this.spurtPos + 1) % FAR_HIST;
        for (let b = 0; b < BANDS; b++) this.spurtHist[this.spurtPos * BANDS + b] = this.far.band[b];
      }
      for (let d = 0; d < DELAYS; d++) {
        if (this.farTot[(this.farPos - d + FAR_HIST) % FAR_HIST] > FAR_ACTIVE) {
          farActive = true;
          break;
        }
      }
    }
    this.farRun = farGiven && this.farSilent === 0 ? this.farRun + 1 : 0;
    if (farActive) {
      flags |= VadFlag.FarEndActive;
      // the echo path is learnt while the near end is not talking (no double talk) and,
      // once the delay is known, only inside a talk spurt whose echo has had time to
      // arrive: not in its first delay + spread hops, nor once the far end is silent
      // (an echo path that pauses with the far end, a playout buffer, plays the tail
      // of a spurt only when the next one starts)
      const settled = this.farActiveHops < WARM_HOPS_ECHO || this.echoDelay < 0 || this.farRun > this.echoDelay + ECHO_SPREAD;
      if (!this.speaking && settled) this.echoUpdate();
    }

    const resid = this.resid;
    for (let b = 0; b < BANDS; b++) resid[b] = near.band[b];
    if (farActive) {
      for (let b = 0; b < BANDS; b++) {
        let pred: number;
        if (this.farActiveHops < WARM_HOPS_ECHO || this.echoDelay < 0) {
          let mx = 0;
          for (let d = 0; d < DELAYS + 1; d++) {
            const v = this.farHist[((this.farPos - d + FAR_HIST) % FAR_HIST) * BANDS + b];
            if (v > mx) mx = v;
          }
          pred = ECHO_PRIOR * mx;
        } else {
          // the delay moves by a frame or two between talk spurts (the reference is the
          // frame most recently sent): +-ECHO_SPREAD hops around the estimate; and the
          // echo may be held over a silence: the spurt history at the same delays
          let mx = 0;
          // Lossy codecs on the echo path (Opus out to the user, Opus back) move energy
          // into the neighbouring bands (MDCT spreading, CELT band folding): the far end
          // of those bands counts at ECHO_LEAK.
          const b0 = b > 0 ? b - 1 : 0;
          const b1 = b < BANDS - 1 ? b + 1 : b;
          for (let d = this.echoDelay - ECHO_SPREAD; d <= this.echoDelay + ECHO_SPREAD; d++) {
            if (d < 0) continue;
            for (let bb = b0; bb <= b1; bb++) {
              const wgt = bb === b ? 1.0 : ECHO_LEAK;
              const v = this.farHist[((this.farPos - d + FAR_HIST) % FAR_HIST) * BANDS + bb] * wgt;
              if (v > mx) mx = v;
              const w = this.spurtHist[((this.spurtPos - d + FAR_HIST) % FAR_HIST) * BANDS + bb] * wgt;
              if (w > mx) mx = w;
            }
          }
          pred = ECHO_MARGIN * this.echoGain[b] * mx;
        }
        const r = resid[b] - pred;
        resid[b] = r > 0 ? r : 0;
      }
    }

    this.hopsSeen++;
    const warm = this.hopsSeen >= WARM;
    if (warm) {
      const first = this.hopsSeen === WARM;
      for (let b = 0; b < BANDS; b++) {
        this.smooth[b] = first ? near.band[b] : 0.5 * this.smooth[b] + 0.5 * near.band[b];
        if (this.smooth[b] < this.curMin[b]) this.curMin[b] = this.smooth[b];
      }
      this.hopSmooth = first ? hopE : 0.5 * this.hopSmooth + 0.5 * hopE;
      if (this.hopSmooth < this.hopCurMin) this.hopCurMin = this.hopSmooth;
      this.lpSmooth = first ? lpE : 0.5 * this.lpSmooth + 0.5 * lpE;
      if (this.lpSmooth < this.lpCurMin) this.lpCurMin = this.lpSmooth;
      this.hfSmooth = first ? hfE : 0.5 * this.hfSmooth + 0.5 * hfE;
      if (this.hfSmooth < this.hfCurMin) this.hfCurMin = this.hfSmooth;
      this.subCount++;
      if (this.subCount === MIN_SUB_LEN) {
        for (let b = 0; b < BANDS; b++) {
          this.subMin[this.subPos * BANDS + b] = this.curMin[b];
          this.curMin[b] = 1e300;
        }
        this.hopMin[this.subPos] = this.hopCurMin;
        this.hopCurMin = 1e300;
        this.lpMin[this.subPos] = this.lpCurMin;
        this.lpCurMin = 1e300;
        this.hfMin[this.subPos] = this.hfCurMin;
        this.hfCurMin = 1e300;
        this.subPos = (this.subPos + 1) % MIN_SUB;
        this.subCount = 0;
      }
      for (let b = 0; b < BANDS; b++) {
        let m = this.curMin[b];
        for (let s = 0; s < MIN_SUB; s++) if (this.subMin[s * BANDS + b] < m) m = this.subMin[s * BANDS + b];
        const lo = MIN_FLOOR_PER_BIN * (EDGES[b + 1] - EDGES[b]);
        const f = FLOOR_BIAS * m;
        this.floor[b] = f > lo ? f : lo;
      }
      let m = this.hopCurMin;
      for (let s = 0; s < MIN_SUB; s++) if (this.hopMin[s] < m) m = this.hopMin[s];
      const lo = HOP * 1e-9;
      this.hopFloor = FLOOR_BIAS * m > lo ? FLOOR_BIAS * m : lo;
      m = this.lpCurMin;
      for (let s = 0; s < MIN_SUB; s++) if (this.lpMin[s] < m) m = this.lpMin[s];
      this.lpFloor = FLOOR_BIAS * m > lo ? FLOOR_BIAS * m : lo;
      m = this.hfCurMin;
      for (let s = 0; s < MIN_SUB; s++) if (this.hfMin[s] < m) m = this.hfMin[s];
      this.hfFloor = FLOOR_BIAS * m > 2 * lo ? FLOOR_BIAS * m : 2 * lo;
    }

    const nShape = this.decim > 1 ? BANDS + 1 : BANDS;
    let snrSum = 0;
    const shape = this.shape;
    let shapeMean = 0;
    for (let b = 0; b < BANDS; b++) {
      const g = resid[b] / this.floor[b];
      if (g > 1) {
        const db = db10(g);
        snrSum += db < 30 ? db : 30;
      }
      shape[b] = db10(near.band[b] + this.floor[b]);
      shapeMean += shape[b];
    }
    if (this.decim > 1) {
      if (!farActive && this.hfFloor > 0) {
        const g = hfE / this.hfFloor;
        if (g > 1) {
          const db = db10(g);
          snrSum += HF_WEIGHT * (db < 30 ? db : 30);
        }
      }
      shape[BANDS] = db10(hfE + this.hfFloor + 1e-12);
      shapeMean += shape[BANDS];
    }
    const snrDb = snrSum / BANDS;
    shapeMean = shapeMean / nShape;
    let fgDb = 0;
    if (warm) {
      let rs = 0;
      let fs = 0;
      for (let b = 0; b < BANDS; b++) {
        rs += resid[b];
        fs += this.floor[b];
      }
      fgDb = db10(1 + rs / fs) - this.bgDb;
    }
    const busy = clamp01((this.bgDb - BG_FREE) / BG_RAMP);
    const fgThr = busy * clampTo(FG_K * Math.sqrt(this.bgVar), FG_MIN, FG_MAX);
    const prev = (this.shapePos + 1) % (FLUX_LAG + 1);
    let flux = 0;
    for (let b = 0; b < nShape; b++) {
      shape[b] = shape[b] - shapeMean;
      const d = shape[b] - this.shapeHist[prev * (BANDS + 1) + b];
      flux += d < 0 ? -d : d;
      this.shapeHist[prev * (BANDS + 1) + b] = shape[b];
    }
    this.shapePos = prev;
    flux = flux / nShape;
    this.fluxHist[this.fluxPos] = flux;
    this.fluxPos = (this.fluxPos + 1) % FLUX_KEEP;
    let fluxMax = 0;
    for (let j = 0; j < FLUX_KEEP; j++) if (this.fluxHist[j] > fluxMax) fluxMax = this.fluxHist[j];

    // a block counts when it is also within 20 dB of the loudest block of those 30 ms
    let lpMax = 0;
    let bbMax = 0;
    let hfMax = 0;
    for (let j = 0; j < SUSTAIN_BLOCKS; j++) {
      if (this.lpBlk[j] > lpMax) lpMax = this.lpBlk[j];
      const v = this.blk[(this.blkPos - 1 - j + BLOCKS) % BLOCKS];
      if (v > bbMax) bbMax = v;
      if (this.hfBlk[j] > hfMax) hfMax = this.hfBlk[j];
    }
    const lpFl = (2.0 * this.lpFloor) / (HOP / BLK);
    const bbFl = (2.0 * this.hopFloor) / (HOP / BLK);
    const hfFl = (2.0 * this.hfFloor) / (HOP / BLK);
    const lpThr = lpFl > PEAK_REL * lpMax ? lpFl : PEAK_REL * lpMax;
    const bbThr = bbFl > PEAK_REL * bbMax ? bbFl : PEAK_REL * bbMax;
    const hfThr = hfFl > PEAK_REL * hfMax ? hfFl : PEAK_REL * hfMax;
    let aboveLp = 0;
    let aboveBb = 0;
    let aboveHf = 0;
    for (let j = 0; j < SUSTAIN_BLOCKS; j++) {
      if (this.lpBlk[j] > lpThr) aboveLp++;
      if (this.blk[(this.blkPos - 1 - j + BLOCKS) % BLOCKS] > bbThr) aboveBb++;
      if (this.decim > 1 && !farActive && this.hfBlk[j] > hfThr) aboveHf++;
    }
    let above = aboveLp > aboveBb ? aboveLp : aboveBb;
    if (aboveHf > above) above = aboveHf;
    const sustain = above / SUSTAIN_BLOCKS;

    this.stationarity();
    this.statPrev2 = this.statPrev1;
    this.statPrev1 = this.statNow;
    this.statNow = this.statLong;
    this.statLong = (this.statNow + this.statPrev1 + this.statPrev2) / 3.0;
    const feat = this.features;
    feat.stat = this.statLong;
    feat.statShort = this.statShort;
    feat.peak = this.peak;
    const open = warm && snrDb > SNR_GATE && sustain > SUSTAIN_GATE;
    const harm = open ? this.periodicity() : 0;
    const score = warm ? scoreOf(snrDb, sustain, harm, fluxMax, this.peak, this.statShort, this.statLong) : 0;
    feat.fgDb = fgDb;
    feat.bgDb = this.bgDb;
    feat.fgThr = fgThr;
    feat.snrDb = snrDb;
    feat.sustain = sustain;
    feat.harm = harm;
    feat.flux = fluxMax;
    feat.score = score;

    const cfg = this.config;
    const hopStart = this.hop8 * this.decim * HOP;
    const hopEnd = hopStart + this.decim * HOP;
    this.hop8++;
    const isSpeech = score >= 0.5;
    const voicedHarm = VOICED_HARM + busy * BUSY_HARM;
    const isFg = isSpeech && fgDb >= fgThr && this.peak < START_PEAK;
    // a voiced hop for D: periodic, standing out, not a tone, with some speech evidence
    // even if under the speech threshold (a vowel's edge next to a consonant cluster:
    // "ex|cuse" over an active far end, where the 4-8 kHz band does not count)
    const voicedFg = harm >= voicedHarm && score >= VOICED_SCORE && fgDb >= fgThr && this.peak < START_PEAK;
    if (warm) {
      const slot = (this.hop8 - 1) % BG_HIST;
      this.bgHistDb[slot] = this.bgDb;
      this.bgHistVar[slot] = this.bgVar;
      this.bgHistLvl[slot] = fgDb + this.bgDb;
      this.bgHistSpeech[slot] = isSpeech ? 1 : 0;
      this.bgHistHop[slot] = this.hop8 - 1;
      this.bgHops++;
      const a = !this.speaking || (!isSpeech && fgDb < FG_LEARN) ? BG_FAST : BG_SLOW;
      this.bgDb += a * fgDb;
      this.bgVar += a * (fgDb * fgDb - this.bgVar);
    }
    this.fgRecentCount += (isFg ? 1 : 0) - this.fgRecent[this.fgRecentPos];
    this.fgRecent[this.fgRecentPos] = isFg ? 1 : 0;
    this.fgRecentPos = (this.fgRecentPos + 1) % FG_RECENT;
    this.recentCount += (isSpeech ? 1 : 0) - this.recent[this.recentPos];
    this.recent[this.recentPos] = isSpeech ? 1 : 0;
    this.recentPos = (this.recentPos + 1) % RECENT;
    if (!this.speaking && isFg && this.speechRun === 0) {
      this.segHops = 0;
      this.segSpeech = 0;
      // the voiced hop just before the first speech hop belongs to the segment
      this.segVoiced = this.prevVoicedFg ? 1 : 0;
    }
    this.segHops++;
    if (isSpeech) this.segSpeech++;
    if (!this.speaking) {
      if (isFg) {
        if (this.speechRun === 0) this.candOnset = this.refineOnset(hopEnd);
        this.speechRun++;
        this.lastFgEnd = hopEnd;
        this.candGap = 0;
        if (voicedFg) this.segVoiced++;
        if (this.speechRun >= START_HOPS) {
          this.speaking = true;
          this.reachedFired = false;
          this.quietRun = 0;
          this.fgQuiet = 0;
          this.onset = this.candOnset;
          this.reached = -1;
          flags |= VadFlag.SpeechStart;
          this.relearnSegmentStart();
        }
      } else if (this.speechRun > 0 && ++this.candGap > CAND_GAP) {
        this.speechRun = 0;
        this.segVoiced = 0;
      } else if (this.speechRun > 0 && voicedFg) {
        this.segVoiced++;
      }
    } else {
      if (voicedFg) this.segVoiced++;
      if (isFg) {
        this.fgQuiet = 0;
        this.lastFgEnd = hopEnd;
      } else {
        this.fgQuiet++;
      }
      if (isSpeech) {
        this.quietRun = 0;
      } else {
        if (this.quietRun === 0) this.lastSpeechEnd = hopStart;
        this.quietRun++;
      }
      const silent = this.quietRun * 10 >= cfg.hangoverMs;
      if (silent || this.fgQuiet >= FG_DROP) {
        this.speaking = false;
        this.speechRun = 0;
        this.segVoiced = 0;
        this.end = silent ? this.lastSpeechEnd : this.lastFgEnd;
        this.lastMs = ((this.end - this.onset) * 1000.0) / cfg.sampleRate;
        flags |= VadFlag.SpeechEnd;
      }
    }
    this.prevVoicedFg = voicedFg;
    if (this.speaking) {
      flags |= VadFlag.Speech;
      const ms = ((hopEnd - this.onset) * 1000.0) / cfg.sampleRate;
      const inWord = isSpeech || (this.quietRun <= DROPOUT_HOPS && this.recentCount >= RECENT_MIN);
      const dense = 2 * this.segSpeech >= this.segHops;
      const needVoiced = REACH_VOICED + Math.trunc(busy * BUSY_VOICED + 0.5);
      const standsOut = this.fgRecentCount >= Math.trunc(busy * BUSY_RECENT + 0.5);
      const confirmed = cfg.interruptMs === 0 || (this.segVoiced >= needVoiced && dense && inWord && standsOut);
      if (!this.reachedFired && confirmed && ms >= cfg.interruptMs) {
        this.reachedFired = true;
        flags |= VadFlag.DurationReached;
        const at = this.onset + cfg.interruptMs * (cfg.sampleRate / 1000);
        this.reached = at > hopStart ? at : hopStart;
      }
    }
    return flags;
  }

  /**
   * At a segment start: when the background was quiet (not busy) and learnt before the
   * onset, the hops from the onset on are learnt again as segment hops (slowly, unless
   * non-speech close to the background), from the background as it was before them.
   */
  private relearnSegmentStart(): void {
    const last = this.hop8 - 1; // this hop
    const first = Math.floor(this.onset / (this.decim * HOP));
    if (last - first >= BG_HIST || first < 0) return;
    const s0 = first % BG_HIST;
    if (this.bgHistHop[s0] !== first || this.bgHops - (last - first + 1) < BG_SETTLED) return;
    if (this.bgHistDb[s0] > BG_FREE) return;
    let bg = this.bgHistDb[s0];
    let v = this.bgHistVar[s0];
    for (let h = first; h <= last; h++) {
      const k = h % BG_HIST;
      if (this.bgHistHop[k] !== h) continue;
      const fg = this.bgHistLvl[k] - bg;
      const a = !this.bgHistSpeech[k] && fg < FG_LEARN ? BG_FAST : BG_SLOW;
      bg += a * fg;
      v += a * (fg * fg - v);
    }
    this.bgDb = bg;
    this.bgVar = v;
  }

  // The native core (vad.cpp) computes the same numbers more lazily: the FFT's j = 0
  // butterflies without products, and the tone/note vetoes and periodicity only on
  // hops that pass the SNR and sustain gates (elsewhere the score is 0 whatever they
  // say), from a ring of the last 13 fine spectra. Every result is the same.
  private stationarity(): void {
    const cur = this.near.pow;
    const ph = this.powHist;
    const oL = this.powPos * BINS;
    const oS = ((this.powPos + STAT_LAG - STAT_SHORT) % STAT_LAG) * BINS;
    let sl = 0;
    let ss = 0;
    let sxx = 0;
    let sll = 0;
    let sss = 0;
    let tot = 0;
    for (let k = EDGES[0]; k < EDGES[BANDS]; k++) {
      sl += cur[k] * ph[oL + k];
      ss += cur[k] * ph[oS + k];
      sxx += cur[k] * cur[k];
      sll += ph[oL + k] * ph[oL + k];
      sss += ph[oS + k] * ph[oS + k];
      tot += cur[k];
    }
    let best = 0;
    let best2 = 0;
    let k1 = 0;
    for (let k = EDGES[0] + 1; k < EDGES[BANDS] - 1; k++) {
      const s3 = cur[k - 1] + cur[k] + cur[k + 1];
      if (s3 > best) {
        best = s3;
        k1 = k;
      }
    }
    for (let k = EDGES[0] + 1; k < EDGES[BANDS] - 1; k++) {
      if (k > k1 - 3 && k < k1 + 3) continue;
      const s3 = cur[k - 1] + cur[k] + cur[k + 1];
      if (s3 > best2) best2 = s3;
    }
    for (let k = EDGES[0]; k < EDGES[BANDS]; k++) ph[oL + k] = cur[k];
    this.powPos = (this.powPos + 1) % STAT_LAG;
    this.statLong = sxx > 0 && sll > 0 ? sl / Math.sqrt(sxx * sll) : 0;
    this.statShort = sxx > 0 && sss > 0 ? ss / Math.sqrt(sxx * sss) : 0;
    this.peak = tot > 0 ? (best + best2) / tot : 0;
  }

  private refineOnset(hopEnd: number): number {
    const thr = (2.0 * this.hopFloor) / (HOP / BLK);
    let earliest = 0;
    let gap = 0;
    for (let j = 1; j <= BLOCKS - 1; j++) {
      if (this.blk[(this.blkPos - j + BLOCKS) % BLOCKS] > thr) {
        earliest = j;
        gap = 0;
      } else if (++gap > 2 && earliest > 0) {
        break;
      }
    }
    if (earliest === 0) earliest = HOP / BLK;
    const at = hopEnd - BLK * earliest * this.decim - this.groupDelay;
    return at < 0 ? 0 : at;
  }

  private echoUpdate(): void {
    this.farActiveHops++;
    const a = this.farActiveHops < 100 ? 1.0 / this.farActiveHops : 0.01;
    const near = this.near.band;
    const my = this.my;
    const myy = this.myy;
    for (let b = 0; b < BANDS; b++) {
      const y = near[b];
      my[b] += a * (y - my[b]);
      myy[b] += a * (y * y - myy[b]);
    }
    let bestC = 0;
    let best = -1;
    const mx = this.mx;
    const mxx = this.mxx;
    const mxy = this.mxy;
    for (let d = 0; d < DELAYS; d++) {
      const xo = ((this.farPos - d + FAR_HIST) % FAR_HIST) * BANDS;
      const o = d * BANDS;
      let cov = 0;
      let vx = 0;
      let vy = 0;
      for (let b = 0; b < BANDS; b++) {
        const x = this.farHist[xo + b];
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
    if (best < 0 && this.farActiveHops > WARM_HOPS_ECHO && this.echoDelay >= 0) best = this.echoDelay;
    this.echoDelay = best;
    for (let b = 0; b < BANDS; b++) {
      if (best < 0) {
        this.echoGain[b] = 0;
        continue;
      }
      const o = best * BANDS + b;
      const cov = mxy[o] - mx[o] * my[b];
      const vx = mxx[o] - mx[o] * mx[o];
      this.echoGain[b] = cov > 0 && vx > 0 ? cov / vx : 0;
    }
  }
}

function scoreOf(
  snrDb: number,
  sustain: number,
  harm: number,
  flux: number,
  peak: number,
  statShort: number,
  statLong: number,
): number {
  const zSnr = clampTo(snrDb - 3.0, -3.0, 7.5) / 3.0;
  const zHarm = clampTo((harm - 0.33) / 0.1, -1.0, 3.0);
  const zFlux = clampTo((flux - 3.0) / 1.5, -1.5, 1.0);
  const p = clamp01(0.5 + (zSnr + zHarm + zFlux) / 4.0);
  const gSnr = clamp01((snrDb - SNR_GATE) / 1.5);
  const gSus = clamp01((sustain - SUSTAIN_GATE) / 0.2);
  const tone = clamp01((peak - 0.8) / 0.1) * clamp01((statShort - 0.9) / 0.07);
  const note = clamp01((statLong - 0.8) / 0.08);
  const tonal = tone > note ? tone : note;
  return p * gSnr * gSus * (1 - tonal);
}
