/**
 * The VAD on real generated audio (espeak-ng speech, sox noise and tones): speech
 * detection and onset, the continuous-speech duration, the "duration D reached"
 * event, no barge-in on noise/tones/clicks/music or on the agent's own echo,
 * double talk, all rates and frame sizes, level changes, bad arguments.
 * Every behaviour runs on the TS fallback and, when the addon is built, on native.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/errors';
import { requireNative } from '../../src/native/addon';
import { createVad, nativeVadAvailable, VadFlag, type NativeVadCtor, type Vad, type VadFrameMs, type VadSampleRate } from '../../src/native/vad';
import { VadFallback } from '../../src/native/vadFallback';
import { VadOut } from '../../src/native/vadTypes';
import * as clips from '../helpers/clips';

const impls = (nativeVadAvailable() ? ['ts', 'native'] : ['ts']) as Array<'ts' | 'native'>;

interface Run {
  frameSamples: number;
  flags: number[];
  speechMs: number[];
  /** Per frame: onsetSample after it. */
  onset: number[];
  reached: number[];
  starts: number[]; // frame indices
  ends: number[];
  reachedAt: number[];
}

/** Feeds a whole clip frame by frame (the far end aligned sample for sample). */
function run(vad: Vad, pcm: Int16Array, far?: Int16Array): Run {
  const n = vad.frameSamples;
  const r: Run = { frameSamples: n, flags: [], speechMs: [], onset: [], reached: [], starts: [], ends: [], reachedAt: [] };
  for (let i = 0, k = 0; i + n <= pcm.length; i += n, k++) {
    const f = vad.process(pcm.subarray(i, i + n), far ? far.subarray(i, i + n) : null);
    r.flags.push(f);
    r.speechMs.push(vad.speechMs);
    r.onset.push(vad.onsetSample);
    r.reached.push(vad.reachedSample);
    if (f & VadFlag.SpeechStart) r.starts.push(k);
    if (f & VadFlag.SpeechEnd) r.ends.push(k);
    if (f & VadFlag.DurationReached) r.reachedAt.push(k);
  }
  return r;
}

const ms = (samples: number, rate: number) => (samples * 1000) / rate;
/** Two clips one after the other. */
function cat(x: Int16Array, y: Int16Array): Int16Array {
  const out = new Int16Array(x.length + y.length);
  out.set(x);
  out.set(y, x.length);
  return out;
}
/** End of frame k in samples. */
const frameEnd = (r: Run, k: number) => (k + 1) * r.frameSamples;

const SENTENCE = 'hello there, could you please stop talking for a moment';

