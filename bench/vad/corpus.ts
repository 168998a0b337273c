/**
 * The labelled set of the VAD bench, generated here with real tools (espeak-ng
 * speech, sox noise/music/tones; see test/helpers/clips.ts, which caches every
 * sox/espeak output under test/.tmp/clips).
 *
 * - Speech sessions: 16 utterances (0.3-5 s, from "ok" to long sentences, 8
 *   espeak-ng speakers, 130-200 wpm) placed 1.2-2.4 s apart after 2 s of lead-in,
 *   in white/pink/brown noise, babble, music or clicks at 20/10/5/0 dB SNR, and
 *   clean. The same utterance sequence is used for a given background at every
 *   SNR, so the SNR columns differ only by the noise level.
 * - Noise-only clips (no speech at all) and echo-only clips (the agent's own TTS
 *   coming back, delayed/attenuated/low-passed, with the far-end reference).
 *
 * Labels: each utterance's true span is from the first to the last sample of its
 * clean TTS output above -40 dB of its loudest 10 ms frame (labelSpeech), shifted
 * by where it was placed; noise added on top does not move them.
 */
import * as clips from '../../test/helpers/clips';

export const RATE = 16000 as const;

export interface Utterance {
  text: string;
  voice: string;
  speed: number;
  /** First and last+1 labelled speech sample in the clip. */
  start: number;
  end: number;
  /** Longest labelled stretch without a gap of 250 ms or more, ms. */
  longestMs: number;
}

export interface SpeechSession {
  name: string;
  background: Background;
  snrDb: number | null; // null = clean
  pcm: Int16Array;
  utts: Utterance[];
  /** Per 10 ms: 1 where the clean speech had energy (frame-level miss). */
  frameSpeech: Uint8Array;
}

export interface NoClip {
  name: string;
  group: 'noise' | 'echo';
  pcm: Int16Array;
  /** Echo clips: what the agent was playing (the far-end reference). */
  far?: Int16Array;
}

export type Background = 'clean' | 'white' | 'pink' | 'brown' | 'babble' | 'music' | 'clicks';
export const BACKGROUNDS: Background[] = ['white', 'pink', 'brown', 'babble', 'music', 'clicks'];
export const SNRS = [20, 10, 5, 0];

const TEXTS = [
  // backchannels and short interjections (~0.3-0.6 s)
  'ok', 'yes', 'no', 'stop', 'wait', 'sure', 'right', 'hello', 'uh huh', 'thanks', 'sorry', 'what',
  // short phrases (~0.7-1.5 s)
  'wait a second', 'no, that is wrong', 'can you repeat that', 'hold on please', 'what time is it',
  'i need some help', 'that sounds good', 'go ahead', 'excuse me', 'not now',
  // sentences (~2-5 s)
  'i would like to change the delivery address for my last order',
  'could you tell me how much a ticket to boston costs on friday',
  'my internet connection has been dropping every few minutes since yesterday',
  'please send the invoice to my office address instead of my home',
  'so basically what i am saying is that the first offer was better',
  'fine, then book the earliest flight on monday morning for two people',
  'hmm, let me think about it and call you back after lunch',
  'seven four two nine, and the security code is three one eight',
];

const VOICES = ['en-us', 'en-gb+f3', 'en-us+m3', 'en-gb-scotland+f2', 'en-029+m1', 'en-gb-x-rp+f4', 'en-us-nyc+m5', 'en-gb-x-gbclan+f1'];
const SPEEDS = [130, 165, 200];
const UTTS_PER_SESSION = 16;
const LEAD_IN_S = 2;
const NOISE_SOURCE_S = 90;

interface Made {
  pcm: Int16Array;
  lab: ReturnType<typeof clips.labelSpeech>;
  activeDb: number;
  longestMs: number;
}
const madeCache = new Map<string, Made>();

function utterance(text: string, voice: string, speed: number): Made {
  const key = `${text}|${voice}|${speed}`;
  let m = madeCache.get(key);
  if (!m) {
    const pcm = clips.speak(text, RATE, { voice, speed, pitch: 40 + ((voice.length * 7) % 30) });
    const lab = clips.labelSpeech(pcm, RATE);
    const activeDb = clips.activeRmsDb(pcm, lab.frameSpeech, RATE);
    const longestMs = Math.max(...lab.speech.map(([a, b]) => ((b - a) * 1000) / RATE));
    m = { pcm, lab, activeDb, longestMs };
    madeCache.set(key, m);
  }
  return m;
}

