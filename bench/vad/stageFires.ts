/**
 * Analysis aid (not part of the bench run): the segment starts the narrow-band onset
 * stage made on its own (no candidate open before), with the hop's features, on bench:vad's
 * speech sessions (true: within an utterance's window) and noise-only clips (false).
 *   npx vite-node bench/vad/stageFires.ts [-- --snr=20,10,5,0 --busy]
 */
import { speechSessions, noiseOnlyClips, RATE } from './corpus';
import { VadFallback, VadFlag, VadOut } from '../../src/native/vadFallback';

const args = process.argv.slice(2);
const snrs = (args.find((a) => a.startsWith('--snr='))?.slice(6) ?? '20,10,5,0').split(',').map(Number);
const busyOnly = args.includes('--busy');
const HOPIN = RATE / 100;
const TOL = (150 * RATE) / 1000;

function run(name: string, pcm: Int16Array, utts: { start: number; end: number }[] | null): void {
  const v = new VadFallback({ sampleRate: RATE, frameMs: 10, interruptMs: 200, hangoverMs: 200 });
  const a = v as unknown as Record<string, unknown>;
  const out = new Float64Array(VadOut.Count);
  for (let h = 0; (h + 1) * HOPIN <= pcm.length; h++) {
    const run0 = a.speechRun as number;
    const fl = v.process(pcm.subarray(h * HOPIN, (h + 1) * HOPIN), null, out);
    if (!(fl & VadFlag.SpeechStart) || !(a.viaStage as boolean)) continue;
    const f = v.features;
    const busy = Math.min(1, Math.max(0, (f.bgDb - 4.5) / 2));
    if (busyOnly && busy <= 0.5) continue;
    const x = (h + 1) * HOPIN;
    const kind = utts === null ? 'NOISE' : utts.some((u) => x >= u.start && x <= u.end + TOL) ? 'true ' : 'GAP  ';
    console.log(`${kind} ${name.padEnd(36)} ${(x / RATE).toFixed(2).padStart(6)} s  cand ${run0}  fgDb ${f.fgDb.toFixed(1).padStart(6)}  busy ${busy.toFixed(2)}  snr ${f.snrDb.toFixed(1).padStart(5)}  score ${f.score.toFixed(2)}  peak ${f.peak.toFixed(2)}`);
  }
}

for (const s of speechSessions()) if (s.snrDb !== null && snrs.includes(s.snrDb)) run(s.name, s.pcm, s.utts);
for (const c of noiseOnlyClips()) run(c.name, c.pcm, null);
