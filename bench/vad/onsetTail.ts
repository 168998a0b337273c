/**
 * Analysis aid (not part of the bench run): which utterances make the onset p95 tail.
 * Per utterance of bench:vad's speech sessions at the given SNRs: ours' onset latency
 * (native addon, or the TS fallback with --ts; 20 ms frames), the text, and the
 * false starts per session; then per background the count over 60 ms and p50 / p95.
 *   npx vite-node bench/vad/onsetTail.ts [-- --snr=10,20 --bg=babble,music --ts --all]
 */
import { speechSession, BACKGROUNDS, RATE, type Background } from './corpus';
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
    for (let i = 0; i + FRAME <= s.pcm.length; i += FRAME) if (vad.process(s.pcm.subarray(i, i + FRAME), null) & VadFlag.SpeechStart) starts.push(i + FRAME);
    const lat: number[] = [];
    let missed = 0;
    for (const u of s.utts) {
      const hit = starts.find((x) => x >= u.start && x <= u.end + TOL);
      if (hit === undefined) {
        missed++;
        lines.push(`${snr} dB ${bg.padEnd(7)} MISS  "${u.text}" (${u.voice} ${u.speed}) at ${(u.start / RATE).toFixed(2)} s`);
        continue;
      }
      const ms = ((hit - u.start) * 1000) / RATE;
      lat.push(ms);
      if (all || ms > 60) lines.push(`${snr} dB ${bg.padEnd(7)} ${ms.toFixed(0).padStart(5)} "${u.text}" (${u.voice} ${u.speed}) at ${(u.start / RATE).toFixed(2)} s`);
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
