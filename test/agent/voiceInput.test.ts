/**
 * VoiceInput: utterances for the recogniser, with the end of turn after a silence
 * (ASRConfig.VADConfig.SilenceTime), on real espeak-ng speech and the real VAD.
 */
import { describe, expect, it } from 'vitest';
import { VoiceInput, type Utterance } from '../../src/agent/voiceInput';
import { createVadStream } from '../../src/agent/vadFactory';
import * as clips from '../helpers/clips';
import { concat as concatParts } from '../helpers/audio';

const RATE = 16000;
const F = 320;

const concat = (...parts: Int16Array[]): Int16Array => concatParts(parts);

function silence(ms: number): Int16Array {
  return new Int16Array((RATE * ms) / 1000);
}

/** Feeds `pcm` as 20 ms packets, 20 ms apart in arrival time, starting at t0. */
function feed(v: VoiceInput, pcm: Int16Array, t0: number): number {
  let t = t0;
  for (let i = 0; i + F <= pcm.length; i += F, t += 20) v.push(pcm.subarray(i, i + F), t, null);
  return t;
}

function input(endOfTurnMs: number, out: Utterance[]): VoiceInput {
  const vad = createVadStream({ sampleRate: RATE, frameMs: 20, interruptMs: 200 });
  return new VoiceInput(vad, RATE, 20, () => {}, (u) => out.push(u), endOfTurnMs);
}

/** The clip cut to its labelled speech (espeak-ng pads both ends with silence). */
function trimmed(p: Int16Array): Int16Array {
  const sp = clips.labelSpeech(p, RATE).speech;
  return p.slice(sp[0]![0], sp[sp.length - 1]![1]);
}

describe('VoiceInput: end of turn', () => {
  const first = trimmed(clips.speak('I would like to book a table', RATE));
  const second = trimmed(clips.speak('for two people tomorrow evening', RATE));
  const speechMs = (p: Int16Array) => (clips.labelSpeech(p, RATE).speech.reduce((a, [s, e]) => a + (e - s), 0) * 1000) / RATE;

  it('a 400 ms pause inside a sentence does not end the turn at 600 ms; it does at 200 ms', () => {
    const audio = concat(silence(500), first, silence(400), second, silence(1200));
    const long: Utterance[] = [];
    feed(input(600, long), audio, 0);
    expect(long).toHaveLength(1);
    // both phrases are in it
    expect(speechMs(long[0]!.pcm)).toBeGreaterThan(0.9 * (speechMs(first) + speechMs(second)));
    const short: Utterance[] = [];
    feed(input(200, short), audio, 0);
    expect(short).toHaveLength(2);
  });

  it('a resumed phrase dates barge-ins from its own onset; the utterance keeps the first', () => {
    const out: Utterance[] = [];
    const starts: number[] = [];
    const vad = createVadStream({ sampleRate: RATE, frameMs: 20, interruptMs: 200 });
    const v = new VoiceInput(vad, RATE, 20, (r, vi) => r.speechStart && starts.push(vi.onsetArrivalMs), (u) => out.push(u), 600);
    feed(v, concat(silence(500), first, silence(400), second, silence(1200)), 0);
    expect(starts).toHaveLength(2);
    expect(out).toHaveLength(1);
    expect(out[0]!.onsetArrivalMs).toBe(starts[0]);
    // the second phrase starts ~400 ms after the first one ends
    expect(starts[1]! - starts[0]!).toBeGreaterThan(first.length / (RATE / 1000) + 300);
  });

  it('hands the utterance over after the silence, trimmed to the speech plus a short tail', () => {
    const out: Utterance[] = [];
    const v = input(600, out);
    let t = feed(v, concat(silence(500), first), 0);
    const speechEndAt = t;
    // silence arrives frame by frame; the turn ends ~600 ms after the last speech
    let endedAt = -1;
    for (let k = 0; k < 100 && endedAt < 0; k++) {
      t = feed(v, silence(20), t);
      if (out.length) endedAt = t;
    }
    expect(out).toHaveLength(1);
    expect(endedAt - speechEndAt).toBeGreaterThanOrEqual(550);
    expect(endedAt - speechEndAt).toBeLessThanOrEqual(750);
    // pre-roll (300 ms) + the phrase + tail (100 ms), not the 600 ms of silence after it
    expect(out[0]!.pcm.length / (RATE / 1000)).toBeLessThan(first.length / (RATE / 1000) + 300 + 200);
  });

  it('ends the turn on the clock when the client stops sending in silence (poll)', () => {
    const out: Utterance[] = [];
    const v = input(600, out);
    const t = feed(v, concat(silence(500), first, silence(100)), 0);
    expect(out).toHaveLength(0);
    v.poll(t + 300);
    expect(out).toHaveLength(0);
    v.poll(t + 800);
    expect(out).toHaveLength(1);
    expect(v.speaking).toBe(false);
  });

  it('ends the turn on the clock when packets stop mid-speech (a dropped stream)', () => {
    const out: Utterance[] = [];
    const v = input(600, out);
    const half = first.subarray(0, Math.floor(first.length * 0.6));
    const t = feed(v, concat(silence(500), half), 0);
    expect(v.speaking).toBe(true);
    v.poll(t + 500);
    expect(out).toHaveLength(0);
    v.poll(t + 900);
    expect(out).toHaveLength(1);
  });
});