/** The utterance sequence of session `k` (deterministic). */
function plan(k: number): Array<{ text: string; voice: string; speed: number; gapS: number; levelDb: number }> {
  const rnd = clips.prng(1000 + k);
  const out = [];
  for (let j = 0; j < UTTS_PER_SESSION; j++) {
    // every session mixes backchannels, phrases and sentences
    const group = j % 3;
    const lo = group === 0 ? 0 : group === 1 ? 12 : 22;
    const hi = group === 0 ? 12 : group === 1 ? 22 : TEXTS.length;
    const text = TEXTS[lo + Math.floor(rnd() * (hi - lo))];
    out.push({
      text,
      voice: VOICES[Math.floor(rnd() * VOICES.length)],
      speed: SPEEDS[Math.floor(rnd() * SPEEDS.length)],
      gapS: 1.2 + 1.2 * rnd(),
      levelDb: -2 * Math.floor(rnd() * 4), // 0..-6 dB around the session level
    });
  }
  return out;
}

function noiseSource(bg: Background, levelDb: number, seed: number): Int16Array {
  switch (bg) {
    case 'white':
    case 'pink':
    case 'brown':
      return clips.noise(bg, NOISE_SOURCE_S, RATE, levelDb, seed);
    case 'babble':
      return clips.babble(NOISE_SOURCE_S, RATE, levelDb, 6, seed);
    case 'music':
      return clips.music(NOISE_SOURCE_S, RATE, levelDb);
    case 'clicks':
      return clips.scaleToRms(clips.clicks(NOISE_SOURCE_S, RATE, -10, 6, 7 + seed), levelDb);
    default:
      throw new Error(`no noise for ${bg}`);
  }
}

/** One session: the speech of background index k at `snrDb` (null: clean). */
export function speechSession(k: number, bg: Background, snrDb: number | null): SpeechSession {
  const p = plan(k);
  const sessionDb = -20 - 3 * (k % 5); // -20..-32 dBFS active speech RMS
  const parts: Array<{ pcm: Int16Array; at: number }> = [];
  const utts: Utterance[] = [];
  let t = LEAD_IN_S * RATE;
  for (const u of p) {
    const m = utterance(u.text, u.voice, u.speed);
    const first = m.lab.speech[0][0];
    const last = m.lab.speech[m.lab.speech.length - 1][1];
    const at = t - first;
    parts.push({ pcm: clips.gainDb(m.pcm, sessionDb + u.levelDb - m.activeDb), at });
    utts.push({ text: u.text, voice: u.voice, speed: u.speed, start: at + first, end: at + last, longestMs: m.longestMs });
    t = at + last + Math.round(u.gapS * RATE);
  }
  const length = t;
  if (snrDb !== null) {
    const src = noiseSource(bg, sessionDb - snrDb, 1 + k);
    if (src.length < length) throw new Error('noise source too short');
    parts.push({ pcm: src.subarray(0, length), at: 0 });
  }
  const pcm = clips.mixAt(length, parts);
  const frameSpeech = new Uint8Array(Math.floor(length / (RATE / 100)));
  for (const [j, u] of p.entries()) {
    const m = utterance(u.text, u.voice, u.speed);
    const off = Math.round(parts[j].at / (RATE / 100));
    for (let f = 0; f < m.lab.frameSpeech.length; f++) if (m.lab.frameSpeech[f] && f + off < frameSpeech.length) frameSpeech[f + off] = 1;
  }
  return { name: `${bg}${snrDb === null ? '' : `@${snrDb}dB`}#${k}`, background: bg, snrDb, pcm, utts, frameSpeech };
}

export function speechSessions(): SpeechSession[] {
  const out: SpeechSession[] = [];
  for (const [k, bg] of BACKGROUNDS.entries()) {
    out.push(speechSession(k, 'clean', null));
    for (const snr of SNRS) out.push(speechSession(k, bg, snr));
  }
  return out;
}

const AGENT_TEXTS = [
  'thanks for calling, how can i help you today',
  'your order will arrive on thursday morning between nine and twelve',
  'is there anything else i can do for you',
  'let me check that for you, one moment please',
  'the total comes to forty two dollars and fifty cents',
  'i have found three flights that match your search',
  'sure, i can help you with that, could you give me your account number',
  'the weather tomorrow will be sunny with a high of twenty degrees',
];

/** The agent talking for `seconds`: sentences with 0.3-1.0 s pauses. */
function agentSpeech(seconds: number, seed: number): Int16Array {
  const rnd = clips.prng(seed);
  const n = seconds * RATE;
  const parts: Array<{ pcm: Int16Array; at: number }> = [];
  let t = Math.round(0.3 * RATE);
  let j = seed;
  while (t < n) {
    const s = clips.speak(AGENT_TEXTS[j++ % AGENT_TEXTS.length], RATE, { voice: j % 2 ? 'en-us+f4' : 'en-gb+m2', speed: 170 });
    parts.push({ pcm: clips.scaleToRms(s, -18), at: t });
    t += s.length + Math.round((0.3 + 0.7 * rnd()) * RATE);
  }
  return clips.mixAt(n, parts);
}

