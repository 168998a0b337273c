/**
 * Analysis aid (not part of the bench run): which utterances make the onset p95 tail.
 * Per utterance of bench:vad's speech sessions at the given SNRs: ours' onset latency
 * (native addon, or the TS fallback with --ts; 20 ms frames), the text, and the
 * false starts per session; then per background the count over 60 ms and p50 / p95.
 * With --noise also the noise-only clips: speech starts (D = 0) and D = 200 per minute.
 *   npx vite-node bench/vad/onsetTail.ts [-- --snr=10,20 --bg=babble,music --ts --all --noise]
 */
import { speechSession, noiseOnlyClips, BACKGROUNDS, RATE, type Background } from './corpus';
import { percentile } from './metrics';
import { createVad, VadFlag } from '../../src/native/vad';

const args = process.argv.slice(2);
const opt = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
const snrs = (opt('snr') ?? '10,20').split(',').map(Number);
const bgs = (opt('bg')?.split(',') ?? BACKGROUNDS) as Background[];
const impl = args.includes('--ts') ? 'ts' : 'native';
const all = args.includes('--all');
const TOL = (150 * RATE) / 1000;
const FRAME = (20 * RATE) / 1000;

const pooled = new Map<number, number[]>();
const lines: string[] = [];
for (const snr of snrs) {
  const pool: number[] = [];
  for (const bg of bgs) {
    const k = BACKGROUNDS.indexOf(bg);
    const s = speechSession(k, bg, snr);
    const vad = createVad({ sampleRate: RATE, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl });
    const starts: number[] = [];
    const inSeg = new Uint8Array(Math.ceil(s.pcm.length / FRAME)); // per frame: in a segment at its end
    for (let i = 0; i + FRAME <= s.pcm.length; i += FRAME) {
      const f = vad.process(s.pcm.subarray(i, i + FRAME), null);
      if (f & VadFlag.SpeechStart) starts.push(i + FRAME);
      inSeg[i / FRAME] = f & VadFlag.Speech ? 1 : 0;
    }
    // "held": the stream was in a segment (not this utterance's) when the utterance began
    const held = (u: { start: number }) => (u.start >= FRAME && inSeg[Math.floor(u.start / FRAME) - 1] ? ' (held)' : '');
    const lat: number[] = [];
    let missed = 0;
    for (const u of s.utts) {
      const hit = starts.find((x) => x >= u.start && x <= u.end + TOL);
      if (hit === undefined) {
        missed++;
        lines.push(`${snr} dB ${bg.padEnd(7)} MISS  "${u.text}" (${u.voice} ${u.speed}) at ${(u.start / RATE).toFixed(2)} s${held(u)}`);
        continue;
      }
      const ms = ((hit - u.start) * 1000) / RATE;
      lat.push(ms);
      if (all || ms > 60) lines.push(`${snr} dB ${bg.padEnd(7)} ${ms.toFixed(0).padStart(5)} "${u.text}" (${u.voice} ${u.speed}) at ${(u.start / RATE).toFixed(2)} s${held(u)}`);
    }
    const falseAt = starts.filter((x) => !s.utts.some((u) => x >= u.start && x <= u.end + TOL));
    const falses = falseAt.length;
    for (const x of falseAt) lines.push(`${snr} dB ${bg.padEnd(7)} FALSE start at ${(x / RATE).toFixed(2)} s`);
    pool.push(...lat);
    console.log(`${snr} dB ${bg.padEnd(7)} p50/p95 ${Math.round(percentile(lat, 50))}/${Math.round(percentile(lat, 95))}, >60 ms ${lat.filter((x) => x > 60).length}/${s.utts.length}, missed ${missed}, false starts ${falses}`);
  }
  pooled.set(snr, pool);
}
for (const [snr, p] of pooled) console.log(`${snr} dB pooled p50/p95 ${Math.round(percentile(p, 50))}/${Math.round(percentile(p, 95))}, >60 ms ${p.filter((x) => x > 60).length}/${p.length}`);
for (const l of lines) console.log(l);

if (args.includes('--noise')) {
  let min = 0, st = 0, re = 0;
  const per: string[] = [];
  for (const c of noiseOnlyClips()) {
    const vad = createVad({ sampleRate: RATE, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl });
    let a = 0, b = 0;
    for (let i = 0; i + FRAME <= c.pcm.length; i += FRAME) {
      const f = vad.process(c.pcm.subarray(i, i + FRAME), null);
      if (f & VadFlag.SpeechStart) a++;
      if (f & VadFlag.DurationReached) b++;
    }
    min += c.pcm.length / RATE / 60;
    st += a;
    re += b;
    if (a || b) per.push(`${c.name}: ${a}/${b}`);
  }
  console.log(`noise-only: starts ${(st / min).toFixed(2)}/min (D = 0), D = 200 ${(re / min).toFixed(2)}/min; ${per.join(', ')}`);
}
