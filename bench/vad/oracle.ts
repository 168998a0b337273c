/**
 * Analysis aid (not part of the bench run): how early could any detector know?
 * For each utterance of bench:vad's speech sessions, the first 10 ms frame in
 * which the utterance's own clean speech stands out of the noise in at least
 * one band (speech energy >= noise energy + `--db`, 3 dB unless told, in one of
 * 16 bands from 100 Hz to 7.6 kHz, 16 ms windows). The speech and the noise are
 * known apart: the clean session (same plan, same gains) is the speech, the
 * noisy one minus it the noise. Onset latency is measured from the label (the
 * first sample above -40 dB of the utterance's peak), so this "audible" time is
 * a floor under every detector's onset latency: before it, the words are under
 * the noise in every band. Also the first frame where it stands out summed over
 * all bands (what a broadband energy detector could see). Printed per SNR and
 * background, next to ours (native addon, 20 ms frames) on the same utterances.
 *   npx vite-node bench/vad/oracle.ts [-- --db=3 --snr=10]
 */
import { speechSession, BACKGROUNDS, SNRS, RATE, type Background } from './corpus';
import { percentile } from './metrics';
import { createVad, VadFlag } from '../../src/native/vad';

const args = process.argv.slice(2);
const MARGIN_DB = Number(args.find((a) => a.startsWith('--db='))?.slice(5) ?? 3);
const ONLY_SNR = args.find((a) => a.startsWith('--snr='));
const snrs = ONLY_SNR ? [Number(ONLY_SNR.slice(6))] : SNRS;

const N = 256; // 16 ms at 16 kHz
const HOP = RATE / 100;
const TOL = (150 * RATE) / 1000; // bench:vad's miss tolerance after the span

// band edges in FFT bins (62.5 Hz each): roughly ERB-spaced from 100 Hz to 7.6 kHz
const EDGES = [2, 4, 6, 8, 11, 14, 18, 22, 27, 33, 40, 48, 58, 70, 85, 103, 122];
const win = Float64Array.from({ length: N }, (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (n + 0.5)) / N));

function fftPow(x: Float64Array): Float64Array {
  // in-place radix-2 complex FFT of the real input; returns |X[k]|^2, k < N/2
  const re = Float64Array.from(x);
  const im = new Float64Array(N);
  for (let i = 1, j = 0; i < N; i++) {
    let bit = N >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
    }
  }
  for (let size = 2; size <= N; size *= 2) {
    const half = size / 2;
    for (let s = 0; s < N; s += size)
      for (let k = 0; k < half; k++) {
        const a = (-2 * Math.PI * k) / size;
        const wr = Math.cos(a), wi = Math.sin(a);
        const p = s + k, q = p + half;
        const tr = wr * re[q] - wi * im[q], ti = wr * im[q] + wi * re[q];
        re[q] = re[p] - tr;
        im[q] = im[p] - ti;
        re[p] += tr;
        im[p] += ti;
      }
  }
  const out = new Float64Array(N / 2);
  for (let k = 0; k < N / 2; k++) out[k] = re[k] * re[k] + im[k] * im[k];
  return out;
}

function bandsAt(x: Int16Array, end: number): Float64Array {
  const seg = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const i = end - N + n;
    seg[n] = i >= 0 && i < x.length ? x[i] * win[n] : 0;
  }
  const p = fftPow(seg);
  const b = new Float64Array(EDGES.length - 1);
  for (let j = 0; j + 1 < EDGES.length; j++) for (let k = EDGES[j]; k < EDGES[j + 1]; k++) b[j] += p[k];
  return b;
}

const margin = 10 ** (MARGIN_DB / 10);
const rows: string[] = [];
const pooled = new Map<number, { bb: number[]; audible: number[]; ours: number[]; after: number[]; never: number }>();
for (const snr of snrs) {
  const pool = { bb: [] as number[], audible: [] as number[], ours: [] as number[], after: [] as number[], never: 0 };
  pooled.set(snr, pool);
  for (const [k, bg] of BACKGROUNDS.entries()) {
    const clean = speechSession(k, 'clean', null).pcm;
    const s = speechSession(k, bg as Background, snr);
    const noise = new Int16Array(s.pcm.length);
    for (let i = 0; i < noise.length; i++) noise[i] = s.pcm[i] - clean[i];
    // ours on the noisy session: the speech starts (end of the deciding frame)
    const vad = createVad({ sampleRate: RATE, frameMs: 20, interruptSpeechDurationMs: 200 });
    const starts: number[] = [];
    for (let i = 0; i + 2 * HOP <= s.pcm.length; i += 2 * HOP) if (vad.process(s.pcm.subarray(i, i + 2 * HOP), null) & VadFlag.SpeechStart) starts.push(i + 2 * HOP);
    const aud: number[] = [];
    const bb: number[] = [];
    const ours: number[] = [];
    const after: number[] = [];
    let never = 0;
    for (const u of s.utts) {
      // first frame end (10 ms grid) from the label on where the speech stands out
      let found = -1;
      let foundBb = -1;
      for (let end = Math.ceil(u.start / HOP) * HOP + HOP; end <= u.end + TOL && foundBb < 0; end += HOP) {
        const sb = bandsAt(clean, end);
        const nb = bandsAt(noise, end);
        let ss = 0;
        let ns = 0;
        for (let j = 0; j < sb.length; j++) {
          if (found < 0 && sb[j] >= margin * nb[j] && sb[j] > 0) found = end;
          ss += sb[j];
          ns += nb[j];
        }
        if (ss >= margin * ns && ss > 0) foundBb = end;
      }
      if (foundBb >= 0) bb.push(((foundBb - u.start) * 1000) / RATE);
      const hit = starts.find((x) => x >= u.start && x <= u.end + TOL);
      if (found < 0) never++;
      else aud.push(((found - u.start) * 1000) / RATE);
      if (hit !== undefined) {
        ours.push(((hit - u.start) * 1000) / RATE);
        if (found >= 0) after.push(((hit - found) * 1000) / RATE);
      }
    }
    pool.audible.push(...aud);
    pool.bb.push(...bb);
    pool.ours.push(...ours);
    pool.after.push(...after);
    pool.never += never;
    const f = (xs: number[]): string => `${Math.round(percentile(xs, 50))} / ${Math.round(percentile(xs, 95))}`;
    rows.push(`| ${snr} dB | ${bg} | ${f(aud)}${never ? ` (${never} never)` : ''} | ${f(bb)} | ${f(ours)} | ${f(after)} |`);
  }
}
console.log(`Audible = first 10 ms frame where the utterance's speech is >= ${MARGIN_DB} dB over the noise in one of 16 bands (ms after the label; p50 / p95).`);
console.log(`Broadband = first frame where it is >= ${MARGIN_DB} dB over the noise summed over 100 Hz-7.6 kHz.`);
console.log('| SNR | background | audible in a band p50 / p95 | broadband p50 / p95 | ours onset p50 / p95 | ours after audible-in-a-band p50 / p95 |');
console.log('|---|---|---|---|---|---|');
for (const [snr, p] of pooled) {
  const f = (xs: number[]): string => `${Math.round(percentile(xs, 50))} / ${Math.round(percentile(xs, 95))}`;
  console.log(`| ${snr} dB | **pooled** | ${f(p.audible)}${p.never ? ` (${p.never} never)` : ''} | ${f(p.bb)} | ${f(p.ours)} | ${f(p.after)} |`);
}
for (const r of rows) console.log(r);
