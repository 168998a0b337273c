/**
 * Streaming polyphase resampler for PCM16 mono (Kaiser-windowed sinc).
 *
 * The rate ratio is reduced to L/M (out/in); output sample n sits at input time
 * n·M/L, computed from the 2·half input samples around it with the filter phase
 * (n·M mod L). One table of L phases is built per rate pair and shared.
 *
 * Stateful across chunks: the history of input samples is carried over, so the
 * concatenated output of any chunking is identical to the one-shot output (no
 * clicks at chunk boundaries). The output is time-aligned with the input (the
 * stream starts as if preceded by silence); the last `half` input samples of
 * output are produced by `flush()` at the end of the stream.
 */
import { InvalidParameterError } from '../errors';

export interface ResamplerOptions {
  /** Zero crossings of the sinc on each side (quality/cost; default 16). */
  zeroCrossings?: number;
  /** Passband edge as a fraction of the lower Nyquist frequency (default 0.9). */
  rolloff?: number;
}

interface Filter {
  L: number;
  M: number;
  half: number;
  taps: number;
  table: Float32Array;
}

const MAX_PHASES = 4096;
const KAISER_BETA = 8.6;
const filters = new Map<string, Filter>();

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function buildFilter(inRate: number, outRate: number, zc: number, rolloff: number): Filter {
  const key = `${inRate}:${outRate}:${zc}:${rolloff}`;
  const cached = filters.get(key);
  if (cached) return cached;
  const g = gcd(inRate, outRate);
  const L = outRate / g;
  const M = inRate / g;
  if (L > MAX_PHASES) {
    throw new InvalidParameterError('InvalidParameter.SampleRate', `unsupported rate pair ${inRate} -> ${outRate} Hz`);
  }
  // Cutoff in cycles per input sample ×2 (1 = input Nyquist).
  const fc = rolloff * Math.min(1, L / M);
  const half = Math.ceil(zc / fc);
  const taps = 2 * half;
  const table = new Float32Array(L * taps);
  const i0beta = besselI0(KAISER_BETA);
  for (let p = 0; p < L; p++) {
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const d = k - half + 1 - p / L; // input offset minus output time, in input samples
      const x = d / half;
      const w = Math.abs(x) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - x * x)) / i0beta;
      const t = Math.PI * fc * d;
      const s = d === 0 ? 1 : Math.sin(t) / t;
      const h = fc * s * w;
      table[p * taps + k] = h;
      sum += h;
    }
    // Unity DC gain for every phase.
    for (let k = 0; k < taps; k++) table[p * taps + k]! /= sum;
  }
  const f = { L, M, half, taps, table };
  filters.set(key, f);
  return f;
}

export class StreamResampler {
  readonly inRate: number;
  readonly outRate: number;
  private readonly f: Filter | null;
  /** Input history (float), hist[0] is absolute input index histStart. */
  private hist = new Float32Array(0);
  private histLen = 0;
  private histStart = 0;
  /** Position of the next output: input index `base` + `phase`/L. */
  private base = 0;
  private phase = 0;
  private inCount = 0;
  private outCount = 0;

  constructor(inRate: number, outRate: number, options: ResamplerOptions = {}) {
    for (const [name, r] of [
      ['input', inRate],
      ['output', outRate],
    ] as const) {
      if (!Number.isInteger(r) || r < 1000 || r > 192000) {
        throw new InvalidParameterError('InvalidParameter.SampleRate', `bad ${name} sample rate ${r}`);
      }
    }
    this.inRate = inRate;
    this.outRate = outRate;
    this.f = inRate === outRate ? null : buildFilter(inRate, outRate, options.zeroCrossings ?? 16, options.rolloff ?? 0.9);
    this.reset();
  }

  /** Input samples of delay before an output sample can be computed. */
  get latencySamples(): number {
    return this.f ? this.f.half : 0;
  }

  /** Back to the start of a new stream. */
  reset(): void {
    const half = this.f?.half ?? 0;
    this.hist = new Float32Array(Math.max(1024, half * 4));
    this.histLen = half; // `half` samples of silence before the stream
    this.histStart = -half;
    this.base = 0;
    this.phase = 0;
    this.inCount = 0;
    this.outCount = 0;
  }

  /** Resamples the next chunk; returns the output samples it completed (possibly none). */
  push(input: Int16Array): Int16Array {
    if (!this.f) return input.slice();
    this.append(input);
    this.inCount += input.length;
    return this.produce(Infinity);
  }

  /** End of the stream: returns the remaining output, then resets. */
  flush(): Int16Array {
    if (!this.f) return new Int16Array(0);
    const expected = Math.ceil((this.inCount * this.f.L) / this.f.M);
    this.append(new Int16Array(this.f.half + 1));
    const out = this.produce(expected - this.outCount);
    this.reset();
    return out;
  }

  private append(input: Int16Array): void {
    const need = this.histLen + input.length;
    if (need > this.hist.length) {
      const grown = new Float32Array(Math.max(need, this.hist.length * 2));
      grown.set(this.hist.subarray(0, this.histLen));
      this.hist = grown;
    }
    const h = this.hist;
    let o = this.histLen;
    for (let i = 0; i < input.length; i++) h[o++] = input[i]!;
    this.histLen = o;
  }

  private produce(limit: number): Int16Array {
    const f = this.f!;
    const { L, M, half, taps, table } = f;
    const h = this.hist;
    const available = this.histStart + this.histLen; // absolute index past the last sample
    // Output count possible: base + half < available.
    let n = 0;
    {
      let b = this.base;
      let p = this.phase;
      while (b + half < available && n < limit) {
        n++;
        p += M;
        b += Math.floor(p / L);
        p %= L;
      }
    }
    const out = new Int16Array(n);
    let b = this.base;
    let p = this.phase;
    for (let i = 0; i < n; i++) {
      const start = b - half + 1 - this.histStart;
      const t0 = p * taps;
      let acc = 0;
      for (let k = 0; k < taps; k++) acc += h[start + k]! * table[t0 + k]!;
      const v = Math.round(acc);
      out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      p += M;
      b += Math.floor(p / L);
      p %= L;
    }
    this.base = b;
    this.phase = p;
    this.outCount += n;
    // Drop history no output will need again.
    const keepFrom = b - half + 1 - this.histStart;
    if (keepFrom > 0) {
      const drop = Math.min(keepFrom, this.histLen);
      h.copyWithin(0, drop, this.histLen);
      this.histLen -= drop;
      this.histStart += drop;
    }
    return out;
  }
}

/** One-shot resampling of a whole buffer. */
export function resample(input: Int16Array, inRate: number, outRate: number): Int16Array {
  if (inRate === outRate) return input.slice();
  const r = new StreamResampler(inRate, outRate);
  const a = r.push(input);
  const b = r.flush();
  const out = new Int16Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
