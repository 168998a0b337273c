/**
 * Analysis aid (how the onset stage, native/src/vad_onset.h, was chosen): the per-hop
 * band levels of the TS fallback on bench:vad's speech sessions and noise-only clips, and
 * an offline simulation of a per-band CUSUM rule over a learnt noise level, replayed
 * next to ours' own starts: onset p50/p95 per SNR (and background) with the rule's
 * earlier fires taken, and its false fires per minute in the sessions' gaps and on the
 * noise-only clips. The simulation is a sketch of the stage (no far end, no click or
 * tone guards on the 40 ms blocks, no density rule), not the stage itself.
 *   npx vite-node bench/vad/onsetScan.ts [-- --snr=10 --bybg --info --busy=0.5 --trace --late]
 */
import { noiseOnlyClips, speechSessions, RATE, type SpeechSession } from './corpus';
import { VadFallback, VadFlag, VadOut } from '../../src/native/vadFallback';
import { BANDS, HOP } from '../../src/native/vadSignal';
import { percentile } from './metrics';

const args = process.argv.slice(2);
const ONLY_SNR = args.find((a) => a.startsWith('--snr='));
const TRACE = args.includes('--trace');
const BYBG = args.includes('--bybg');
const MAXBUSY = Number(args.find((a) => a.startsWith("--busy="))?.slice(7) ?? 0.5);
const INFO = args.includes('--info') || args.includes('--infoband');
// --busybands=16,15: over a busier background than --busy, only these bands may fire
const BUSY_BANDS = args.find((a) => a.startsWith('--busybands='))?.slice(12).split(',').map(Number);
// --busysd=3: over a busier background than --busy, only bands whose learnt spread is at most this (dB) may fire
const BUSY_SD = Number(args.find((a) => a.startsWith('--busysd='))?.slice(9) ?? NaN);
// --busyh=4: the CUSUM that fires over a busier background than --busy (default: as elsewhere)
const BUSY_H = Number(args.find((a) => a.startsWith('--busyh='))?.slice(8) ?? NaN);
// --pairs: also a CUSUM per pair of neighbouring bands on (z_b + z_b+1) / sqrt 2 (a fricative spans several bands)
const PAIRS = args.includes('--pairs');
const INFO_BAND = args.includes('--infoband'); // histogram of the firing band, not of the risen count
const hists = new Map<string, number[]>();
function hist(key: string, info: string): void {
  const n = Number(info.split(' ')[INFO_BAND ? 3 : 1]);
  if (!hists.has(key)) hists.set(key, new Array(NB + 1).fill(0));
  hists.get(key)![n]++;
}
const NB = BANDS + 1; // + 4-8 kHz
const HOPIN = HOP * 2; // 16 kHz input samples per hop

export interface HopData {
  n: number;
  db: Float32Array; // n * NB: 10 log10 of band energy
  fl: Float32Array; // n * NB: 10 log10 of the band floor
  speaking: Uint8Array;
  start: Uint8Array; // ours' start in this hop
  busy: Float32Array;
  score: Float32Array;
  harm: Float32Array;
  peak: Float32Array;
  riseOk: Uint8Array;
}

function dump(pcm: Int16Array): HopData {
  const v = new VadFallback({ sampleRate: RATE, frameMs: 10, interruptMs: 200, hangoverMs: 200 });
  const a = v as unknown as Record<string, unknown>;
  const n = Math.floor(pcm.length / HOPIN);
  const d: HopData = {
    n,
    db: new Float32Array(n * NB),
    fl: new Float32Array(n * NB),
    speaking: new Uint8Array(n),
    start: new Uint8Array(n),
    busy: new Float32Array(n),
    score: new Float32Array(n),
    harm: new Float32Array(n),
    peak: new Float32Array(n),
    riseOk: new Uint8Array(n),
  };
  const out = new Float64Array(VadOut.Count);
  for (let h = 0; h < n; h++) {
    const f = v.process(pcm.subarray(h * HOPIN, (h + 1) * HOPIN), null, out);
    const resid = a.resid as Float64Array;
    const floor = a.floor as Float64Array;
    const hfHop = a.hfHop as Float64Array;
    let hf = 0;
    for (const x of hfHop) hf += x;
    for (let b = 0; b < BANDS; b++) {
      d.db[h * NB + b] = 10 * Math.log10(resid[b] + 1e-12);
      d.fl[h * NB + b] = 10 * Math.log10(floor[b] + 1e-12);
    }
    d.db[h * NB + BANDS] = 10 * Math.log10(hf + 1e-12);
    d.fl[h * NB + BANDS] = 10 * Math.log10((a.hfFloor as number) + 1e-12);
    d.speaking[h] = f & VadFlag.Speech ? 1 : 0;
    d.start[h] = f & VadFlag.SpeechStart ? 1 : 0;
    const feat = v.features;
    d.busy[h] = Math.min(1, Math.max(0, (feat.bgDb - 4.5) / 2));
    d.score[h] = feat.score;
    d.harm[h] = feat.harm;
    d.peak[h] = feat.peak;
    const blk = a.blk as Float64Array;
    const pos = a.blkPos as number;
    const at = (j: number) => blk[(pos - 1 - j + 64) % 64];
    let mx = 0;
    for (let j = 0; j < 15; j++) mx = Math.max(mx, at(j));
    d.riseOk[h] = Math.max(at(0), at(1), at(2)) >= 0.25 * mx ? 1 : 0;
  }
  return d;
}

