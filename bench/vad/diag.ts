/**
 * Tuning aid (not part of the bench run): per-hop features of the TS fallback on a
 * noise-only clip or a speech session, summarized for the hops scored as speech.
 *   npx vite-node bench/vad/diag.ts -- noise 6        # noise-only clip #6
 *   npx vite-node bench/vad/diag.ts -- session music 10 4
 */
import { noiseOnlyClips, speechSession, RATE, type Background } from './corpus';
import { VadFallback, VadFlag } from '../../src/native/vadFallback';

const [kind, a, b, c] = process.argv.slice(2);
let pcm: Int16Array;
let speech: Uint8Array | null = null;
if (kind === 'noise') {
  const clip = noiseOnlyClips()[Number(a)];
  console.log(clip.name);
  pcm = clip.pcm;
} else {
  const s = speechSession(Number(c ?? 0), a as Background, b === 'clean' ? null : Number(b));
  console.log(s.name);
  pcm = s.pcm;
  speech = s.frameSpeech;
}
const v = new VadFallback({ sampleRate: RATE, frameMs: 10, interruptMs: 200, hangoverMs: 200 });
const out = new Float64Array(9);
const rows: number[][] = [];
let starts = 0;
let reached = 0;
for (let i = 0, k = 0; i + 160 <= pcm.length; i += 160, k++) {
  const fl = v.process(pcm.subarray(i, i + 160), null, out);
  if (fl & VadFlag.SpeechStart) starts++;
  if (fl & VadFlag.DurationReached) reached++;
  const f = v.features;
  const lab = speech ? speech[k] : 0;
  rows.push([lab, f.score, f.snrDb, f.sustain, f.harm, f.flux, f.stat, f.statShort, f.peak, fl & VadFlag.Speech ? 1 : 0]);
}
const names = ['lab', 'score', 'snrDb', 'sustain', 'harm', 'flux', 'stat', 'statShort', 'peak', 'inSeg'];
const q = (xs: number[], p: number) => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(p * (s.length - 1))] ?? NaN; };
for (const lab of speech ? [1, 0] : [0]) {
  const sel = rows.filter((r) => r[0] === lab && r[1] >= 0.5);
  const all = rows.filter((r) => r[0] === lab);
  console.log(`label ${lab}: ${all.length} hops, ${sel.length} scored speech, ${all.filter((r) => r[9]).length} in segment`);
  for (let j = 1; j < names.length - 1; j++) console.log(`  ${names[j].padEnd(9)} speech-scored p10/50/90 ${[0.1, 0.5, 0.9].map((p) => q(sel.map((r) => r[j]), p).toFixed(2)).join(' / ')}   all ${[0.1, 0.5, 0.9].map((p) => q(all.map((r) => r[j]), p).toFixed(2)).join(' / ')}`);
}
console.log(`starts ${starts}, reached ${reached}`);
