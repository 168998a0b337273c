/**
 * Audio the simulated users send and the TTS server speaks, generated once per
 * run with the same tools the tests use (espeak-ng, sox), with known labels:
 * the true onset sample of each speech clip is measured on the clean clip.
 */
import { speak, labelSpeech, noise, music, clicks, babble } from '../../test/helpers/clips';
import { sine } from '../../test/helpers/audio';

export const RATE = 16000;
export const FRAME = 320;

export interface LabelledClip {
  pcm: Int16Array;
  /** The clip as 20 ms frames (shared arrays, so transports can cache their encoding). */
  frames: Int16Array[];
  /** First sample of speech. */
  onset: number;
  /** Speech samples in the clip (sum of labelled spans). */
  speechSamples: number;
  /** Speech spans of the clean clip, gaps under 100 ms merged (a detector may decide inside those). */
  spans: [number, number][];
}

/**
 * How long the user is silent when D elapses: ms from onset + D to the next speech
 * sample, when onset + D falls in a pause of 100 ms or more ("wait, | stop"). No
 * detector can know then that the user will go on, and one that decided anyway would
 * interrupt on every word shorter than D: that wait is part of the latency but not
 * of what the bridge can shorten.
 */
export function pauseAtD(clip: LabelledClip, dMs: number): number {
  const at = clip.onset + (dMs * RATE) / 1000;
  for (const [s, e] of clip.spans) {
    if (at < s) return ((s - at) * 1000) / RATE;
    if (at < e) return 0;
  }
  return 0;
}

function framesOf(pcm: Int16Array): Int16Array[] {
  const out: Int16Array[] = [];
  for (let i = 0; i + FRAME <= pcm.length; i += FRAME) out.push(pcm.slice(i, i + FRAME));
  return out;
}

function labelled(pcm: Int16Array, leadMs: number): LabelledClip {
  const lead = new Int16Array((RATE * leadMs) / 1000);
  const full = new Int16Array(lead.length + pcm.length);
  full.set(pcm, lead.length);
  const spans = labelSpeech(pcm, RATE).speech;
  const fine = labelSpeech(pcm, RATE, -40, 100).speech.map(([s, e]) => [lead.length + s, lead.length + e] as [number, number]);
  return { pcm: full, frames: framesOf(full), onset: lead.length + (spans[0]?.[0] ?? 0), speechSamples: spans.reduce((a, [s, e]) => a + (e - s), 0), spans: fine };
}

/**
 * The clip started `shift` samples later, the room's bed before it. A user's first word
 * falls anywhere within a 20 ms packet, and a detector's delay depends on where (its
 * hops, the packet's end). With a clip's lead fixed, its onset sat at one phase of the
 * packet in every barge-in, so a cell's tail was one clip at one phase (session 18:
 * every D = 0 overhead over 22 ms was "wait, stop" at 40.9 ms of audio).
 */
export function shiftClip(clip: LabelledClip, shift: number, bed: Int16Array[]): LabelledClip {
  if (shift <= 0) return clip;
  const pcm = new Int16Array(shift + clip.pcm.length);
  for (let i = 0; i < shift; i++) pcm[i] = bed[Math.floor(i / FRAME) % bed.length]![i % FRAME]!;
  pcm.set(clip.pcm, shift);
  return {
    pcm,
    frames: framesOf(pcm),
    onset: clip.onset + shift,
    speechSamples: clip.speechSamples,
    spans: clip.spans.map(([s, e]) => [s + shift, e + shift] as [number, number]),
  };
}

function mixInto(dst: Int16Array, src: Int16Array): Int16Array {
  const out = new Int16Array(dst.length);
  for (let i = 0; i < dst.length; i++) out[i] = Math.max(-32768, Math.min(32767, dst[i] + (src[i % src.length] ?? 0)));
  return out;
}

export interface BenchAssets {
  /** Barge-in utterances (different speakers), each long enough for D = 500 + margin. */
  speech: LabelledClip[];
  /** A backchannel shorter than 500 ms of speech, for the wrongful-interrupt count at D = 500. */
  short: LabelledClip;
  /** Quiet room noise sent between utterances (-60 dBFS pink), as 20 ms frames. */
  bed: Int16Array[];
  /** Noise-only user audio: white/pink/brown noise, babble, music-like tones, clicks (~40 s). */
  noiseOnly: Int16Array[];
  /** Frame indices in noiseOnly where a new environment starts. */
  noiseScenes: number[];
}

export function makeAssets(): BenchAssets {
  const lines = [
    ['excuse me, can I ask you something else please', 'en-us'],
    ['wait, stop, that is not what I asked about at all', 'en-gb'],
    ['hold on a second, I have a different question', 'en-us+f3'],
    ['sorry to interrupt, but could you repeat the price', 'en-us+m3'],
  ] as const;
  const bed = noise('pink', 4, RATE, -60, 11);
  const speech = lines.map(([text, voice], i) => {
    const c = labelled(speak(text, RATE, { voice }), 200 + 37 * i);
    const pcm = mixInto(c.pcm, bed);
    return { ...c, pcm, frames: framesOf(pcm) };
  });
  const shortRaw = labelled(speak('ok', RATE, { speed: 260 }), 200);
  const shortPcm = mixInto(shortRaw.pcm, bed);
  const short = { ...shortRaw, pcm: shortPcm, frames: framesOf(shortPcm) };
  // The environments follow each other abruptly (a stress test: a crowd or music that
  // appears from one frame to the next looks like someone starting to talk); the bench
  // reports false barge-ins at these scene changes apart from the steady state.
  const scenes = [
    noise('white', 5, RATE, -35, 3),
    noise('pink', 5, RATE, -30, 4),
    noise('brown', 5, RATE, -28, 5),
    babble(10, RATE, -32),
    music(8, RATE, -30),
    clicks(5, RATE, -12),
    mixInto(sine(1000, RATE, 2, 3000), bed),
  ];
  const noiseOnly = framesOf(Int16Array.from(scenes.flatMap((p) => [...p])));
  const noiseScenes: number[] = [];
  for (let at = 0, k = 0; k < scenes.length; at += scenes[k]!.length, k++) noiseScenes.push(Math.floor(at / FRAME));
  return { speech, short, bed: framesOf(bed), noiseOnly, noiseScenes };
}

/** What the TTS server speaks: a long espeak-ng paragraph at 16 kHz (cached by the clip helpers). */
export function agentSpeech(): Int16Array {
  return speak(
    'Thank you for calling. Let me walk you through the options we have for your account today. ' +
      'First, there is the standard plan, which includes unlimited calls and a generous data allowance. ' +
      'Second, the premium plan adds international roaming and priority support at any hour.',
    RATE,
  );
}
