/**
 * Stress aid (not part of the bench run): the echo path changing mid-call. bench:vad
 * runs each echo-only clip in a fresh stream; here they follow each other in ONE
 * stream, so at every clip boundary the echo jumps to another delay and gain (a
 * handset put on speaker, a headset unplugged) and the echo model must re-learn
 * while the agent keeps talking. Prints, per clip, the speech starts and "D = 200
 * reached" decisions (all false: there is no user) and when the last one came.
 *   npx vite-node bench/vad/pathChange.ts [-- --ts]
 */
import { echoOnlyClips, liveEchoClips, RATE } from './corpus';
import { createVad, VadFlag, nativeVadAvailable } from '../../src/native/vad';

const impl = process.argv.includes('--ts') || !nativeVadAvailable() ? 'ts' : 'native';
const F = (20 * RATE) / 1000;
const vad = createVad({ sampleRate: RATE, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl });
let starts = 0;
let reached = 0;
console.log(`${impl}: echo-only clips back to back in one stream (no user: every start is false)`);
console.log('| from s | clip | starts | D=200 reached | last false start, s into the clip |');
console.log('|---|---|---|---|---|');
let t0 = 0;
for (const c of [...echoOnlyClips(), ...liveEchoClips()]) {
  let s = 0;
  let r = 0;
  let last = -1;
  for (let i = 0; i + F <= c.pcm.length; i += F) {
    const fl = vad.process(c.pcm.subarray(i, i + F), c.far!.subarray(i, i + F));
    if (fl & VadFlag.SpeechStart) {
      s++;
      last = i / RATE;
    }
    if (fl & VadFlag.DurationReached) r++;
  }
  starts += s;
  reached += r;
  console.log(`| ${t0.toFixed(0)} | ${c.name} | ${s} | ${r} | ${last < 0 ? '-' : last.toFixed(1)} |`);
  t0 += c.pcm.length / RATE;
}
console.log(`total: ${starts} starts, ${reached} D=200 reached in ${(t0 / 60).toFixed(0)} min`);