for (const impl of impls) {
  describe(`vad (${impl})`, () => {
    it('detects espeak speech within 60 ms of its onset and dates the onset to within 40 ms', () => {
      // voiced, nasal and plosive word onsets (fricatives: next test)
      const texts = ['hello there, could you please stop talking for a moment', 'wait, that is not what i asked for', 'yes exactly, and what about the second option', 'no no no, the other account please', 'excuse me, can you repeat the last part again', 'hmm, let me think about it for a second', 'she said the delivery would arrive on thursday'];
      const voices = ['en-us', 'en-gb+f3', 'en-us+m3', 'en-gb-scotland', 'en-us+f4', 'en-gb-x-rp+m5'];
      for (const [i, text] of texts.entries()) {
        for (const noise of [undefined, { kind: 'pink' as const, snrDb: 20 }, { kind: 'brown' as const, snrDb: 15 }]) {
          const c = clips.speechClip(text, { rate: 16000, voice: voices[i % voices.length], atMs: 800, noise });
          const r = run(createVad({ sampleRate: 16000, frameMs: 10 }, { impl }), c.pcm);
          const onset = c.speech[0][0];
          expect(r.starts.length, `${text} ${noise?.kind}`).toBeGreaterThan(0);
          const first = r.starts[0];
          const latency = ms(frameEnd(r, first) - onset, 16000);
          expect(latency, `${text} ${noise?.kind}: start latency`).toBeGreaterThanOrEqual(0);
          expect(latency, `${text} ${noise?.kind}: start latency`).toBeLessThanOrEqual(60);
          expect(Math.abs(ms(r.onset[first] - onset, 16000)), `${text} ${noise?.kind}: onset error`).toBeLessThanOrEqual(40);
        }
      }
    });

    it("starts a word in a quiet room on its first sustained hop (20 ms frames: median within 30 ms of the onset)", () => {
      // The 30 ms sustain window is mostly silence at a word's onset; without the onset
      // rule the start waits a hop, which at 20 ms frames is often a whole frame.
      const texts = ['hello there, could you please stop', 'wait, that is not what i asked for', 'excuse me, can you repeat that', 'no no no, the other account please', 'hold on a second', 'yes exactly, and what about it'];
      const voices = ['en-us', 'en-gb', 'en-us+f3', 'en-us+m3'];
      const lat: number[] = [];
      for (const [i, text] of texts.entries()) {
        for (const [v, voice] of voices.entries()) {
          // onsets at every 2 ms phase of the 20 ms frame
          const c = clips.speechClip(text, { rate: 16000, voice, atMs: 1400 + 2 * ((i * voices.length + v) % 10), noise: { kind: 'pink', snrDb: 40 } });
          const r = run(createVad({ sampleRate: 16000, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), c.pcm);
          expect(r.starts.length, `${text} ${voice}`).toBeGreaterThan(0);
          lat.push(ms(frameEnd(r, r.starts[0]) - c.speech[0][0], 16000));
        }
      }
      lat.sort((a, b) => a - b);
      const median = lat[Math.floor(lat.length / 2)];
      expect(median, lat.join(' ')).toBeLessThanOrEqual(30);
      expect(lat[lat.length - 1], lat.join(' ')).toBeLessThanOrEqual(45);
    });

    it("starts a low voice's first vowel on its first sustained hops though the newest 6 ms sit between two pitch pulses (every 1 ms phase of a 20 ms frame)", () => {
      // A 100-120 Hz voice's blocks swing 10-25 dB with its pulses: the click guard (newest
      // 6 ms within 6 dB of the loudest block) fails at some phases, and the start then
      // waits for the plain sustain gate, a 20 ms frame later. The climb into the loudest
      // block (4 ms and more; a click's attack is within a block) admits those hops.
      const lat: number[] = [];
      for (const [text, voice] of [['excuse me, can I ask you something else please', 'en-us'], ['wait, stop, that is not what I asked about at all', 'en-gb']]) {
        for (let phase = 0; phase < 20; phase++) {
          const c = clips.speechClip(text, { rate: 16000, voice, atMs: 1400 + phase, noise: { kind: 'pink', snrDb: 40 } });
          const r = run(createVad({ sampleRate: 16000, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), c.pcm);
          expect(r.starts.length, `${text} at ${phase} ms`).toBeGreaterThan(0);
          lat.push(ms(frameEnd(r, r.starts[0]) - c.speech[0][0], 16000));
        }
      }
      // (without the climb: 42-54 ms at 6 of these 40 phases)
      expect(Math.max(...lat), lat.join(' ')).toBeLessThanOrEqual(41);
    });

    it('starts no segment on keyboard clicks in a quiet room, even at D = 0', () => {
      const rate = 16000;
      const sec = 30;
      for (const [peak, seed] of [[-10, 21], [-20, 23], [-30, 24]] as const) {
        const pcm = clips.mixAt(sec * rate, [{ pcm: clips.clicks(sec, rate, peak, 6, seed), at: 0 }, { pcm: clips.noise('white', sec, rate, -60, 12), at: 0 }]);
        const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), pcm);
        expect(r.starts.length, `clicks at ${peak} dBFS`).toBe(0);
      }
    });

    it('detects s/sh-initial speech within 60 ms at 16 kHz, in quiet and in pink noise (4-8 kHz band)', () => {
      for (const text of ['stop, stop, i already know that', 'so how much does the premium plan cost per month', 'sorry to interrupt', 'she said the delivery would arrive on thursday']) {
        for (const noise of [undefined, { kind: 'pink' as const, snrDb: 20 }]) {
          const c = clips.speechClip(text, { rate: 16000, voice: 'en-gb-scotland', atMs: 800, noise });
          const r = run(createVad({ sampleRate: 16000, frameMs: 10 }, { impl }), c.pcm);
          expect(ms(frameEnd(r, r.starts[0]) - c.speech[0][0], 16000), `${text} ${noise?.kind}`).toBeLessThanOrEqual(60);
        }
      }
    });

    it('starts a word whose first consonant is under the noise on a narrow band\'s rise (white and pink noise at 10 dB: median within 60 ms)', () => {
      // "thanks", "sure", "so", "fine", "could": over white or pink noise at 10 dB the
      // consonant stands out in one or two bands only, and the mean band SNR waits for the
      // vowel (median 107 ms without the onset stage, 39 with it)
      const lat: number[] = [];
      for (const text of ['thanks, that is all', 'sure, go ahead', 'so how much is it', 'fine, book it', 'could you repeat that', 'see you tomorrow']) {
        for (const voice of ['en-us', 'en-gb']) {
          for (const kind of ['white', 'pink'] as const) {
            const c = clips.speechClip(text, { rate: 16000, voice, atMs: 2500, noise: { kind, snrDb: 10 } });
            const r = run(createVad({ sampleRate: 16000, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), c.pcm);
            expect(r.starts.length, `${text} ${voice} ${kind}`).toBeGreaterThan(0);
            lat.push(ms(frameEnd(r, r.starts[0]) - c.speech[0][0], 16000));
          }
        }
      }
      lat.sort((a, b) => a - b);
      expect(lat[0], lat.join(' ')).toBeGreaterThanOrEqual(0);
      expect(lat[lat.length >> 1], lat.join(' ')).toBeLessThanOrEqual(60);
    });

    it('starts a word with an unvoiced first consonant over music and babble on the 4-8 kHz band\'s rise (10 dB: median within 70 ms)', () => {
      // over babble and music the onset stage may fire on the 4-8 kHz band alone: "sure",
      // "so", "stop", "thanks" start there while the background's onsets are below 4 kHz
      // (median 119 ms over music and 126 over babble without it, 49 and 41 with it)
      const rate = 16000;
      const texts = ['sure, go ahead', 'so how much is it', 'stop right there', 'thanks, that is all', 'sorry, say that again', 'she said no', 'fine, book it', 'see you tomorrow'];
      for (const kind of ['music', 'babble'] as const) {
        const parts: Array<{ pcm: Int16Array; at: number }> = [];
        const truth: number[] = [];
        let t = 3 * rate;
        for (const [k, text] of texts.entries()) {
          const c = clips.speechClip(text, { rate, voice: k % 2 ? 'en-gb+f3' : 'en-us', atMs: 0, speechDb: -20 });
          parts.push({ pcm: c.pcm, at: t });
          truth.push(t + c.speech[0][0]);
          t += c.speech[c.speech.length - 1][1] + Math.round(1.5 * rate);
        }
        const bg = kind === 'music' ? clips.music(t / rate + 1, rate, -30) : clips.babble(t / rate + 1, rate, -30, 6, 2);
        parts.push({ pcm: bg.subarray(0, t), at: 0 }); // 10 dB below the speech
        const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), clips.mixAt(t, parts));
        const lat = truth.map((a) => {
          const k = r.starts.find((j) => frameEnd(r, j) >= a);
          return k === undefined ? Infinity : ms(frameEnd(r, k) - a, rate);
        });
        expect(Math.max(...lat), `${kind}: ${lat.join(' ')}`).toBeLessThan(200);
        expect([...lat].sort((a, b) => a - b)[lat.length >> 1], `${kind}: ${lat.join(' ')}`).toBeLessThanOrEqual(70);
      }
    });

    it('the onset stage starts nothing on stationary noise or on a dithered digital silence, even at D = 0', () => {
      // (the stage learns each band's level and spread; ±1 LSB after digital zero is a rise
      // of many spreads, below the 20 dB over quantization noise a band must reach)
      const rate = 16000;
      const sec = 30;
      const dither = new Int16Array(sec * rate);
      const rnd = clips.prng(3);
      for (let t = 3 * rate; t < dither.length; t += Math.round(1.2 * rate)) {
        for (let i = t; i < Math.min(dither.length, t + 0.4 * rate); i++) dither[i] = Math.round(rnd() * 2 - 1);
      }
      const cases: Array<[string, Int16Array]> = [
        ['white', clips.noise('white', sec, rate, -40, 31)],
        ['pink', clips.noise('pink', sec, rate, -35, 32)],
        ['brown', clips.noise('brown', sec, rate, -30, 33)],
        ['dithered silence', dither],
      ];
      for (const [name, pcm] of cases) {
        const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), pcm);
        expect(r.starts.length, name).toBe(0);
      }
    });

    it('keeps speechMs growing across short dropouts between words and resets it after a long silence', () => {
      const rate = 16000;
      // espeak-ng -g 12: 120 ms of silence between words
      const words = clips.speak('one two three four five six', rate, { wordGap: 6 });
      const lab = clips.labelSpeech(words, rate, -40, 0); // unmerged: the real gaps between words
      const gaps = lab.speech.slice(1).map(([a], k) => ms(a - lab.speech[k][1], rate));
      expect(Math.max(...gaps)).toBeGreaterThanOrEqual(60); // the clip really has dropouts
      expect(Math.max(...gaps)).toBeLessThan(150);
      const at1 = 8000;
      const at2 = at1 + words.length + rate; // 1 s of silence, then the phrase again
      const pcm = clips.mixAt(at2 + words.length + rate, [{ pcm: words, at: at1 }, { pcm: words, at: at2 }]);
      const r = run(createVad({ sampleRate: rate, frameMs: 20 }, { impl }), pcm);
      expect(r.starts.length).toBe(2);
      expect(r.ends.length).toBe(2);
      const [s1, s2] = r.starts;
      const [e1, e2] = r.ends;
      // continuous across the phrase: grows by exactly one frame per frame until the end
      for (let k = s1 + 1; k < e1; k++) expect(r.speechMs[k] - r.speechMs[k - 1]).toBeCloseTo(20, 6);
      expect(r.speechMs[e1 - 1]).toBeGreaterThan(ms(lab.speech[lab.speech.length - 1][1] - lab.speech[0][0], rate) - 60);
      // reset by the silence, then measured again from the new onset
      expect(r.speechMs[e1]).toBe(0);
      expect(r.speechMs[s2]).toBeLessThanOrEqual(80);
      expect(Math.abs(ms(r.onset[s2] - (at2 + lab.speech[0][0]), rate))).toBeLessThanOrEqual(40);
      expect(e2).toBeGreaterThan(s2);
    });

    it('fires "duration reached" D after the onset (within one frame) for D = 0, 200 and 500 ms', () => {
      const rate = 16000;
      const c = clips.speechClip(SENTENCE, { rate, atMs: 700 });
      for (const D of [0, 200, 500]) {
        for (const frameMs of [10, 20, 30] as VadFrameMs[]) {
          const r = run(createVad({ sampleRate: rate, frameMs, interruptSpeechDurationMs: D }, { impl }), c.pcm);
          expect(r.reachedAt.length, `D=${D} frame=${frameMs}`).toBeGreaterThanOrEqual(1);
          expect(r.reachedAt.length).toBeLessThanOrEqual(r.starts.length); // at most once per segment
          const k = r.reachedAt[0];
          const onset = r.onset[k];
          expect(onset).toBe(r.onset[r.starts[0]]); // in the first segment
          if (D === 0) {
            expect(k).toBe(r.starts[0]); // immediate: with the start
          } else {
            const due = onset + (D * rate) / 1000;
            expect(r.reached[k]).toBe(due);
            expect(frameEnd(r, k)).toBeGreaterThanOrEqual(due);
            expect(frameEnd(r, k) - due).toBeLessThan(r.frameSamples + 1); // within one frame
            expect(r.speechMs[k]).toBeGreaterThanOrEqual(D);
            expect(r.speechMs[k]).toBeLessThan(D + frameMs + 1);
          }
        }
      }
    });

    it('setInterruptDuration() changes D for the next segments', () => {
      const rate = 8000;
      const c = clips.speechClip(SENTENCE, { rate, atMs: 500 });
      const vad = createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl });
      vad.setInterruptDuration(1000);
      expect(vad.interruptSpeechDurationMs).toBe(1000);
      const r = run(vad, c.pcm);
      const k = r.reachedAt[0];
      expect(r.reached[k] - r.onset[k]).toBe(rate); // 1000 ms
    });

    it('gives no barge-in at D = 200 on noise, tones, music or clicks', () => {
      for (const rate of [8000, 16000] as VadSampleRate[]) {
        const sec = 20;
        const noises: Array<[string, Int16Array]> = [
          ['white', clips.noise('white', sec, rate, -45)],
          ['pink', clips.noise('pink', sec, rate, -40)],
          ['brown', clips.noise('brown', sec, rate, -35)],
          ['ringback 440+480 Hz', clips.tones([440, 480], sec, rate, -25, { onMs: 2000, offMs: 4000 })],
          ['busy 480+620 Hz', clips.tones([480, 620], sec, rate, -25, { onMs: 500, offMs: 500 })],
          ['DTMF', clips.tones([697, 1209], sec, rate, -25, { onMs: 100, offMs: 150 })],
          ['1 kHz sine', clips.tones([1000], sec, rate, -20, { onMs: 3000, offMs: 2000 })],
          ['music', clips.music(sec, rate, -25)],
          ['music, slow notes', clips.music(sec, rate, -30, 400)],
          ['keyboard clicks', clips.mixAt(sec * rate, [{ pcm: clips.clicks(sec, rate, -10), at: 0 }, { pcm: clips.noise('white', sec, rate, -60), at: 0 }])],
        ];
        // AGC-like level steps of pink noise (+-10..15 dB every 5 s)
        const steps = clips.noise('pink', sec, rate, -40, 3);
        noises.push(['pink noise with level steps', Int16Array.from(steps, (v, k) => clips.clamp16(v * 10 ** ([-10, 5, -5, 10][Math.floor(k / (5 * rate))] / 20)))]);
        for (const [name, pcm] of noises) {
          const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), pcm);
          expect(r.reachedAt.length, `${name} at ${rate} Hz`).toBe(0);
        }
      }
    });

    it('reports a new start for each utterance over music and over babble (the background does not hold the segment open)', () => {
      const rate = 16000;
      const texts = ['wait a second', 'no, that is wrong', 'can you repeat that', 'hold on please', 'that sounds good'];
      for (const kind of ['music', 'babble'] as const) {
        const parts: Array<{ pcm: Int16Array; at: number }> = [];
        const truth: Array<[number, number]> = [];
        let t = 3 * rate;
        for (const [k, text] of texts.entries()) {
          const c = clips.speechClip(text, { rate, voice: k % 2 ? 'en-gb+f3' : 'en-us', atMs: 0, speechDb: -20 });
          parts.push({ pcm: c.pcm, at: t });
          truth.push([t + c.speech[0][0], t + c.speech[c.speech.length - 1][1]]);
          t += c.speech[c.speech.length - 1][1] + Math.round(1.5 * rate);
        }
        const bg = kind === 'music' ? clips.music(t / rate + 1, rate, -30) : clips.babble(t / rate + 1, rate, -30, 6, 2);
        parts.push({ pcm: bg.subarray(0, t), at: 0 }); // 10 dB below the speech
        const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), clips.mixAt(t, parts));
        for (const [a, b] of truth) {
          const hit = r.starts.find((k) => frameEnd(r, k) >= a && frameEnd(r, k) <= b + 0.15 * rate);
          expect(hit, `${kind}: utterance at ${ms(a, rate)} ms`).toBeDefined();
        }
      }
    });

    it('a stream that opens in a crowd: the babble stops holding a segment, and the user after it is detected', () => {
      const rate = 16000;
      const texts = ['wait', 'hold on, that is not right'];
      const parts: Array<{ pcm: Int16Array; at: number }> = [];
      const truth: Array<[number, number]> = [];
      let t = 2 * rate;
      for (const text of texts) {
        const c = clips.speechClip(text, { rate, voice: 'en-gb+f3', atMs: 0, speechDb: -20 });
        parts.push({ pcm: c.pcm, at: t });
        truth.push([t + c.speech[0][0], t + c.speech[c.speech.length - 1][1]]);
        t += c.speech[c.speech.length - 1][1] + Math.round(1.5 * rate);
      }
      parts.push({ pcm: clips.babble(t / rate + 1, rate, -30, 6, 4).subarray(0, t), at: 0 }); // from the first sample
      const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), clips.mixAt(t, parts));
      // whatever the first half second started has ended before the user speaks
      expect(r.flags[Math.floor(truth[0][0] / r.frameSamples) - 1] & VadFlag.Speech).toBe(0);
      for (const [a, b] of truth) {
        const hit = r.starts.find((k) => frameEnd(r, k) >= a && frameEnd(r, k) <= b + 0.15 * rate);
        expect(hit, `utterance at ${ms(a, rate)} ms`).toBeDefined();
      }
      expect(r.reachedAt.some((k) => frameEnd(r, k) >= truth[1][0] && frameEnd(r, k) <= truth[1][1] + 0.3 * rate)).toBe(true);
    });

    it('a user who talks as the stream opens keeps the segment for the sentence', () => {
      const rate = 16000;
      const c = clips.speechClip(SENTENCE, { rate, atMs: 150, noise: { kind: 'pink', snrDb: 20 } });
      const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), c.pcm);
      expect(r.starts.length).toBeGreaterThanOrEqual(1);
      expect(r.reachedAt.length).toBeGreaterThanOrEqual(1);
      let lab = 0;
      let hit = 0;
      for (let j = 0; j < c.frameSpeech.length; j++) {
        if (!c.frameSpeech[j]) continue;
        lab++;
        const k = Math.floor((j * 160 + 80) / r.frameSamples);
        if (k < r.flags.length && r.flags[k] & VadFlag.Speech) hit++;
      }
      expect(1 - hit / lab).toBeLessThan(0.1);
    });

    it('starts no segment on DTMF, ringback or busy tones even at D = 0', () => {
      const rate = 16000;
      const sec = 12;
      for (const [f, cad] of [[[697, 1209], { onMs: 100, offMs: 150 }], [[440, 480], { onMs: 2000, offMs: 4000 }], [[480, 620], { onMs: 500, offMs: 500 }]] as const) {
        const pcm = clips.mixAt(sec * rate, [{ pcm: clips.tones([...f], sec, rate, -25, cad), at: 0 }, { pcm: clips.noise('white', sec, rate, -60, 5), at: 0 }]);
        const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), pcm);
        expect(r.starts.length, `${f.join('+')} Hz`).toBe(0);
      }
    });

    describe('echo of the agent (far-end reference given)', () => {
      const texts = ['thanks for calling, how can i help you today', 'your order will arrive on thursday morning', 'is there anything else i can do for you', 'let me check that for you, one moment please', 'the total comes to forty two dollars'];
      function agentAudio(rate: VadSampleRate, sec: number): Int16Array {
        return clips.mixAt(sec * rate, texts.map((t, k) => ({ pcm: clips.speak(t, rate, { voice: 'en-us+f4' }), at: Math.round((0.3 + k * 3.2) * rate) })));
      }

      it('gives no barge-in at D = 200 on echo alone (0-250 ms delay, -3 to -20 dB, low-passed)', () => {
        for (const rate of [8000, 16000] as VadSampleRate[]) {
          const far = agentAudio(rate, 16);
          for (const [delay, gain] of [[0, -3], [40, -12], [120, -20], [250, -6]]) {
            const near = clips.mixAt(far.length, [{ pcm: clips.echoOf(far, rate, delay, gain, 2500), at: 0 }, { pcm: clips.noise('white', 16, rate, -60), at: 0 }]);
            const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), near, far);
            expect(r.reachedAt.length, `delay ${delay} ms, ${gain} dB at ${rate} Hz`).toBe(0);
          }
        }
      });

      it("starts a user without echo (a headset) who talks in the agent's first second, before the echo model has learnt the path, within 150 ms", () => {
        // Until 100 far-end-active hops have passed, the model assumes an echo of the
        // loudest far end at any delay. At +3 dB (before session 19) these starts came
        // 40-359 ms after the onset (three over 200); at -3 dB 39-140 ms. Still not the
        // 60 ms of a learnt path: a user 13 dB under the agent's level stays partly
        // hidden until the model has learnt there is no echo (open).
        const lat: string[] = [];
        const rate = 16000;
        const agent = clips.speak('thanks for calling, how can i help you today', rate, { voice: 'en-us+f4' });
        const farAt = Math.round(1.5 * rate);
        const far = clips.mixAt(6 * rate, [{ pcm: agent, at: farAt }]);
        for (const [text, voice] of [['excuse me, can I ask you something else please', 'en-us'], ['wait, stop, that is not what I asked about at all', 'en-gb']]) {
          for (const afterMs of [300, 600, 800]) {
            const u = clips.speechClip(text, { rate, voice, atMs: 0, speechDb: -26 });
            const at = farAt + Math.round((afterMs * rate) / 1000);
            const near = clips.mixAt(far.length, [{ pcm: u.pcm, at }, { pcm: clips.noise('white', 6, rate, -60), at: 0 }]);
            const onset = at + u.speech[0][0];
            const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), near, far);
            const what = `${text} ${afterMs} ms into the agent`;
            const first = r.starts.find((k) => frameEnd(r, k) > onset);
            lat.push(`${what}: ${first === undefined ? 'none' : ms(frameEnd(r, first) - onset, rate)}`);
          }
        }
        for (const l of lat) expect(Number(l.split(': ')[1]), lat.join('; ')).toBeLessThanOrEqual(150);
      });

      it('still detects the user talking over the agent (double talk)', () => {
        const rate = 16000;
        const far = agentAudio(rate, 16);
        const user = ['wait, stop', 'no, that is wrong', 'hello, can you hear me', 'yes please do that'];
        for (const [delay, gain] of [[40, -12], [120, -20], [250, -6]]) {
          const echo = clips.echoOf(far, rate, delay, gain, 2500);
          const parts = [{ pcm: echo, at: 0 }, { pcm: clips.noise('white', 16, rate, -60), at: 0 }];
          const truth: Array<[number, number]> = [];
          for (const [k, t] of user.entries()) {
            const u = clips.speechClip(t, { rate, voice: 'en-gb+f3', atMs: 0, speechDb: -20 + gain / 2 });
            const at = Math.round((3.5 + 3 * k) * rate); // inside agent sentences, after the echo path is learnt
            parts.push({ pcm: u.pcm, at });
            truth.push([at + u.speech[0][0], at + u.speech[u.speech.length - 1][1]]);
          }
          const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), clips.mixAt(far.length, parts), far);
          for (const [a] of truth) {
            const hit = r.reachedAt.find((k) => frameEnd(r, k) > a && frameEnd(r, k) < a + 0.6 * rate);
            expect(hit, `user at ${ms(a, rate)} ms, echo ${delay} ms ${gain} dB`).toBeDefined();
          }
          // and nothing else: every barge-in is dated inside what the user said
          for (const k of r.reachedAt) {
            const o = r.onset[k];
            expect(truth.some(([a, b]) => o > a - 0.1 * rate && o < b), `barge-in dated ${ms(o, rate)} ms`).toBe(true);
          }
        }
      });

      // The live pattern (regression: the bench's 'echo' user got 10-21 false barge-ins
      // a minute with 0 offline): answers with sentence gaps of digital silence, restarts
      // after 1-3 s, answers cut off mid-word; the delay moving by a 20 ms frame from one
      // answer to the next (the reference is the agent frame most recently sent), or the
      // echo played from a packet FIFO that stops with the agent (the end of a spurt
      // comes back when the next one starts). Any speech start on it is a false barge-in
      // in the session (its policy also acts on speechMs >= D).
      const liveSentences = (rate: VadSampleRate) => texts.map((t) => clips.speak(t, rate, { voice: 'en-us+f4' }));

      it('starts no segment on live-like echo: restarts after silences, sentence gaps, moving delay, held tail', () => {
        const rate = 16000;
        const sentences = liveSentences(rate);
        for (const [delay, gain, held] of [[140, -12, false], [140, -12, true], [60, -6, false], [250, -20, true], [60, -20, true], [250, -6, false]] as const) {
          const { far, near } = clips.liveEcho({ rate, seconds: 30, sentences, delayMs: delay, gainDb: gain, heldTail: held, seed: 5 });
          const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), near, far);
          expect(r.starts.map((k) => ms(frameEnd(r, k), rate)), `echo ${delay} ms ${gain} dB${held ? ', held tail' : ''}`).toEqual([]);
        }
      });

      it('still detects the user talking over live-like echo, even right after the agent restarts', () => {
        const rate = 16000;
        const sentences = liveSentences(rate);
        const F = rate / 50;
        const user = ['wait, stop', 'no, that is wrong', 'hello, can you hear me', 'yes please do that'];
        for (const [delay, gain, held] of [[140, -12, true], [250, -20, false]] as const) {
          const { far, near } = clips.liveEcho({ rate, seconds: 40, sentences, delayMs: delay, gainDb: gain, heldTail: held, seed: 3 });
          // answer starts: the first far frame with samples after >= 1 s of digital silence
          const restarts: number[] = [];
          for (let k = 0, zeros = 0; k * F < far.length; k++) {
            const silent = far.subarray(k * F, (k + 1) * F).every((v) => v === 0);
            if (!silent && zeros >= 50 && k * F > 5 * rate) restarts.push(k * F);
            zeros = silent ? zeros + 1 : 0;
          }
          const parts = [{ pcm: near, at: 0 }];
          const truth: Array<[number, number]> = [];
          let last = -Infinity;
          for (const s of restarts) {
            if (s - last < 4 * rate) continue;
            const j = truth.length;
            const u = clips.speechClip(user[j % user.length], { rate, voice: 'en-gb+f3', atMs: 0, speechDb: -20 + gain / 2 });
            const at = s + Math.round([0.02, 0.1, 0.6][j % 3] * rate) - u.speech[0][0]; // 20 ms, 100 ms, 600 ms after the restart
            parts.push({ pcm: u.pcm, at });
            truth.push([at + u.speech[0][0], at + u.speech[u.speech.length - 1][1]]);
            last = s;
          }
          expect(truth.length).toBeGreaterThanOrEqual(3);
          const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), clips.mixAt(near.length, parts), far);
          for (const [a] of truth) {
            const hit = r.reachedAt.find((k) => frameEnd(r, k) > a && frameEnd(r, k) < a + 0.6 * rate);
            expect(hit, `user at ${ms(a, rate)} ms, echo ${delay} ms ${gain} dB${held ? ', held tail' : ''}`).toBeDefined();
          }
          for (const k of r.reachedAt) {
            const o = r.onset[k];
            expect(truth.some(([a, b]) => o > a - 0.1 * rate && o < b), `barge-in dated ${ms(o, rate)} ms`).toBe(true);
          }
        }
      });

      it('starts a fricative or breathy onset over the agent\'s echo about as soon as without it (4-8 kHz beyond the predicted echo counts)', () => {
        // regression: over an active far end the 4-8 kHz band did not count at all, so
        // "so", "sorry", "see" over the agent's echo started at their vowel, up to 80 ms
        // later than without it (bench:bargein's D = 0 tail); now the band counts above
        // the echo the model predicts in it. Placed every 250 ms across 3.5 s of the
        // agent's speech (the echo's own fricatives still mask some placements).
        const rate = 16000;
        const far = agentAudio(rate, 12);
        const bed = clips.noise('pink', 12, rate, -60, 3);
        const echo = clips.echoOf(far, rate, 140, -12, 3000);
        const startMs = (pcm: Int16Array, withFar: boolean, onset: number): number => {
          const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl }), pcm, withFar ? far : undefined);
          const k = r.starts.find((j) => frameEnd(r, j) > onset - 0.1 * rate);
          return k === undefined ? Infinity : ms(frameEnd(r, k) - onset, rate);
        };
        for (const [j, text] of ['so what about the price', 'sorry to interrupt', 'see, that is not right'].entries()) {
          const u = clips.speechClip(text, { rate, voice: j % 2 ? 'en-gb+f3' : 'en-us+m3', atMs: 0, speechDb: -26 });
          const extra: number[] = [];
          for (let t = 6; t < 9.5; t += 0.25) {
            const at = Math.round(t * rate);
            const onset = at + u.speech[0][0];
            const alone = startMs(clips.mixAt(far.length, [{ pcm: bed, at: 0 }, { pcm: u.pcm, at }]), false, onset);
            const echoed = startMs(clips.mixAt(far.length, [{ pcm: echo, at: 0 }, { pcm: bed, at: 0 }, { pcm: u.pcm, at }]), true, onset);
            extra.push(echoed - alone);
          }
          const mean = extra.reduce((x, y) => x + y, 0) / extra.length;
          expect(mean, `${text}: extra ms over echo ${extra.map(Math.round).join(' ')}`).toBeLessThanOrEqual(12);
          expect(Math.max(...extra), `${text}: extra ms over echo ${extra.map(Math.round).join(' ')}`).toBeLessThanOrEqual(45);
        }
      });
      it('re-learns an echo path that changes mid-call: the false barge-ins stop within seconds', () => {
        // a handset put on speaker: the echo jumps from 140 ms -12 dB to 60 ms -6 dB while
        // the agent keeps talking. The shadow fit that learns through the false segments is
        // adopted once the far end explains them (bench/vad/pathChange.ts: false barge-ins
        // went on for up to 58 s after such a jump before it)
        const rate = 16000;
        const sentences = liveSentences(rate);
        const a = clips.liveEcho({ rate, seconds: 30, sentences, delayMs: 140, gainDb: -12, heldTail: true, seed: 5 });
        const b = clips.liveEcho({ rate, seconds: 40, sentences, delayMs: 60, gainDb: -6, heldTail: false, seed: 6 });
        const r = run(createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl }), cat(a.near, b.near), cat(a.far, b.far));
        const at = r.reachedAt.map((k) => +(frameEnd(r, k) / rate).toFixed(1));
        expect(at.filter((t) => t < 30), 'before the change').toEqual([]);
        expect(at.filter((t) => t > 30 + 10), `false barge-ins at ${at.join(', ')} s`).toEqual([]);
      });

      it('starts the user over an active far end (no echo on the line) as soon as over a silent one, round after round', () => {
        // regression: the hop that begins a word was learnt as echo before the detector
        // knew it was a candidate (its state comes after the echo model's hop), so a
        // user's "excuse me" over the agent hid its own 4-8 kHz and started at the vowel,
        // 20 ms later, in some rounds (bench/vad/rounds.ts: D = 0 p99 59 ms against 43)
        const rate = 16000;
        const F = rate / 50;
        // bench:bargein's agent answer and its "excuse me" user (before: 59 ms instead of
        // 39 in 4 of these 16 rounds)
        const answer = clips.speak('Thank you for calling. Let me walk you through the options we have for your account today. First, there is the standard plan, which includes unlimited calls and a generous data allowance.', rate);
        const user = clips.speechClip('excuse me, can I ask you something else please', { rate, voice: 'en-us', atMs: 0, speechDb: -20 });
        const bed = clips.noise('pink', 1, rate, -60, 7);
        const rnd = clips.prng(11);
        const places = Array.from({ length: 16 }, () => Math.round((0.8 + 2.2 * rnd()) * 50));
        const latencies = (withFar: boolean): number[] => {
          const vad = createVad({ sampleRate: rate, frameMs: 20, interruptSpeechDurationMs: 0 }, { impl });
          const silent = new Int16Array(F);
          let b = 0;
          const room = () => {
            const k = b++ % 50;
            return bed.subarray(k * F, (k + 1) * F);
          };
          for (let k = 0; k < 50; k++) vad.process(room(), silent);
          const out: number[] = [];
          for (const speakAt of places) {
            let a = 0;
            let on = withFar;
            const far = () => (on && (a + 1) * F <= answer.length ? answer.subarray(a * F, ++a * F) : silent);
            for (let k = 0; k < 30 + speakAt; k++) vad.process(room(), k < 30 ? silent : far());
            let got = Infinity;
            for (let i = 0; i + F <= user.pcm.length; i += F) {
              const near = clips.mixAt(F, [{ pcm: room(), at: 0 }, { pcm: user.pcm.subarray(i, i + F), at: 0 }]);
              if (vad.process(near, far()) & VadFlag.SpeechStart && got === Infinity) {
                got = ms(i + F - user.speech[0][0], rate);
                on = false; // the barge-in: the agent stops
              }
            }
            for (let k = 0; k < 60; k++) vad.process(room(), far());
            out.push(got);
          }
          return out;
        };
        const alone = latencies(false);
        const over = latencies(true);
        const extra = over.map((v, k) => v - alone[k]);
        expect(Math.max(...extra), `over the far end ${over.join(' ')} ms; alone ${alone.join(' ')} ms`).toBeLessThanOrEqual(5);
      });
    });

    it('works at 8, 16 and 48 kHz with 10, 20 and 30 ms frames', () => {
      for (const rate of [8000, 16000, 48000] as VadSampleRate[]) {
        const c = clips.speechClip(SENTENCE, { rate, atMs: 600, noise: { kind: 'pink', snrDb: 20 } });
        for (const frameMs of [10, 20, 30] as VadFrameMs[]) {
          const vad = createVad({ sampleRate: rate, frameMs }, { impl });
          expect(vad.frameSamples).toBe((rate / 1000) * frameMs);
          const r = run(vad, c.pcm);
          expect(r.starts.length, `${rate}/${frameMs}`).toBeGreaterThanOrEqual(1);
          const lat = ms(frameEnd(r, r.starts[0]) - c.speech[0][0], rate);
          expect(lat, `${rate}/${frameMs}`).toBeLessThanOrEqual(60 + frameMs);
          expect(Math.abs(ms(r.onset[r.starts[0]] - c.speech[0][0], rate)), `${rate}/${frameMs}`).toBeLessThanOrEqual(40);
          expect(r.reachedAt.length).toBeGreaterThanOrEqual(1);
          // labelled speech frames are mostly inside detected segments
          const f = rate / 100;
          let lab = 0;
          let hit = 0;
          for (let j = 0; j < c.frameSpeech.length; j++) {
            if (!c.frameSpeech[j]) continue;
            lab++;
            const k = Math.floor((j * f + f / 2) / r.frameSamples);
            if (k < r.flags.length && r.flags[k] & VadFlag.Speech) hit++;
          }
          expect(1 - hit / lab, `${rate}/${frameMs} miss rate`).toBeLessThan(0.05);
        }
      }
    });

    it('detects speech 30 dB below and at full level alike (level changes, AGC)', () => {
      for (const speechDb of [-50, -20, -3]) {
        const c = clips.speechClip(SENTENCE, { rate: 16000, atMs: 500, speechDb, noise: speechDb === -50 ? undefined : { kind: 'pink', snrDb: 25 } });
        const r = run(createVad({ sampleRate: 16000, frameMs: 20 }, { impl }), c.pcm);
        expect(r.starts.length, `${speechDb} dBFS`).toBeGreaterThanOrEqual(1);
        expect(ms(frameEnd(r, r.starts[0]) - c.speech[0][0], 16000), `${speechDb} dBFS`).toBeLessThanOrEqual(60);
        expect(r.reachedAt.length, `${speechDb} dBFS`).toBeGreaterThanOrEqual(1);
      }
    });

    it('reset() forgets the stream: the same input gives the same output again', () => {
      const c = clips.speechClip(SENTENCE, { rate: 16000, atMs: 400, noise: { kind: 'brown', snrDb: 15 } });
      const vad = createVad({ sampleRate: 16000, frameMs: 30 }, { impl });
      const a = run(vad, c.pcm);
      vad.reset();
      expect(vad.speaking).toBe(false);
      expect(vad.onsetSample).toBe(-1);
      const b = run(vad, c.pcm);
      expect(b.flags).toEqual(a.flags);
      expect(b.speechMs).toEqual(a.speechMs);
    });
  });
}

