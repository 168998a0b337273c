/**
 * Tuning aid (not part of the bench run): how late "D reached" fires on clean
 * barge-in sentences (the bench:bargein users: espeak-ng over -60 dBFS pink room
 * noise) while the agent is speaking (far end active, no echo in the user's audio).
 * Delay = end of the frame that fired DurationReached - (the VAD's onset + D), the
 * live bench's "decision delay" (20 ms frames at 16 kHz).
 *   npx vite-node bench/vad/dconfirm.ts                 # distribution, native if built
 *   npx vite-node bench/vad/dconfirm.ts -- --ts --why   # TS fallback, per-hop trace of the late ones
 */
import { speak, noise, prng } from '../../test/helpers/clips';
import { createVad, VadFlag, nativeVadAvailable } from '../../src/native/vad';
import { VadFallback } from '../../src/native/vadFallback';

const RATE = 16000;
const F = 320;
const args = process.argv.slice(2);
const impl = args.includes('--ts') || !nativeVadAvailable() ? 'ts' : 'native';
const why = args.includes('--why');
// --first: as a session's first round in bench:bargein: 2 s of room noise with the agent
// silent, then the agent starts and the user says the sentence 0.8-3.0 s later
const first = args.includes('--first');
const whyD = Number(args.find((a) => a.startsWith('--d='))?.slice(4) ?? 200);

export const LINES: Array<[string, string]> = [
  ['excuse me, can I ask you something else please', 'en-us'],
  ['wait, stop, that is not what I asked about at all', 'en-gb'],
  ['hold on a second, I have a different question', 'en-us+f3'],
  ['sorry to interrupt, but could you repeat the price', 'en-us+m3'],
];
const VOICES = ['en-us', 'en-gb', 'en-us+f3', 'en-us+m3'];

function mix(a: Int16Array, b: Int16Array, at: number): void {
  for (let i = 0; i < b.length && at + i < a.length; i++) a[at + i] = Math.max(-32768, Math.min(32767, a[at + i] + b[i]));
}

const paragraph = speak(
  'Thank you for calling. Let me walk you through the options we have for your account today. ' +
    'First, there is the standard plan, which includes unlimited calls and a generous data allowance. ' +
    'Second, the premium plan adds international roaming and priority support at any hour.',
  RATE,
);
const bed = noise('pink', 4, RATE, -60, 11);

interface Trial {
  name: string;
  near: Int16Array;
  far: Int16Array;
  onset: number; // true onset (first sample above -40 dB of the clip's peak... approx: first |x| > 100)
}

function trials(): Trial[] {
  const out: Trial[] = [];
  const rnd = prng(5);
  const texts = LINES.map(([t]) => t);
  for (const [ti, text] of texts.entries()) {
    for (const voice of VOICES) {
      const clip = speak(text, RATE, { voice });
      let start = 0;
      while (start < clip.length && Math.abs(clip[start]) < 100) start++;
      for (let k = 0; k < 6; k++) {
        const idle = first ? 2 * RATE : 0;
        const lead = idle + (first ? Math.round(((0.8 + 2.2 * rnd()) * RATE) / F) * F : Math.round(((0.6 + 4 * rnd()) * RATE) / F) * F) + Math.floor(rnd() * F);
        const n = lead + clip.length + RATE / 2;
        const near = new Int16Array(n);
        for (let i = 0; i < n; i++) near[i] = bed[i % bed.length];
        mix(near, clip, lead);
        const far = new Int16Array(n);
        const off = Math.floor(rnd() * (paragraph.length - n));
        far.set(paragraph.subarray(off, off + n - idle), idle);
        out.push({ name: `${ti}/${voice}/${k}`, near, far, onset: lead + start });
      }
    }
  }
  return out;
}

function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

const ts = trials();
for (const D of [200, 500]) {
  const delays: number[] = [];
  const late: string[] = [];
  let missed = 0;
  for (const t of ts) {
    const v = createVad({ sampleRate: RATE, frameMs: 20, interruptSpeechDurationMs: D }, { impl });
    let fired = -1;
    for (let i = 0, k = 0; i + F <= t.near.length; i += F, k++) {
      const fl = v.process(t.near.subarray(i, i + F), t.far.subarray(i, i + F));
      if (fl & VadFlag.DurationReached && i + F > t.onset - 0.05 * RATE) {
        fired = i + F;
        const d = ((fired - v.onsetSample) * 1000) / RATE - D;
        delays.push(d);
        if (d > 40) late.push(`${t.name} +${d.toFixed(0)} ms (onset err ${(((v.onsetSample - t.onset) * 1000) / RATE).toFixed(0)} ms)`);
        break;
      }
    }
    if (fired < 0) missed++;
  }
  console.log(
    `${impl} D=${D}: n=${delays.length} missed=${missed} delay p50 ${q(delays, 0.5).toFixed(0)} p90 ${q(delays, 0.9).toFixed(0)} p95 ${q(delays, 0.95).toFixed(0)} p99 ${q(delays, 0.99).toFixed(0)} max ${Math.max(...delays).toFixed(0)}; >40 ms: ${late.length}`,
  );
  for (const l of late) console.log('  ' + l);
}

if (why) {
  // per-hop trace (10 ms frames, TS fallback) of the late trials at D = --d (200)
  for (const t of ts) {
    const v = new VadFallback({ sampleRate: RATE, frameMs: 10, interruptMs: whyD, hangoverMs: 200 });
    const out = new Float64Array(9);
    const rows: string[] = [];
    let fired = -1;
    let onset = -1;
    for (let i = 0; i + 160 <= t.near.length; i += 160) {
      const fl = v.process(t.near.subarray(i, i + 160), t.far.subarray(i, i + 160), out);
      if (fl & VadFlag.SpeechStart && i > t.onset - 0.1 * RATE && onset < 0) onset = out[3];
      const f = v.features;
      if (onset >= 0 && i < onset + ((whyD + 300) / 1000) * RATE)
        rows.push(
          `${(((i + 160 - onset) * 1000) / RATE).toFixed(0).padStart(4)} fl=${fl} score=${f.score.toFixed(2)} snr=${f.snrDb.toFixed(1)} sus=${f.sustain.toFixed(2)} harm=${f.harm.toFixed(2)} flux=${f.flux.toFixed(1)} fg=${f.fgDb.toFixed(1)} bg=${f.bgDb.toFixed(1)} thr=${f.fgThr.toFixed(1)} peak=${f.peak.toFixed(2)} stat=${f.stat.toFixed(2)}`,
        );
      if (fl & VadFlag.DurationReached && onset >= 0 && fired < 0) fired = i + 160;
    }
    const d = fired < 0 ? Infinity : ((fired - onset) * 1000) / RATE - whyD;
    if (d > 40) {
      console.log(`\n${t.name}: +${d} ms`);
      console.log(rows.slice(Math.max(0, whyD / 10 - 25), whyD / 10 + 25).join('\n'));
    }
  }
}
