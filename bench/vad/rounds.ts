/**
 * Tuning aid (not part of the bench run): bench:bargein's speech users replayed
 * offline, round after round in one VAD stream, as the live session runs them.
 * Each round the agent starts its answer (the far end), the user says one of the
 * bench's sentences 0.8-3.0 s into it over -60 dBFS pink room noise (no echo on
 * the line), the agent stops at the decision (D = 0: the speech start; else "D
 * reached"), and the next round starts after a 1.2 s cool-down and the AI
 * server's first-byte delay. What the detector learns in one round (the echo
 * model, the background) carries into the next, which a fresh stream per trial
 * (bench/vad/dconfirm.ts) does not show. With --opus the user's audio goes through
 * Opus as on the room path (the bench's rtp users' encoder, decoded at 16 kHz).
 *   npx vite-node bench/vad/rounds.ts                  # D = 0, native if built
 *   npx vite-node bench/vad/rounds.ts -- --d=200 --ts
 *   npx vite-node bench/vad/rounds.ts -- --opus
 */
import { prng } from '../../test/helpers/clips';
import { createVad, VadFlag, nativeVadAvailable } from '../../src/native/vad';
import { agentSpeech, makeAssets, FRAME, RATE } from '../bargein/assets';
import { percentile } from './metrics';
import { createOpusEncoder, OPUS_MAX_PACKET } from '../../src/rooms/opusEncoder';
import { createOpusDecoder } from '../../src/rooms/opusDecoder';

const args = process.argv.slice(2);
const impl = args.includes('--ts') || !nativeVadAvailable() ? 'ts' : 'native';
const D = Number(args.find((a) => a.startsWith('--d='))?.slice(4) ?? 0);
const ROUNDS = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 16);
const USERS = Number(args.find((a) => a.startsWith('--users='))?.slice(8) ?? 12);
const OPUS = args.includes('--opus');

/** The room path's codec for one user: bench/bargein/rtpUser.ts's encoder, the bridge's decoder. */
async function opusPath(): Promise<(pcm: Int16Array) => Int16Array> {
  const enc = createOpusEncoder({ sampleRate: RATE, channels: 1, application: 2, complexity: 1, bitrate: 32000 });
  const dec = await createOpusDecoder({ sampleRate: RATE, channels: 1 });
  const pkt = new Uint8Array(OPUS_MAX_PACKET);
  const out = new Int16Array(FRAME);
  return (pcm) => {
    dec.decode(pkt.subarray(0, enc.encode(pcm, pkt)), out);
    return out;
  };
}

const assets = makeAssets();
const answer = agentSpeech();
const silent = new Int16Array(FRAME);

async function main(): Promise<void> {
  const lat: number[] = [];
  const perRound: number[][] = Array.from({ length: ROUNDS }, () => []);
  const worst: string[] = [];
  let missed = 0;
  let early = 0;
  for (let u = 0; u < USERS; u++) {
    const rnd = prng(100 + u);
    const vad = createVad({ sampleRate: RATE, frameMs: 20, interruptSpeechDurationMs: D }, { impl });
    let t = 0; // samples into the stream
    let bedPos = 0;
    const codec = OPUS ? await opusPath() : null;
    const step = (near: Int16Array, far: Int16Array): number => {
      const fl = vad.process(codec ? codec(near) : near, far);
      t += FRAME;
      return fl;
    };
    const bed = (): Int16Array => assets.bed[bedPos++ % assets.bed.length]!;
    // 1 s of room noise before the first answer
    for (let k = 0; k < 50; k++) step(bed(), silent);
    for (let r = 0; r < ROUNDS; r++) {
      const clip = assets.speech[(u + r) % assets.speech.length]!;
      // the AI server's first byte: 200-400 ms of silence on the far end
      const firstByte = Math.round((0.2 + 0.2 * rnd()) * 50);
      for (let k = 0; k < firstByte; k++) step(bed(), silent);
      const speakAt = Math.round((0.8 + 2.2 * rnd()) * 50); // frames into the answer
      let a = 0; // agent frames played
      let agentOn = true;
      const farFrame = (): Int16Array => {
        if (!agentOn || (a + 1) * FRAME > answer.length) return silent;
        return answer.subarray(a * FRAME, ++a * FRAME);
      };
      for (let k = 0; k < speakAt; k++) {
        const fl = step(bed(), farFrame());
        if (fl & (D === 0 ? VadFlag.SpeechStart : VadFlag.DurationReached)) early++;
      }
      const onsetAt = t + clip.onset;
      let decided = -1;
      for (const f of clip.frames) {
        const fl = step(f, farFrame());
        if (decided < 0 && agentOn && fl & (D === 0 ? VadFlag.SpeechStart : VadFlag.DurationReached) && t > onsetAt) {
          decided = t;
          agentOn = false; // the interrupt: the far end stops
        }
      }
      for (let k = 0; k < 60; k++) step(bed(), farFrame());
      if (decided < 0) {
        missed++;
        continue;
      }
      const ms = ((decided - onsetAt) * 1000) / RATE - D;
      lat.push(ms);
      perRound[r]!.push(ms);
      worst.push(`${ms.toFixed(0)} ms: user ${u} round ${r} clip ${(u + r) % assets.speech.length} at ${(speakAt * 20) / 1000} s`);
    }
  }
  worst.sort((x, y) => parseFloat(y) - parseFloat(x));
  console.log(
    `${impl}${OPUS ? ' (user through Opus)' : ''} D=${D}: n=${lat.length} missed=${missed} early=${early}; latency - D p50 ${percentile(lat, 50).toFixed(0)} p90 ${percentile(lat, 90).toFixed(0)} p95 ${percentile(lat, 95).toFixed(0)} p99 ${percentile(lat, 99).toFixed(0)} max ${Math.max(...lat).toFixed(0)} ms`,
  );
  console.log(`per round p50/max: ${perRound.map((xs) => `${percentile(xs, 50).toFixed(0)}/${Math.max(...xs).toFixed(0)}`).join(' ')}`);
  console.log(`worst: ${worst.slice(0, 8).join('; ')}`);
}

void main();
