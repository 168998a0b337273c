/**
 * The VAD's signal path, the TS side of native/src/vad_signal.{h,cpp} (there in float
 * with 4-lane vectors, here in double): PCM16 at 8, 16 or 48 kHz to 10 ms hops at
 * 8 kHz (FIR decimation), the 100 Hz high-pass, the 1 kHz low-pass kept at 4 kHz, a
 * real 256-point FFT into 16 band energies, and the periodicity of the low band.
 * Fixed-size typed arrays; nothing is allocated per hop.
 */
const PI = 3.141592653589793;
/** Band edges in FFT bins (31.25 Hz each at 8 kHz / 256): ~94 Hz .. 3.7 kHz, Bark-like. */
export const EDGES = [3, 6, 10, 13, 16, 20, 25, 29, 35, 41, 47, 55, 64, 74, 86, 101, 118];
export const HOP = 80; // 10 ms at 8 kHz
export const FFT = 256;
export const N2 = 128;
export const BINS = N2 + 1;
export const BLK = 16; // samples per energy block (2 ms)
export const PITCH_HIST = 152; // 4 kHz samples kept for periodicity
/** Band energies per hop (EDGES.length - 1). */
export const BANDS = 16;
const RES = PITCH_HIST - 4;
const PITCH_WIN = 80; // 20 ms correlation window
const LAG_MIN = 10; // 400 Hz
const LAG_MAX = 67; // 60 Hz
const FIR1 = 23; // 48k -> 16k
const FIR2 = 31; // 16k -> 8k

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

/** One signal path: the near end or the far end. */
export class Channel {
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

export class SignalPath {
  /** Input samples per internal (8 kHz) sample. */
  readonly decim: number;
  /** Group delay of the decimation filters, in input samples. */
  readonly groupDelay: number;
  /** The low band at 4 kHz, PITCH_HIST samples, newest last. */
  readonly p4 = new Float64Array(PITCH_HIST);
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
  private lpX1 = 0;
  private lpX2 = 0;
  private lpY1 = 0;
  private lpY2 = 0;
  private readonly res = new Float64Array(RES);
  private readonly cum = new Float64Array(RES + 1);
  private readonly re = new Float64Array(N2);
  private readonly im = new Float64Array(N2);
  private readonly lpc = new Float64Array(5);
  private readonly lpcTmp = new Float64Array(5);
  private readonly r = new Float64Array(5);

  /** sampleRate: 8000, 16000 or 48000. */
  constructor(sampleRate: number) {
    this.decim = sampleRate / 8000;
    this.groupDelay = sampleRate === 8000 ? 0 : sampleRate === 16000 ? 14 : 51;
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
  }

  /** The low band's filter and history. */
  reset(): void {
    this.lpX1 = this.lpX2 = this.lpY1 = this.lpY2 = 0;
    this.p4.fill(0);
  }

  toInternal(ch: Channel, pcm: Int16Array, off: number, out8: Float64Array, hfOut: Float64Array | null): void {
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

  highpass(ch: Channel, x: Float64Array): void {
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

  bands(ch: Channel, x: Float64Array): void {
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

  lowband(x8: Float64Array): void {
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

  periodicity(): number {
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
}