const CLIP_S = 60;

export function noiseOnlyClips(): NoClip[] {
  const n = CLIP_S * RATE;
  const cut = (x: Int16Array) => x.subarray(0, n);
  const steps = clips.noise('pink', CLIP_S, RATE, -40, 3);
  const tones = clips.mixAt(n, [
    { pcm: clips.tones([440, 480], 20, RATE, -25, { onMs: 2000, offMs: 4000 }), at: 0 },
    { pcm: clips.tones([480, 620], 20, RATE, -25, { onMs: 500, offMs: 500 }), at: 20 * RATE },
    { pcm: clips.tones([697, 1209], 20, RATE, -25, { onMs: 100, offMs: 150 }), at: 40 * RATE },
    { pcm: clips.noise('white', CLIP_S, RATE, -60, 5), at: 0 },
  ]);
  return [
    { name: 'white -40 dBFS', group: 'noise', pcm: clips.noise('white', CLIP_S, RATE, -40, 11) },
    { name: 'pink -35 dBFS', group: 'noise', pcm: clips.noise('pink', CLIP_S, RATE, -35, 11) },
    { name: 'brown -30 dBFS', group: 'noise', pcm: clips.noise('brown', CLIP_S, RATE, -30, 11) },
    { name: 'pink, AGC steps +-10 dB', group: 'noise', pcm: Int16Array.from(steps, (v, k) => clips.clamp16(v * 10 ** ([-10, 5, -5, 10][Math.floor(k / (5 * RATE)) % 4] / 20))) },
    { name: 'babble 6 talkers -30 dBFS', group: 'noise', pcm: cut(clips.babble(CLIP_S, RATE, -30, 6, 11)) },
    { name: 'babble 10 talkers -35 dBFS', group: 'noise', pcm: cut(clips.babble(CLIP_S, RATE, -35, 10, 12)) },
    { name: 'music -30 dBFS', group: 'noise', pcm: cut(clips.music(NOISE_SOURCE_S, RATE, -30).subarray(20 * RATE)) },
    { name: 'ringback/busy/DTMF tones', group: 'noise', pcm: tones },
    {
      name: 'keyboard clicks',
      group: 'noise',
      pcm: clips.mixAt(n, [{ pcm: clips.clicks(CLIP_S, RATE, -10, 6, 21), at: 0 }, { pcm: clips.noise('white', CLIP_S, RATE, -60, 12), at: 0 }]),
    },
    {
      name: 'pink -40 + clicks',
      group: 'noise',
      pcm: clips.mixAt(n, [{ pcm: clips.clicks(CLIP_S, RATE, -15, 3, 22), at: 0 }, { pcm: clips.noise('pink', CLIP_S, RATE, -40, 13), at: 0 }]),
    },
  ];
}

export function echoOnlyClips(): NoClip[] {
  const n = CLIP_S * RATE;
  const cfgs: Array<[number, number, number, clips.NoiseKind, number]> = [
    // delay ms, echo gain dB, low-pass Hz, background, background dBFS
    [0, -3, 3400, 'white', -60],
    [40, -12, 2500, 'white', -60],
    [120, -20, 2500, 'pink', -55],
    [250, -6, 3000, 'white', -60],
    [80, -10, 2000, 'brown', -50],
  ];
  const steady = cfgs.map(([delay, gain, lp, kind, lvl], k) => {
    const far = agentSpeech(CLIP_S, 31 + k);
    const near = clips.mixAt(n, [{ pcm: clips.echoOf(far, RATE, delay, gain, lp), at: 0 }, { pcm: clips.noise(kind, CLIP_S, RATE, lvl, 40 + k), at: 0 }]);
    return { name: `echo ${delay} ms ${gain} dB lp ${lp} Hz`, group: 'echo' as const, pcm: near, far };
  });
  return [...steady, ...liveEchoClips()];
}

/** The agent's sentences as the live TTS sends them (see agentSpeech). */
function agentSentences(): Int16Array[] {
  return AGENT_TEXTS.map((t, j) => clips.speak(t, RATE, { voice: j % 2 ? 'en-gb+m2' : 'en-us+f4', speed: 170 }));
}