describe('vad parity', () => {
  // The native core computes its signal path in float with 4-lane vectors (vad.cpp);
  // the TS fallback computes the same steps in double. So the two are not bit-identical:
  // they must make the same decisions (flags, speechMs, onset) frame by frame on real
  // clips, with scores and SNRs equal to within a small tolerance.
  it.skipIf(!nativeVadAvailable())('native and TS make the same decisions frame by frame on real clips (scores within 1e-3)', () => {
    const cases: Array<{ rate: VadSampleRate; pcm: Int16Array; far?: Int16Array }> = [];
    for (const rate of [8000, 16000, 48000] as VadSampleRate[]) {
      cases.push({ rate, pcm: clips.speechClip(SENTENCE, { rate, noise: { kind: 'white', snrDb: 10 } }).pcm });
      cases.push({ rate, pcm: clips.speechClip('wait, that is not what i asked for', { rate, voice: 'en-gb+f3', noise: { kind: 'babble', snrDb: 10 } }).pcm });
      cases.push({ rate, pcm: clips.music(8, rate, -25) });
      // the onset stage's starts (a fricative-initial word after 2.5 s of noise)
      cases.push({ rate, pcm: clips.speechClip('so how much is it', { rate, atMs: 2500, noise: { kind: 'white', snrDb: 10 } }).pcm });
      cases.push({ rate, pcm: clips.speechClip('thanks, that is all', { rate, voice: 'en-gb', atMs: 2500, noise: { kind: 'pink', snrDb: 10 } }).pcm });
      // ... over babble and music, on the 4-8 kHz band alone
      cases.push({ rate, pcm: clips.speechClip('sure, go ahead', { rate, atMs: 3000, noise: { kind: 'babble', snrDb: 10 } }).pcm });
      {
        const c = clips.speechClip('stop right there', { rate, atMs: 3000, speechDb: -20 }).pcm;
        cases.push({ rate, pcm: clips.mixAt(c.length, [{ pcm: c, at: 0 }, { pcm: clips.music(c.length / rate + 1, rate, -30).subarray(0, c.length), at: 0 }]) });
      }
      const far = clips.speechClip('thanks for calling, how can i help you today', { rate, atMs: 100 }).pcm;
      const user = clips.speechClip('hello, can you hear me', { rate, atMs: 1500, speechDb: -26 }).pcm;
      const near = clips.mixAt(far.length, [{ pcm: clips.echoOf(far, rate, 80, -10), at: 0 }, { pcm: user, at: 0 }]);
      cases.push({ rate, pcm: near, far });
    }
    {
      // the live echo pattern: restarts after silences, held tail, moving delay
      const sentences = ['thanks for calling, how can i help you today', 'is there anything else i can do for you'].map((t) => clips.speak(t, 16000, { voice: 'en-us+f4' }));
      for (const heldTail of [false, true]) {
        const { far, near } = clips.liveEcho({ rate: 16000, seconds: 15, sentences, delayMs: 140, gainDb: -12, heldTail, seed: 7 });
        const user = clips.speechClip('hello, can you hear me', { rate: 16000, atMs: 9000, speechDb: -26 }).pcm;
        cases.push({ rate: 16000, pcm: clips.mixAt(near.length, [{ pcm: near, at: 0 }, { pcm: user, at: 0 }]), far });
      }
      // an echo path that changes mid-stream (the shadow fit adopted), then a user
      const a = clips.liveEcho({ rate: 16000, seconds: 12, sentences, delayMs: 140, gainDb: -12, heldTail: true, seed: 5 });
      const b = clips.liveEcho({ rate: 16000, seconds: 16, sentences, delayMs: 60, gainDb: -6, heldTail: false, seed: 6 });
      const user = clips.speechClip('hello, can you hear me', { rate: 16000, atMs: 25000, speechDb: -20 }).pcm;
      const near = cat(a.near, b.near);
      cases.push({ rate: 16000, pcm: clips.mixAt(near.length, [{ pcm: near, at: 0 }, { pcm: user, at: 0 }]), far: cat(a.far, b.far) });
    }
    // The cores themselves (not createVad), for their per-hop features.
    const Native = requireNative().NativeVad as unknown as NativeVadCtor;
    const hash = (x: Int16Array) => createHash('sha1').update(Buffer.from(x.buffer, x.byteOffset, x.byteLength)).digest('hex').slice(0, 10);
    let frames = 0;
    let maxScore = 0;
    let maxSnr = 0;
    let worst = '';
    // frames whose scores differ because a sustain block sat on its threshold (see below)
    const flips: string[] = [];
    const oa = new Float64Array(VadOut.Count);
    const ob = new Float64Array(VadOut.Count);
    const fa = new Float64Array(11);
    for (const [k, c] of cases.entries()) {
      for (const frameMs of [10, 20, 30] as VadFrameMs[]) {
        const a = new Native(c.rate, frameMs, 200, 200);
        const b = new VadFallback({ sampleRate: c.rate, frameMs, interruptMs: 200, hangoverMs: 200 });
        const n = (c.rate / 1000) * frameMs;
        for (let i = 0; i + n <= c.pcm.length; i += n) {
          const far = c.far ? c.far.subarray(i, i + n) : null;
          const flagsA = a.process(c.pcm.subarray(i, i + n), far, oa);
          const flagsB = b.process(c.pcm.subarray(i, i + n), far, ob);
          frames++;
          const where = `case ${k} (${c.rate} Hz, pcm ${hash(c.pcm)}${c.far ? `, far ${hash(c.far)}` : ''}) at ${frameMs} ms, sample ${i}`;
          if (flagsA !== flagsB || oa[VadOut.SpeechMs] !== ob[VadOut.SpeechMs] || oa[VadOut.Onset] !== ob[VadOut.Onset]) {
            throw new Error(`parity broken in ${where}: flags ${flagsA} vs ${flagsB}, speechMs ${oa[VadOut.SpeechMs]} vs ${ob[VadOut.SpeechMs]}`);
          }
          expect(oa[VadOut.EchoDelayMs], where).toBe(ob[VadOut.EchoDelayMs]);
          const d = Math.abs(oa[VadOut.Score] - ob[VadOut.Score]);
          a.features(fa);
          const f = b.features;
          const detail = `${where}: score ${oa[VadOut.Score]} vs ${ob[VadOut.Score]}, sustain ${fa[1]} vs ${f.sustain}, harm ${fa[2]} vs ${f.harm}, snrDb ${fa[0]} vs ${f.snrDb}`;
          if (d > 1e-3 && (Math.abs(fa[1] - f.sustain) > 1e-9 || Math.abs(fa[2] - f.harm) > 1e-3)) flips.push(detail);
          else if (d > maxScore) {
            maxScore = d;
            worst = detail;
          }
          maxSnr = Math.max(maxSnr, Math.abs(oa[VadOut.SnrDb] - ob[VadOut.SnrDb]));
        }
      }
    }
    expect(frames).toBeGreaterThan(10000);
    expect(maxScore, worst).toBeLessThan(1e-3);
    // Two features are discrete: the sustain gate counts 2 ms blocks over a threshold,
    // and the periodicity is the best of a coarse grid of lags refined around the grid's
    // best. A block within float's rounding of its threshold may count in one core and
    // not in the other, and two near-equal lags of the grid may swap (the refinement then
    // looks at another peak: 0.17 against 0.46 on one hop at 48 kHz). The score then
    // moves by a step while every decision stays the same. Rare: one frame in ~34,000
    // with the clips this machine's espeak-ng and sox make.
    expect(flips.length, flips.join('\n')).toBeLessThanOrEqual(Math.ceil(frames / 5000));
    // SNR is reported in dB from float (native) vs double (TS) arithmetic; the noise
    // clips differ from machine to machine (sox's generators), and differences up to
    // ~0.02 dB were seen without any decision changing.
    expect(maxSnr).toBeLessThan(0.1);
    // (three rates x three frame sizes x both sides: minutes on a loaded 2-core machine)
  }, 240_000);
});

