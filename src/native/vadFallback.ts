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
import { VadFlag, VadOut, VadStatus } from './vadTypes';
import { DELAYS, EchoModel } from './vadEcho';
import { BANDS, BINS, BLK, Channel, EDGES, HOP, PITCH_HIST, SignalPath } from './vadSignal';
import { clamp01, clampTo, db10 } from './vadMath';
import {
  MIN_FLOOR_PER_BIN, FLOOR_BIAS, SNR_GATE, SUSTAIN_GATE, SUSTAIN_BLOCKS, PEAK_REL, HF_WEIGHT, BG_FAST,
  BG_SLOW, FG_LEARN, BG_FREE, BG_RAMP, FG_K, FG_MIN, FG_MAX, FG_DROP, BUSY_VOICED, BUSY_HARM, BUSY_RECENT,
  BG_HIST, BG_SETTLED, BG_OPENING, START_PEAK, FAR_SKIP, ONSET_SPAN, ONSET_RISE, ONSET_CLIMB_FLOOR, ONSET_CLIMB_RISE, ONSET_CLIMB_TOP, ONSET_PEAK, ONSET_HARM,
  FG_RECENT, BLOCKS, MIN_SUB, MIN_SUB_LEN, FLUX_LAG, FLUX_KEEP, START_HOPS, REACH_VOICED, VOICED_HARM,
  VOICED_SCORE, CAND_GAP, DROPOUT_HOPS, RECENT, RECENT_MIN, STAT_LAG, STAT_SHORT, WARM
} from './vadTuning';
import { OnsetMode, OnsetStage, ONSET_ABS, ONSET_BANDS, ONSET_BUSY, ONSET_FAR_QUIET, ONSET_FIRES, ONSET_FIRES_HF, ONSET_RISE_BLOCKS } from './vadOnset';
export { VadFlag, VadOut, VadStatus };

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
  private readonly sig: SignalPath;

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
  /** After the predicted echo. */
  private readonly hfBlk = new Float64Array(SUSTAIN_BLOCKS);
  private readonly farHfHop = new Float64Array(HOP / BLK);
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


  private readonly echo = new EchoModel();
  private readonly onsetStage = new OnsetStage();
  private readonly onsetDb = new Float64Array(ONSET_BANDS);
  private viaStage = false; // the segment was started by the onset stage
  private farQuiet = ONSET_FAR_QUIET; // hops since the far end last carried samples (saturating)

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
  private candViaOnset = false; // the candidate's first hop was admitted by the onset rule alone
  /** The segment started in the stream's opening (BG_OPENING). */
  private segUnsettled = false;
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

  private readonly powHist = new Float64Array(STAT_LAG * BINS);
  private powPos = 0;
  private readonly n8 = new Float64Array(HOP);
  private readonly f8 = new Float64Array(HOP);
  private readonly resid = new Float64Array(BANDS);
  private readonly shape = new Float64Array(BANDS + 1);
  private statLong = 0;
  private statShort = 0;
  private peak = 0;

  /** Call validateVadConfig() first; a bad config falls back to the defaults (as in C++). */
  constructor(c: VadCoreConfig) {
    this.config = validateVadConfig(c) === VadStatus.Ok ? { ...c } : { sampleRate: 16000, frameMs: 20, interruptMs: 200, hangoverMs: 200 };
    const cfg = this.config;
    this.frameSamples = (cfg.sampleRate / 1000) * cfg.frameMs;
    this.sig = new SignalPath(cfg.sampleRate);
    this.decim = this.sig.decim;
    this.groupDelay = this.sig.groupDelay;
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
    this.farHfHop.fill(0);
    this.hfHop.fill(0);
    this.hfPos = 0;
    this.hfSmooth = 0;
    this.hfCurMin = 1e300;
    this.hfMin.fill(1e300);
    this.hfFloor = 0;
    this.sig.reset();
    this.echo.reset();
    this.onsetStage.reset();
    this.viaStage = false;
    this.farQuiet = ONSET_FAR_QUIET;
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
    this.candViaOnset = false;
    this.candGap = 0;
    this.segVoiced = 0;
    this.segUnsettled = false;
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
      this.sig.toInternal(this.near, pcm, h * hopIn, this.n8, this.hfHop);
      let farLive = false;
      if (farEnd) {
        // a far end of digital zero for more than FAR_SKIP hops is not processed
        let nz = 0;
        for (let i = h * hopIn; i < (h + 1) * hopIn; i++) nz |= farEnd[i];
        this.farSilent = nz ? 0 : this.farSilent + 1;
        if (this.farSilent === FAR_SKIP + 1) this.far.reset();
        farLive = this.farSilent <= FAR_SKIP;
        if (farLive) this.sig.toInternal(this.far, farEnd, h * hopIn, this.f8, this.farHfHop);
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
    out[VadOut.EchoDelayMs] = this.echo.delay() >= 0 ? this.echo.delay() * 10.0 : -1;
    out[VadOut.LastMs] = this.lastMs;
    return flags;
  }

  private hop(near8: Float64Array, far8: Float64Array | null, farGiven: boolean): number {
    let flags = 0;
    const near = this.near;
    this.sig.highpass(near, near8);
    this.sig.bands(near, near8);
    this.sig.lowband(near8);
    let lpE = 0;
    for (let j = 0; j < HOP / BLK; j++) {
      let s = 0;
      for (let i = 0; i < BLK / 2; i++) {
        const v = this.sig.p4[PITCH_HIST - HOP / 2 + (BLK / 2) * j + i];
        s += v * v;
      }
      this.lpBlk[this.lpPos] = s;
      this.lpPos = (this.lpPos + 1) % SUSTAIN_BLOCKS;
      lpE += s;
    }

    let hopE = 0;
    for (let j = 0; j < HOP / BLK; j++) {
      let s = 0;
      for (let i = 0; i < BLK; i++) s += near8[BLK * j + i] * near8[BLK * j + i];
      this.blk[this.blkPos] = s;
      this.blkPos = (this.blkPos + 1) % BLOCKS;
      hopE += s;
    }

    let hfE = 0;
    let hfPred = 0;
    for (let j = 0; j < HOP / BLK; j++) hfE += this.hfHop[j];
    let farActive = false;
    this.farQuiet = far8 ? 0 : this.farQuiet < ONSET_FAR_QUIET ? this.farQuiet + 1 : this.farQuiet;
    if (farGiven) {
      // a silent far end (digital zero for a while) has no bands: no FFT for it
      let farHf = 0;
      if (far8) {
        this.sig.highpass(this.far, far8);
        this.sig.bands(this.far, far8);
        for (let j = 0; j < HOP / BLK; j++) farHf += this.farHfHop[j];
      }
      farActive = this.echo.push(far8 ? this.far.band : null, farHf, hfE, this.farSilent === 0);
    } else {
      this.echo.absent();
    }
    const resid = this.resid;
    for (let b = 0; b < BANDS; b++) resid[b] = near.band[b];
    if (farActive) {
      flags |= VadFlag.FarEndActive;
      // the echo path is learnt while the near end is not talking (no double talk: in a
      // candidate or a segment a shadow fit learns instead, vadEcho.ts) and, once the
      // delay is known, only inside a talk spurt whose echo has had time to arrive: not
      // in its first delay + spread hops, nor once the far end is silent (an echo path
      // that pauses with the far end, a playout buffer, plays the tail of a spurt only
      // when the next one starts)
      if (this.echo.settled()) this.echo.learn(near.band, this.speaking || this.speechRun > 0);
      this.echo.subtract(resid);
      hfPred = this.echo.predictHf();
    }
    // 4-8 kHz block energies less the predicted echo (a fricative over the agent's
    // voice counts when the agent's own 4-8 kHz echo is small); zero at 8 kHz input.
    // The blocks (for sustain) less a fifth of the hop's prediction each, the hop's
    // energy (for the SNR) less all of it: its timing is known to a hop, not a block.
    for (let j = 0; j < HOP / BLK; j++) {
      const r = this.hfHop[j] - hfPred / (HOP / BLK);
      this.hfBlk[this.hfPos] = r > 0 ? r : 0;
      this.hfPos = (this.hfPos + 1) % SUSTAIN_BLOCKS;
    }
    const hfRes = hfE > hfPred ? hfE - hfPred : 0;

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
      // 4-8 kHz counts as HF_WEIGHT bands, less the agent's predicted echo
      if (this.hfFloor > 0) {
        const g = hfRes / this.hfFloor;
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
      // over an active far end the 4-8 kHz band joins as HF_WEIGHT more bands: a
      // fricative over the agent's voice may have nothing left below 4 kHz once the
      // echo is taken out. (Not otherwise: over music and babble it costs misses.)
      let lvl = rs / fs;
      if (farActive && this.decim > 1 && this.hfFloor > 0) lvl = (BANDS * lvl + HF_WEIGHT * (hfRes / this.hfFloor)) / (BANDS + HF_WEIGHT);
      fgDb = db10(1 + lvl) - this.bgDb;
    }
    const busy = clamp01((this.bgDb - BG_FREE) / BG_RAMP);
    const fgThr = busy * clampTo(FG_K * Math.sqrt(this.bgVar), FG_MIN, FG_MAX);
    // the narrow-band onset stage (vadOnset.ts): learns a quiet, far-end-free background;
    // after a start of its own that no speech hop has followed yet, moves to the level
    let stageFires = false;
    if (warm) {
      const nOn = this.decim > 1 ? BANDS + 1 : BANDS;
      const idle = this.farQuiet < ONSET_FAR_QUIET || (this.speaking && !(this.viaStage && this.segSpeech === 0));
      const mode = idle ? OnsetMode.Idle : this.speaking ? OnsetMode.Relearn : OnsetMode.Learn;
      // the band levels, when the stage reads them (not in a segment, nor near the far end)
      if (!idle) {
        for (let b = 0; b < BANDS; b++) this.onsetDb[b] = db10(Math.max(resid[b], ONSET_ABS * MIN_FLOOR_PER_BIN * (EDGES[b + 1] - EDGES[b])));
        if (this.decim > 1) this.onsetDb[BANDS] = db10(Math.max(hfRes, ONSET_ABS * 2 * HOP * 1e-9));
      }
      // over babble and music only the 4-8 kHz band's rise (their onsets, notes and the
      // crowd's syllables, are below 4 kHz; a word's unvoiced first consonant is above), on
      // a hop not quieter than the background by its foreground margin (a lull: clicks)
      const fires = this.onsetStage.hop(this.onsetDb, nOn, mode);
      stageFires = busy <= ONSET_BUSY ? (fires & ONSET_FIRES) !== 0 : (fires & ONSET_FIRES_HF) !== 0 && fgDb > -fgThr;
    }
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
    // the oldest sustained block of each (newest = 0), for a word's onset
    let oldLp = -1;
    let oldBb = -1;
    let oldHf = -1;
    for (let j = 0; j < SUSTAIN_BLOCKS; j++) {
      if (this.lpBlk[(this.lpPos - 1 - j + SUSTAIN_BLOCKS) % SUSTAIN_BLOCKS] > lpThr) {
        aboveLp++;
        oldLp = j;
      }
      if (this.blk[(this.blkPos - 1 - j + BLOCKS) % BLOCKS] > bbThr) {
        aboveBb++;
        oldBb = j;
      }
      if (this.decim > 1 && this.hfBlk[(this.hfPos - 1 - j + SUSTAIN_BLOCKS) % SUSTAIN_BLOCKS] > hfThr) {
        aboveHf++;
        oldHf = j;
      }
    }
    let above = aboveLp > aboveBb ? aboveLp : aboveBb;
    if (aboveHf > above) above = aboveHf;
    let sustain = above / SUSTAIN_BLOCKS;
    const since = (n: number, oldest: number): number => n / (oldest + 1 > ONSET_SPAN ? oldest + 1 : ONSET_SPAN);
    let sustainOn = since(aboveLp, oldLp);
    if (since(aboveBb, oldBb) > sustainOn) sustainOn = since(aboveBb, oldBb);
    if (since(aboveHf, oldHf) > sustainOn) sustainOn = since(aboveHf, oldHf);

    this.stationarity();
    this.statPrev2 = this.statPrev1;
    this.statPrev1 = this.statNow;
    this.statNow = this.statLong;
    this.statLong = (this.statNow + this.statPrev1 + this.statPrev2) / 3.0;
    const feat = this.features;
    feat.stat = this.statLong;
    feat.statShort = this.statShort;
    feat.peak = this.peak;
    const open = warm && snrDb > SNR_GATE && (sustain > SUSTAIN_GATE || sustainOn > SUSTAIN_GATE);
    const harm = open ? this.sig.periodicity() : 0;
    // a word's onset on a quiet stream, not in a segment, not in the stream's first
    // second, not in the echo window of a far-end talk spurt's start (vad.cpp)
    const bbAt = (j: number): number => this.blk[(this.blkPos - 1 - j + BLOCKS) % BLOCKS];
    const rise = Math.max(bbAt(0), bbAt(1), bbAt(2));
    // (or that block was reached by a climb, vad.cpp)
    const climbed = (): boolean => {
      let m = 0; // the oldest block within 1.5 dB of the loudest
      for (let j = 1; j < SUSTAIN_BLOCKS; j++) if (bbAt(j) * ONSET_CLIMB_TOP >= bbMax) m = j;
      const b1 = bbAt(m + 1);
      const b2 = bbAt(m + 2);
      return b2 < b1 && b1 * ONSET_CLIMB_TOP < bbMax && b2 * ONSET_CLIMB_RISE <= bbMax && b2 >= ONSET_CLIMB_FLOOR * bbFl;
    };
    const onsetHop = open && sustainOn > sustain && !this.speaking && this.bgHops >= BG_SETTLED && this.peak < START_PEAK &&
      (rise >= ONSET_RISE * bbMax || climbed()) && (!farActive || this.echo.spurtHops() > DELAYS);
    // the stage's start: rising over the last 40 ms (a click stays in the FFT window that
    // long after it has passed) and not a tone's first hops (as the onset rule's second hop)
    let stageStart = stageFires && this.peak < ONSET_PEAK;
    for (let j = 0; stageStart && j < ONSET_RISE_BLOCKS; j++) stageStart = rise >= ONSET_RISE * bbAt(j);
    const viaOnset = onsetHop && sustain <= SUSTAIN_GATE && sustainOn > SUSTAIN_GATE; // admitted by it alone
    if (onsetHop) sustain = sustainOn;
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
    // "ex|cuse" over an active far end, whose echo fills the 4-8 kHz band)
    const voicedFg = harm >= voicedHarm && score >= VOICED_SCORE && fgDb >= fgThr && this.peak < START_PEAK;
    if (warm) {
      const slot = (this.hop8 - 1) % BG_HIST;
      this.bgHistDb[slot] = this.bgDb;
      this.bgHistVar[slot] = this.bgVar;
      this.bgHistLvl[slot] = fgDb + this.bgDb;
      this.bgHistSpeech[slot] = isSpeech ? 1 : 0;
      this.bgHistHop[slot] = this.hop8 - 1;
      this.bgHops++;
      const fast = !this.speaking || (!isSpeech && fgDb < FG_LEARN) || (this.segUnsettled && harm < voicedHarm);
      const a = fast ? BG_FAST : BG_SLOW;
      this.bgDb += a * fgDb;
      this.bgVar += a * (fgDb * fgDb - this.bgVar);
    }
    this.fgRecentCount += (isFg ? 1 : 0) - this.fgRecent[this.fgRecentPos];
    this.fgRecent[this.fgRecentPos] = isFg ? 1 : 0;
    this.fgRecentPos = (this.fgRecentPos + 1) % FG_RECENT;
    this.recentCount += (isSpeech ? 1 : 0) - this.recent[this.recentPos];
    this.recent[this.recentPos] = isSpeech ? 1 : 0;
    this.recentPos = (this.recentPos + 1) % RECENT;
    // (in a segment the onset stage started, D's density counts from its first speech hop too)
    if ((!this.speaking && (isFg || stageStart) && this.speechRun === 0) || (this.speaking && this.viaStage && this.segSpeech === 0 && isFg)) {
      this.segHops = 0;
      this.segSpeech = 0;
      // the voiced hop just before the first speech hop belongs to the segment
      this.segVoiced = this.prevVoicedFg ? 1 : 0;
    }
    this.segHops++;
    if (isSpeech) this.segSpeech++;
    if (!this.speaking && stageStart) {
      // the onset stage starts a segment on its own (with a candidate's onset if one is open)
      if (this.speechRun === 0) this.candOnset = this.refineOnset(hopEnd);
      flags |= this.start(true);
    } else if (!this.speaking) {
      // (a hop admitted by the onset rule alone does not join a candidate across a gap)
      if (isFg && !(viaOnset && this.speechRun > 0 && this.candGap > 0)) {
        if (this.speechRun === 0) {
          this.candOnset = this.refineOnset(hopEnd);
          this.candViaOnset = viaOnset;
        }
        this.speechRun++;
        this.lastFgEnd = hopEnd;
        this.candGap = 0;
        if (voicedFg) this.segVoiced++;
        const startOk = !this.candViaOnset || this.speechRun > START_HOPS || this.peak < ONSET_PEAK || harm >= ONSET_HARM;
        if (this.speechRun >= START_HOPS && startOk) flags |= this.start(false);
      } else if (this.speechRun > 0 && (++this.candGap > CAND_GAP || (this.candViaOnset && this.speechRun === 1))) {
        // (a candidate begun by the onset rule alone needs the very next hop)
        this.speechRun = 0;
        this.segVoiced = 0;
        // not speech after all: its hops are learnt as the far end's echo
        this.echo.release(true);
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
        this.segUnsettled = false;
        this.end = silent ? this.lastSpeechEnd : this.lastFgEnd;
        this.lastMs = ((this.end - this.onset) * 1000.0) / cfg.sampleRate;
        flags |= VadFlag.SpeechEnd;
        this.echo.release(false); // kept only if the segment was the echo after all
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

  /** A segment starts (at the candidate's onset); returns its flag. */
  private start(viaStage: boolean): number {
    this.speaking = true;
    this.viaStage = viaStage;
    this.reachedFired = false;
    this.quietRun = 0;
    this.fgQuiet = 0;
    this.onset = this.candOnset;
    this.reached = -1;
    this.segUnsettled = this.bgHops < BG_OPENING;
    this.relearnSegmentStart();
    return VadFlag.SpeechStart;
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
