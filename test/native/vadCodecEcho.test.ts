/**
 * The agent's own voice coming back through lossy codecs, as on the room path
 * without the client's echo canceller: agent PCM → Opus (the agent's voice settings)
 * → the user's decoder → 120 ms, -12 dB acoustic echo over room noise → the user's
 * Opus encoder → the bridge's decoder → VAD, with the agent's PCM as the far end.
 * The codecs move echo energy into neighbouring bands (MDCT spreading, CELT band
 * folding); before the echo model allowed for that this gave ~27 speech starts and
 * ~3 false barge-ins a minute (bench:bargein's rtp echo users: 2.7/min).
 */
import { describe, expect, it } from 'vitest';
import { createVad, nativeVadAvailable, VadFlag } from '../../src/native/vad';
import { AGENT_VOICE_OPUS, createOpusEncoder } from '../../src/rooms/opusEncoder';
import { createOpusDecoder } from '../../src/rooms/opusDecoder';
import * as clips from '../helpers/clips';

const RATE = 16000;
const F = 320;
const impls = (nativeVadAvailable() ? ['ts', 'native'] : ['ts']) as Array<'ts' | 'native'>;

describe('vad: echo of the agent through Opus both ways', () => {
  const agent = clips.speak(
    'Thank you for calling. Let me walk you through the options we have for your account today. ' +
      'First, there is the standard plan, which includes unlimited calls and a generous data allowance. ' +
      'Second, the premium plan adds international roaming and priority support at any hour.',
    RATE,
  );
  const bed = clips.noise('pink', 4, RATE, -60, 11);

  for (const impl of impls) {
    it(`gives no barge-in at D = 200 and (almost) no speech start over 60 s (${impl})`, async () => {
      const agentEnc = createOpusEncoder({ ...AGENT_VOICE_OPUS, sampleRate: RATE, channels: 1 });
      const userDec = await createOpusDecoder({ sampleRate: RATE, channels: 1 });
      const userEnc = createOpusEncoder({ sampleRate: RATE, channels: 1, application: 2, complexity: 1, bitrate: 32000 });
      const bridgeDec = await createOpusDecoder({ sampleRate: RATE, channels: 1 });
      const vad = createVad({ sampleRate: RATE, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl });
      const pkt = new Uint8Array(1275);
      const pcm = new Int16Array(1920);
      const line: Array<Int16Array | null> = Array.from({ length: 6 }, () => null);
      const agentFrames = Math.floor(agent.length / F) - 1;
      let starts = 0;
      let reached = 0;
      let fp = 0;
      for (let k = 0; k < 50 * 60; k++) {
        // the agent talks 8 s, then pauses 1.5 s (new answers), like the bench's users hear it
        const talking = k % 475 < 400;
        let far = new Int16Array(F);
        let heard: Int16Array | null = null;
        if (talking) {
          const o = (fp++ % agentFrames) * F;
          far = agent.slice(o, o + F);
          const n = agentEnc.encode(far, pkt);
          heard = pcm.slice(0, userDec.decode(pkt.subarray(0, n), pcm));
        }
        line.push(heard);
        const echo = line.shift()!;
        const near = new Int16Array(F);
        for (let i = 0; i < F; i++) near[i] = clips.clamp16(bed[(k * F + i) % bed.length]! + 0.25 * (echo ? echo[i]! : 0));
        const n = userEnc.encode(near, pkt);
        const got = pcm.slice(0, bridgeDec.decode(pkt.subarray(0, n), pcm));
        const fl = vad.process(got, far);
        if (fl & VadFlag.SpeechStart) starts++;
        if (fl & VadFlag.DurationReached) reached++;
      }
      expect(reached).toBe(0);
      expect(starts).toBeLessThanOrEqual(2);
    }, 60_000);
  }
});