describe('vad arguments', () => {
  const bad = (fn: () => unknown, code: string) => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect((e as InvalidParameterError).code).toBe(code);
      return;
    }
    throw new Error(`expected ${code}`);
  };

  it('createVad() rejects a bad rate, frame size, duration or hangover with InvalidParameterError', () => {
    bad(() => createVad({ sampleRate: 44100 as VadSampleRate }), 'InvalidParameter.SampleRate');
    bad(() => createVad({ sampleRate: 16000, frameMs: 25 as VadFrameMs }), 'InvalidParameter.FrameMs');
    bad(() => createVad({ sampleRate: 16000, interruptSpeechDurationMs: -1 }), 'InvalidParameter.InterruptSpeechDuration');
    bad(() => createVad({ sampleRate: 16000, interruptSpeechDurationMs: 200.5 }), 'InvalidParameter.InterruptSpeechDuration');
    bad(() => createVad({ sampleRate: 16000, hangoverMs: 10 }), 'InvalidParameter.HangoverMs');
  });

  for (const impl of impls) {
    it(`process() rejects a frame of the wrong size (${impl})`, () => {
      const vad = createVad({ sampleRate: 16000, frameMs: 20 }, { impl });
      bad(() => vad.process(new Int16Array(319)), 'InvalidParameter.FrameSize');
      bad(() => vad.process(new Float32Array(320) as unknown as Int16Array), 'InvalidParameter.FrameSize');
      bad(() => vad.process(new Int16Array(320), new Int16Array(160)), 'InvalidParameter.FarEnd');
      bad(() => vad.setInterruptDuration(20000), 'InvalidParameter.InterruptSpeechDuration');
      expect(vad.process(new Int16Array(320))).toBe(0);
    });
  }

  it.skipIf(!nativeVadAvailable())('the native object throws TypeError with code ERR_VAD_ARG when misused directly', async () => {
    const { nativeAddon } = await import('../../src/native/addon');
    const Ctor = nativeAddon()!.NativeVad as unknown as new (...a: unknown[]) => { process(...a: unknown[]): number };
    expect(() => new Ctor(44100, 20, 200, 200)).toThrow(expect.objectContaining({ code: 'ERR_VAD_ARG' }));
    const v = new Ctor(16000, 20, 200, 200);
    expect(() => v.process(new Int16Array(10), null, new Float64Array(9))).toThrow(TypeError);
    expect(() => v.process(new Int16Array(320), null, new Float64Array(2))).toThrow(expect.objectContaining({ code: 'ERR_VAD_ARG' }));
    expect(v.process(new Int16Array(320), null, new Float64Array(9))).toBe(0);
  });
});
