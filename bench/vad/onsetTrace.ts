/**
 * Analysis aid (not part of the bench run): the TS fallback's per-hop features around
 * one utterance's onset in a bench:vad speech session (10 ms hops, 0 = the hop holding
 * the label's first sample), to see which gate holds a late start back.
 *   npx vite-node bench/vad/onsetTrace.ts -- BACKGROUND SNR SECONDS [--from=-3 --to=20]
 */
import { speechSession, BACKGROUNDS, RATE, type Background } from './corpus';
import { VadFallback, VadFlag, VadOut } from '../../src/native/vadFallback';

const args = process.argv.slice(2);
const pos = args.filter((a) => !a.startsWith('--'));
const opt = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
const bg = pos[0] as Background;
const snr = pos[1] === 'clean' ? null : Number(pos[1]);
const at = Number(pos[2]);
const from = Number(opt('from') ?? -3);
const to = Number(opt('to') ?? 20);
const s = speechSession(BACKGROUNDS.indexOf(bg), bg, snr);
const u = s.utts.reduce((a, x) => (Math.abs(x.start / RATE - at) < Math.abs(a.start / RATE - at) ? x : a));
const HOPIN = RATE / 100;
const h0 = Math.floor(u.start / HOPIN);
console.log(`${s.name} "${u.text}" label at ${(u.start / RATE).toFixed(3)} s (hop ${h0} + ${u.start - h0 * HOPIN} samples)`);
const v = new VadFallback({ sampleRate: RATE, frameMs: 10, interruptMs: 200, hangoverMs: 200 });
const a = v as unknown as Record<string, unknown>;
const out = new Float64Array(VadOut.Count);
console.log('  hop   flags  score   snr  sus   harm  flux  stat  stSh  peak   fgDb  fgThr  bgDb   busy | 4-8k: dB-mean  sd  cusum');
for (let h = 0; h < h0 + to; h++) {
  const fl = v.process(s.pcm.subarray(h * HOPIN, (h + 1) * HOPIN), null, out);
  if (h < h0 + from) continue;
  const f = v.features;
  const busy = Math.min(1, Math.max(0, (f.bgDb - 4.5) / 2));
  const flags = `${fl & VadFlag.Speech ? 'S' : '.'}${fl & VadFlag.SpeechStart ? '^' : '.'}${(a.speechRun as number) > 0 ? 'c' : '.'}`;
  const n = (x: number, w = 6, d = 2) => x.toFixed(d).padStart(w);
  const st = a.onsetStage as unknown as Record<string, Float64Array>;
  const hf = (a.onsetDb as Float64Array)[16] - st.mean[16];
  let bz = 0, bb = -1, bc = 0;
  for (let b = 0; b < 17; b++) { const z = ((a.onsetDb as Float64Array)[b] - st.mean[b]) / Math.max(1, st.sd[b]); if (st.cus[b] > bc) { bc = st.cus[b]; bb = b; bz = z; } }
  console.log(`  ${String((h - h0) * 10).padStart(4)}  ${flags}  ${n(f.score)} ${n(f.snrDb, 5, 1)} ${n(f.sustain, 4)} ${n(f.harm)} ${n(f.flux, 5, 1)} ${n(f.stat, 5)} ${n(f.statShort, 5)} ${n(f.peak, 5)} ${n(f.fgDb, 6, 1)} ${n(f.fgThr, 6, 1)} ${n(f.bgDb, 5, 1)} ${n(busy, 5)} | ${n(hf, 6, 1)} ${n(st.sd[16], 4, 1)} ${n(st.cus[16], 5, 1)} | top cusum ${n(bc, 4, 1)} band ${bb} z ${n(bz, 4, 1)}`);
}