/**
 * Echo as the live bridge sees it (clips.liveEcho): answers with digital-zero
 * sentence gaps, restarts after 1-3 s of silence, answers cut off mid-word; the
 * delay moving by a 20 ms frame from one answer to the next (the reference is the
 * agent frame most recently sent), or the echo played from a packet FIFO that
 * stops with the agent (the bench:bargein WebSocket echo user: the end of a spurt
 * comes back when the next one starts). Pink room noise at -60 dBFS.
 */
export function liveEchoClips(): NoClip[] {
  const sentences = agentSentences();
  const cfgs: Array<[number, number, boolean]> = [
    // delay ms, echo gain dB, held tail
    [140, -12, false],
    [140, -12, true],
    [60, -6, false],
    [60, -20, true],
    [250, -20, false],
    [250, -6, true],
  ];
  return cfgs.map(([delay, gain, heldTail], k) => {
    const { far, near } = clips.liveEcho({ rate: RATE, seconds: CLIP_S, sentences, delayMs: delay, gainDb: gain, heldTail, seed: 61 + k });
    return { name: `live echo ${delay} ms ${gain} dB, ${heldTail ? 'held tail' : 'delay moves'}`, group: 'echo' as const, pcm: near, far };
  });
}

export interface DoubleTalkClip {
  name: string;
  pcm: Int16Array;
  far: Int16Array;
  /** The user's speech over the echo: [first, last] labelled sample. */
  users: Array<[number, number]>;
}

const USER_TEXTS = ['wait, stop', 'no, that is wrong', 'hello, can you hear me', 'yes please do that', 'hold on a second', 'can i ask something'];

/**
 * The user talking over the agent's echo, at the level of the double-talk test in
 * test/native/vad.test.ts (-20 + gain/2 dBFS): over steady echo every 3 s inside the agent's speech, and over
 * live-like echo 20 ms, 100 ms or 600 ms after the agent (re)starts an answer.
 */
export function doubleTalkClips(): DoubleTalkClip[] {
  const out: DoubleTalkClip[] = [];
  const user = (j: number, gain: number) => clips.speechClip(USER_TEXTS[j % USER_TEXTS.length], { rate: RATE, voice: j % 2 ? 'en-gb+f3' : 'en-us+m3', atMs: 0, speechDb: -20 + gain / 2 });
  for (const [k, [delay, gain]] of [[40, -12], [140, -12], [250, -6], [120, -20]].entries()) {
    const far = agentSpeech(CLIP_S, 71 + k);
    const parts = [{ pcm: clips.echoOf(far, RATE, delay, gain, 3000), at: 0 }, { pcm: clips.noise('pink', CLIP_S, RATE, -60, 80 + k), at: 0 }];
    const users: Array<[number, number]> = [];
    for (let t = 3, j = 0; t < CLIP_S - 3; t += 3, j++) {
      const u = user(j, gain);
      const at = Math.round(t * RATE);
      parts.push({ pcm: u.pcm, at });
      users.push([at + u.speech[0][0], at + u.speech[u.speech.length - 1][1]]);
    }
    out.push({ name: `over echo ${delay} ms ${gain} dB`, pcm: clips.mixAt(far.length, parts), far, users });
  }
  const sentences = agentSentences();
  const F = RATE / 50;
  for (const [k, [delay, gain, heldTail]] of ([[140, -12, false], [140, -12, true], [250, -20, true]] as const).entries()) {
    const { far, near } = clips.liveEcho({ rate: RATE, seconds: CLIP_S, sentences, delayMs: delay, gainDb: gain, heldTail, seed: 91 + k });
    const parts = [{ pcm: near, at: 0 }];
    const users: Array<[number, number]> = [];
    let last = -Infinity;
    for (let f = 0, zeros = 0; f * F < far.length; f++) {
      const silent = far.subarray(f * F, (f + 1) * F).every((v) => v === 0);
      if (!silent && zeros >= 50 && f * F > 5 * RATE && f * F - last >= 4 * RATE && f * F < (CLIP_S - 2) * RATE) {
        const j = users.length;
        const u = user(j, gain);
        const at = f * F + Math.round([0.02, 0.1, 0.6][j % 3] * RATE) - u.speech[0][0];
        parts.push({ pcm: u.pcm, at });
        users.push([at + u.speech[0][0], at + u.speech[u.speech.length - 1][1]]);
        last = f * F;
      }
      zeros = silent ? zeros + 1 : 0;
    }
    out.push({ name: `over live echo ${delay} ms ${gain} dB, ${heldTail ? 'held tail' : 'delay moves'}, at restarts`, pcm: clips.mixAt(near.length, parts), far, users });
  }
  return out;
}