export interface RuleParams {
  zThr: number; // per-band z to count
  k: number; // CUSUM drift
  h: number; // CUSUM threshold
  alpha: number; // noise learning rate
  sdMin: number;
  maxBusy: number;
  zMax: number;
  nUpMax: number;
  peakMax: number;
  relearn: number;
  zNow: number;
}

/** Offline: hops where the rule fires while ours is not in a segment (a simulated start). */
export const fireInfo = new Map<number, string>();
export function simulate(d: HopData, p: RuleParams): number[] {
  fireInfo.clear();
  const zs = new Float64Array(NB);
  const mean = new Float64Array(NB);
  const vr = new Float64Array(NB);
  const cus = new Float64Array(NB);
  const pcus = new Float64Array(NB - 1);
  let learnt = 0;
  let hold = 0;
  let sawSpeech = false;
  const fires: number[] = [];
  for (let h = 0; h < d.n; h++) {
    let best = 0;
    const quiet = !d.speaking[h] && hold === 0;
    const busyNow = d.busy[h] > p.maxBusy;
    const may = (b: number) => !busyNow || (BUSY_BANDS !== undefined && BUSY_BANDS.includes(b)) || Math.max(p.sdMin, Math.sqrt(vr[b])) <= BUSY_SD;
    for (let b = 0; b < NB; b++) {
      const x = d.db[h * NB + b];
      if (h < 5) {
        mean[b] = x;
        vr[b] = 4;
        continue;
      }
      const sd = Math.max(p.sdMin, Math.sqrt(vr[b]));
      const z = (x - mean[b]) / sd;
      zs[b] = z;
      const zc = Math.min(z, p.zMax);
      cus[b] = d.speaking[h] ? 0 : Math.max(0, cus[b] + zc - p.k);
      if (cus[b] > best && may(b)) best = cus[b];
      if (quiet) {
        const e = Math.min(x - mean[b], p.zThr * sd);
        mean[b] += p.alpha * e;
        vr[b] += p.alpha * (e * e - vr[b]);
      }
    }
    if (quiet && h >= 5) learnt++;
    if (hold > 0) {
      if (d.score[h] >= 0.5) sawSpeech = true;
      if (!sawSpeech) for (let b = 0; b < NB; b++) mean[b] += p.relearn * (d.db[h * NB + b] - mean[b]);
      hold--;
    }
    let nUp = 0;
    for (let b = 0; b < NB; b++) if (zs[b] > 2) nUp++;
    let bestNow = 0;
    const hNow = busyNow && BUSY_H >= 0 ? BUSY_H : p.h;
    for (let b = 0; b < NB; b++) if (cus[b] > hNow && zs[b] > bestNow && may(b)) bestNow = zs[b];
    if (PAIRS && h >= 5 && !busyNow) {
      for (let b = 0; b + 1 < NB; b++) {
        const z = (zs[b] + zs[b + 1]) / Math.SQRT2;
        pcus[b] = d.speaking[h] ? 0 : Math.max(0, pcus[b] + Math.min(z, p.zMax) - p.k);
        if (pcus[b] > best) best = pcus[b];
        if (pcus[b] > hNow && z > bestNow) bestNow = z;
      }
    }
    if (learnt > 100 && !d.speaking[h] && hold === 0 && best > hNow && bestNow >= p.zNow && (!busyNow || BUSY_BANDS !== undefined || BUSY_SD >= 0) && nUp <= p.nUpMax && d.riseOk[h] && d.peak[h] < p.peakMax) {
      sawSpeech = false;
      fires.push(h);
      let arg = 0;
      for (let b = 0; b < NB; b++) if (may(b) && cus[b] > cus[arg]) arg = b;
      fireInfo.set(h, `nUp ${nUp} band ${arg}`);
      hold = 30;
      cus.fill(0);
      pcus.fill(0);
    }
  }
  return fires;
}

function frameEnd(h: number): number {
  // 20 ms frames: the hop's frame ends with hop h | 1
  return ((h | 1) + 1) * HOPIN;
}

function run(): void {
  let sessions: SpeechSession[] = speechSessions().filter((s) => s.snrDb !== null && s.snrDb >= 5);
  if (ONLY_SNR) sessions = sessions.filter((s) => s.snrDb === Number(ONLY_SNR.slice(6)));
  const data = sessions.map((s) => ({ s, d: dump(s.pcm) }));
  const noise = noiseOnlyClips().map((c) => ({ c, d: dump(c.pcm) }));
  const tol = (150 * RATE) / 1000;
  const grid: RuleParams[] = [];
  for (const k of [1]) for (const h of [6]) for (const sdMin of [1]) for (const zMax of [4]) for (const nUpMax of [10]) for (const relearn of [1 / 8]) for (const zNow of [2]) grid.push({ zThr: 3, k, h, alpha: 1 / 64, sdMin, maxBusy: MAXBUSY, zMax, nUpMax, peakMax: 0.8, relearn, zNow });
  for (const p of grid) {
    const lat: Record<string, number[]> = {};
    const base: Record<string, number[]> = {};
    let fsSpeech = 0;
    const gapBy: Record<string, number> = {};
    let gapMin = 0;
    for (const { s, d } of data) {
      const fires = simulate(d, p);
      if (INFO) for (const hh of fires) { const x = frameEnd(hh); const u = s.utts.find((u) => x >= u.start && x <= u.end + tol); if (u) hist('true ' + s.background, fireInfo.get(hh)!); }
      const key = `${s.snrDb}${BYBG ? s.background : ''}`;
      lat[key] ??= [];
      base[key] ??= [];
      const oursStarts: number[] = [];
      for (let h = 0; h < d.n; h++) if (d.start[h]) oursStarts.push(frameEnd(h));
      const firesAt = fires.map(frameEnd);
      for (const u of s.utts) {
        const o = oursStarts.find((x) => x >= u.start && x <= u.end + tol);
        const f = firesAt.find((x) => x >= u.start && x <= u.end + tol);
        const best = o === undefined ? f : f === undefined ? o : Math.min(o, f);
        if (o !== undefined) base[key].push(((o - u.start) * 1000) / RATE);
        if (best !== undefined) lat[key].push(((best - u.start) * 1000) / RATE);
      }
      for (const x of firesAt) if (!s.utts.some((u) => x >= u.start && x <= u.end + tol)) {
          fsSpeech++;
          gapBy[s.background] = (gapBy[s.background] ?? 0) + 1;
          if (TRACE) {
            const near = s.utts.reduce((a, u) => (Math.abs(u.start - x) < Math.abs(a.start - x) ? u : a));
            const nearEnd = s.utts.reduce((a, u) => (Math.abs(u.end - x) < Math.abs(a.end - x) ? u : a));
            console.log(`  gap fire ${s.name} at ${(x / RATE).toFixed(2)} s: ${((x - near.start) / 16).toFixed(0)} ms from a start, ${((x - nearEnd.end) / 16).toFixed(0)} ms from an end`);
          }
        }
      let inWin = 0;
      for (const u of s.utts) inWin += u.end + tol - u.start;
      gapMin += (s.pcm.length - inWin) / RATE / 60;
    }
    let fn = 0;
    let nmin = 0;
    const perClip: string[] = [];
    for (const { c, d } of noise) {
      const ff = simulate(d, p);
      if (INFO) for (const hh of ff) hist('false ' + c.name.slice(0, 12), fireInfo.get(hh)!);
      const f = ff.length;
      fn += f;
      nmin += c.pcm.length / RATE / 60;
      if (f) perClip.push(`${c.name.split(' ')[0]}:${f}`);
    }
    const f = (xs: number[]) => `${Math.round(percentile(xs, 50))}/${Math.round(percentile(xs, 95))}`;
    const rows = Object.keys(lat).map((k) => `${k}dB ${f(base[k])} -> ${f(lat[k])}`).join('  ');
    console.log(`k=${p.k} h=${p.h} sdMin=${p.sdMin} zMax=${p.zMax} nUpMax=${p.nUpMax} relearn=${p.relearn} zNow=${p.zNow}: ${rows}  false in gaps ${(fsSpeech / gapMin).toFixed(2)}/min, noise-only ${(fn / nmin).toFixed(2)}/min ${perClip.join(' ')} gaps ${JSON.stringify(gapBy)}`);
  }
  for (const [k, v] of hists) console.log(k.padEnd(20), v.join(' '));
  if (TRACE && args.includes('--late')) {
    // hop-by-hop z of the late utterances (ours > 60 ms) at the first SNR
    for (const { s, d } of data.slice(0, 6)) {
      for (const u of s.utts) {
        const h0 = Math.floor(u.start / HOPIN);
        let hs = h0;
        while (hs < d.n && !d.start[hs]) hs++;
        if ((frameEnd(hs) - u.start) / 16 < 60) continue;
        console.log(`${s.name} "${u.text}" ours ${((frameEnd(hs) - u.start) / 16).toFixed(0)} ms`);
        for (let h = h0 - 2; h <= hs; h++) {
          const row: string[] = [];
          for (let b = 0; b < NB; b++) row.push((d.db[h * NB + b] - d.fl[h * NB + b]).toFixed(0).padStart(3));
          console.log(`  ${((h - h0) * 10).toString().padStart(4)} ${row.join('')}  sc ${d.score[h].toFixed(2)} hm ${d.harm[h].toFixed(2)}`);
        }
      }
    }
  }
}

run();
