/**
 * Labelled test audio made with real tools: speech from `espeak-ng`, noise and
 * tones from `sox`, resampled with `sox`. Every clip is cached as raw PCM16 under
 * test/.tmp/clips (gitignored), keyed by the command that made it.
 *
 * The true speech intervals come from the clean TTS output itself: espeak-ng pads
 * its speech with silence, so a frame-energy threshold on the clean clip finds
 * where the words are, to the sample; mixing then places the clean clip at a
 * known offset, so the labels survive any noise added on top.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const cacheDir = path.resolve(__dirname, '..', '.tmp', 'clips');

export type Rate = 8000 | 16000 | 48000;

/** A mono PCM16 clip and where speech truly is (sample intervals, end exclusive). */
export interface Clip {
  rate: number;
  pcm: Int16Array;
  /** Word-level intervals: speech regions with gaps shorter than `mergeGapMs` merged. */
  speech: Array<[number, number]>;
  /** Per 10 ms frame: true when that frame holds speech energy (for miss rates). */
  frameSpeech: Uint8Array;
}

function cached(key: string, make: (file: string) => void): Int16Array {
  fs.mkdirSync(cacheDir, { recursive: true });
  const name = createHash('sha1').update(key).digest('hex').slice(0, 16) + '.raw';
  const file = path.join(cacheDir, name);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    make(tmp);
    fs.renameSync(tmp, file);
  }
  const buf = fs.readFileSync(file);
  const out = new Int16Array(buf.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(i * 2);
  return out;
}

function soxRaw(rate: number): string[] {
  return ['-r', String(rate), '-c', '1', '-b', '16', '-e', 'signed-integer', '-t', 'raw'];
}

export interface SpeakOptions {
  /** espeak-ng voice, e.g. `en-us`, `en-gb+f3`, `en-us+m3`. */
  voice?: string;
  /** Words per minute (espeak-ng `-s`). */
  speed?: number;
  /** Pitch 0..99 (espeak-ng `-p`). */
  pitch?: number;
  /** Gap between words in units of 10 ms (espeak-ng `-g`). */
  wordGap?: number;
}

/** Clean TTS speech at `rate`, with its leading/trailing silence kept (used for labels). */
export function speak(text: string, rate: Rate, o: SpeakOptions = {}): Int16Array {
  const args = ['-v', o.voice ?? 'en-us', '-s', String(o.speed ?? 165), '-p', String(o.pitch ?? 50)];
  if (o.wordGap !== undefined) args.push('-g', String(o.wordGap));
  const key = `speak|${args.join(' ')}|${rate}|${text}`;
  return cached(key, (file) => {
    const wav = `${file}.wav`;
    execFileSync('espeak-ng', [...args, '-w', wav, text]);
    // 'rate -v' is sox's very-high-quality resampler; 'dither -s' is off by default with -b 16 output.
    execFileSync('sox', [wav, ...soxRaw(rate), file, 'rate', '-v', String(rate)]);
    fs.unlinkSync(wav);
  });
}

export type NoiseKind = 'white' | 'pink' | 'brown';

/** Stationary noise from sox at `levelDb` dBFS RMS (approximately; sox scales by amplitude). */
export function noise(kind: NoiseKind, seconds: number, rate: Rate, levelDb: number, seed = 1): Int16Array {
  const synth = { white: 'whitenoise', pink: 'pinknoise', brown: 'brownnoise' }[kind];
  const key = `noise|${kind}|${seconds}|${rate}|${seed}`;
  const raw = cached(key, (file) => {
    execFileSync('sox', ['-R', '-n', ...soxRaw(rate), file, 'synth', String(seconds), synth, 'vol', '0.3']);
  });
  return scaleToRms(raw, levelDb);
}

/** Tones from sox: a mix of sines (e.g. a ringback 440+480 Hz), optionally gated on/off. */
export function tones(
  freqs: number[],
  seconds: number,
  rate: Rate,
  levelDb: number,
  cadence?: { onMs: number; offMs: number },
): Int16Array {
  const key = `tones|${freqs.join(',')}|${seconds}|${rate}`;
  const raw = cached(key, (file) => {
    const wav = `${file}.wav`;
    const synth: string[] = ['synth', String(seconds)];
    for (const f of freqs) synth.push('sine', String(f));
    execFileSync('sox', ['-R', '-n', '-r', String(rate), '-c', String(freqs.length), '-b', '16', wav, ...synth, 'vol', '0.2']);
    // Down-mixing to one channel averages the tones.
    execFileSync('sox', [wav, ...soxRaw(rate), file]);
    fs.unlinkSync(wav);
  });
  const out = scaleToRms(raw, levelDb);
  if (cadence) {
    const period = ((cadence.onMs + cadence.offMs) * rate) / 1000;
    const on = (cadence.onMs * rate) / 1000;
    for (let i = 0; i < out.length; i++) if (i % period >= on) out[i] = 0;
  }
  return out;
}

/**
 * Music-like audio from sox: a melody of plucked notes and a sustained chord with
 * tremolo, one note every `noteMs`. Harmonic, with energy changes at note rate.
 */
export function music(seconds: number, rate: Rate, levelDb: number, noteMs = 250): Int16Array {
  const notes = ['C4', 'E4', 'G4', 'C5', 'A4', 'F4', 'D4', 'G4', 'B3', 'D5', 'E5', 'C4'];
  const key = `music|${seconds}|${rate}|${noteMs}`;
  const raw = cached(key, (file) => {
    const n = Math.ceil((seconds * 1000) / noteMs);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const part = `${file}.${i}.raw`;
      const note = notes[i % notes.length];
      execFileSync('sox', ['-R', '-n', ...soxRaw(rate), part, 'synth', String(noteMs / 1000), 'pluck', note, 'vol', '0.5']);
      parts.push(part);
    }
    const melody = `${file}.melody.raw`;
    execFileSync('sox', [...parts.flatMap((p) => [...soxRaw(rate), p]), ...soxRaw(rate), melody, 'trim', '0', String(seconds)]);
    const chordWav = `${file}.chord.wav`;
    execFileSync('sox', ['-R', '-n', '-r', String(rate), '-c', '3', '-b', '16', chordWav,
      'synth', String(seconds), 'triangle', 'C3', 'triangle', 'E3', 'triangle', 'G3', 'tremolo', '5', '40', 'vol', '0.3']);
    const chord = `${file}.chord.raw`;
    execFileSync('sox', [chordWav, ...soxRaw(rate), chord]);
    fs.unlinkSync(chordWav);
    execFileSync('sox', ['-m', ...soxRaw(rate), melody, ...soxRaw(rate), chord, ...soxRaw(rate), file]);
    for (const p of [...parts, melody, chord]) fs.unlinkSync(p);
  });
  return scaleToRms(raw, levelDb);
}

/** Deterministic PRNG (mulberry32) for the few signals made here rather than by sox. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Keyboard-like clicks: short decaying resonant bursts (2–15 ms) at irregular
 * intervals (`perSecond` on average), with a few fast double strokes.
 */
export function clicks(seconds: number, rate: Rate, peakDb: number, perSecond = 6, seed = 7): Int16Array {
  const out = new Int16Array(Math.round(seconds * rate));
  const rnd = prng(seed);
  const peak = 32767 * 10 ** (peakDb / 20);
  let t = Math.round(0.05 * rate);
  while (t < out.length) {
    const durMs = 2 + rnd() * 13;
    const len = Math.round((durMs * rate) / 1000);
    const f = 1500 + rnd() * 2500;
    const amp = peak * (0.4 + 0.6 * rnd());
    for (let i = 0; i < len && t + i < out.length; i++) {
      const env = Math.exp((-5 * i) / len);
      const v = amp * env * (0.6 * Math.sin((2 * Math.PI * f * i) / rate) + 0.4 * (rnd() * 2 - 1));
      out[t + i] = clamp16(out[t + i] + v);
    }
    const gap = rnd() < 0.15 ? 0.04 + rnd() * 0.04 : (0.3 + rnd() * 1.4) / perSecond;
    t += Math.round(gap * rate);
  }
  return out;
}

/**
 * Several espeak-ng talkers at once: babble, the background of call centres and cafés.
 * `seed` (default 0, the original mix) shifts each talker's sentences and start time.
 */
export function babble(seconds: number, rate: Rate, levelDb: number, talkers = 6, seed = 0): Int16Array {
  const texts = [
    'the quarterly numbers came in lower than we expected last week',
    'could you send me the file before the meeting this afternoon',
    'we went to the coast for a few days and it rained the whole time',
    'i think the train leaves at half past seven from platform four',
    'she told me the new office is much bigger than the old one',
    'please remember to water the plants while i am away on holiday',
    'the restaurant on the corner has changed its menu again',
    'they are building a new bridge over the river next spring',
  ];
  const voices = ['en-us', 'en-gb+f3', 'en-us+m3', 'en-gb-scotland+f2', 'en-us+f4', 'en-gb-x-rp+m5', 'en-us+m7', 'en-gb+f5'];
  // A crowd is already talking when the clip starts: the talkers start (staggered) 2 s
  // before it, so its first samples are not one voice alone (that is a person speaking).
  const pre = 2 * rate;
  const n = Math.round(seconds * rate) + pre;
  const acc = new Float64Array(n);
  for (let k = 0; k < talkers; k++) {
    let t = Math.round(((k * 0.37 + seed * 0.29) % 1) * rate);
    let j = k + seed;
    while (t < n) {
      const s = speak(texts[j % texts.length], rate, { voice: voices[k % voices.length], speed: 150 + 12 * k, pitch: 30 + 9 * k });
      for (let i = 0; i < s.length && t + i < n; i++) acc[t + i] += s[i];
      t += s.length;
      j += 3;
    }
  }
  return scaleToRms(Int16Array.from(acc.subarray(pre), clamp16), levelDb);
}

export function clamp16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
}

export function rmsDb(x: Int16Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return 10 * Math.log10(s / Math.max(1, to - from) / (32768 * 32768) + 1e-20);
}

/** `x` scaled so that its RMS is `levelDb` dBFS. */
export function scaleToRms(x: Int16Array, levelDb: number): Int16Array {
  const g = 10 ** ((levelDb - rmsDb(x)) / 20);
  return Int16Array.from(x, (v) => clamp16(v * g));
}

export function gainDb(x: Int16Array, db: number): Int16Array {
  const g = 10 ** (db / 20);
  return Int16Array.from(x, (v) => clamp16(v * g));
}

/** Sum of `parts` placed at sample offsets, `length` samples long. */
export function mixAt(length: number, parts: Array<{ pcm: Int16Array; at: number }>): Int16Array {
  const acc = new Float64Array(length);
  for (const { pcm, at } of parts) {
    for (let i = 0; i < pcm.length; i++) {
      const j = at + i;
      if (j >= 0 && j < length) acc[j] += pcm[i];
    }
  }
  return Int16Array.from(acc, clamp16);
}

/**
 * Speech labels of a clean clip: 10 ms frames whose energy is within `relDb` of
 * the loudest frame are speech; each interval's edges are refined to the first and
 * last sample above the same threshold; gaps shorter than `mergeGapMs` are merged.
 */
export function labelSpeech(clean: Int16Array, rate: number, relDb = -40, mergeGapMs = 250): Pick<Clip, 'speech' | 'frameSpeech'> {
  const f = rate / 100;
  const nf = Math.floor(clean.length / f);
  const e = new Float64Array(nf);
  let max = 0;
  for (let k = 0; k < nf; k++) {
    let s = 0;
    for (let i = k * f; i < (k + 1) * f; i++) s += clean[i] * clean[i];
    e[k] = s / f;
    if (e[k] > max) max = e[k];
  }
  const thr = max * 10 ** (relDb / 10);
  const ampThr = Math.sqrt(thr);
  const frameSpeech = new Uint8Array(nf);
  for (let k = 0; k < nf; k++) frameSpeech[k] = e[k] > thr ? 1 : 0;
  const speech: Array<[number, number]> = [];
  const gap = Math.round((mergeGapMs * rate) / 1000);
  for (let k = 0; k < nf; ) {
    if (!frameSpeech[k]) { k++; continue; }
    let j = k;
    while (j < nf && frameSpeech[j]) j++;
    let a = k * f;
    const lo = Math.max(0, (k - 1) * f);
    for (let i = lo; i < (k + 1) * f; i++) if (Math.abs(clean[i]) > ampThr) { a = i; break; }
    let b = j * f;
    for (let i = Math.min(clean.length, (j + 1) * f) - 1; i >= (j - 1) * f; i--) if (Math.abs(clean[i]) > ampThr) { b = i + 1; break; }
    const last = speech[speech.length - 1];
    if (last && a - last[1] < gap) last[1] = b;
    else speech.push([a, b]);
    k = j;
  }
  return { speech, frameSpeech };
}

export interface SpeechClipOptions extends SpeakOptions {
  rate: Rate;
  /** Where the speech clip (with espeak's own leading silence) starts, in ms. */
  atMs?: number;
  /** Total length in ms (default: speech + 1 s). */
  lengthMs?: number;
  /** Speech level: peak frame RMS of the words in dBFS (default -20). */
  speechDb?: number;
  /** Background: noise kind and SNR in dB relative to the speech's active RMS. */
  noise?: { kind: NoiseKind | 'babble'; snrDb: number };
}

/** Speech at a known offset, optionally in noise, with true labels. */
export function speechClip(text: string, o: SpeechClipOptions): Clip {
  const rate = o.rate;
  const clean = speak(text, rate, o);
  const at = Math.round(((o.atMs ?? 500) * rate) / 1000);
  const length = o.lengthMs !== undefined ? Math.round((o.lengthMs * rate) / 1000) : at + clean.length + rate;
  const lab = labelSpeech(clean, rate);
  const activeDb = activeRmsDb(clean, lab.frameSpeech, rate);
  const speechPcm = gainDb(clean, (o.speechDb ?? -20) - activeDb);
  const parts = [{ pcm: speechPcm, at }];
  if (o.noise) {
    const sec = length / rate + 0.1;
    const lvl = (o.speechDb ?? -20) - o.noise.snrDb;
    const n = o.noise.kind === 'babble' ? babble(sec, rate, lvl) : noise(o.noise.kind, sec, rate, lvl);
    parts.push({ pcm: n, at: 0 });
  }
  const pcm = mixAt(length, parts);
  return shiftLabels({ rate, pcm, ...lab }, at);
}

/** RMS in dBFS over the frames labelled as speech. */
export function activeRmsDb(x: Int16Array, frameSpeech: Uint8Array, rate: number): number {
  const f = rate / 100;
  let s = 0;
  let n = 0;
  for (let k = 0; k < frameSpeech.length; k++) {
    if (!frameSpeech[k]) continue;
    for (let i = k * f; i < (k + 1) * f; i++) s += x[i] * x[i];
    n += f;
  }
  return 10 * Math.log10(s / Math.max(1, n) / (32768 * 32768) + 1e-20);
}

/** Labels of a clip placed `at` samples later in a longer one. */
export function shiftLabels(c: Clip, at: number): Clip {
  const f = c.rate / 100;
  const nf = Math.floor(c.pcm.length / f);
  const frameSpeech = new Uint8Array(nf);
  const off = Math.round(at / f);
  for (let k = 0; k < c.frameSpeech.length && k + off < nf; k++) frameSpeech[k + off] = c.frameSpeech[k];
  return { ...c, speech: c.speech.map(([a, b]) => [a + at, b + at] as [number, number]), frameSpeech };
}

/** A delayed, attenuated and low-passed copy of `x`: the agent's voice coming back as echo. */
export function echoOf(x: Int16Array, rate: number, delayMs: number, gainDbValue: number, lowpassHz = 3000): Int16Array {
  const d = Math.round((delayMs * rate) / 1000);
  const g = 10 ** (gainDbValue / 20);
  const a = Math.exp((-2 * Math.PI * Math.min(lowpassHz, rate / 2.5)) / rate);
  const out = new Int16Array(x.length);
  let y = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const v = i >= d ? x[i - d] : 0;
    y = (1 - a) * v + a * y;
    y2 = (1 - a) * y + a * y2; // two poles: a gentle line/room roll-off
    out[i] = clamp16(g * y2);
  }
  return out;
}

export interface LiveEchoOptions {
  rate: Rate;
  seconds: number;
  /** Agent sentences (clean TTS, any level: each is scaled to -18 dBFS). */
  sentences: Int16Array[];
  /** Nominal echo delay, ms. */
  delayMs: number;
  gainDb: number;
  /** Pink room noise on the near end, dBFS (default -60). */
  noiseDb?: number;
  /**
   * Per answer the delay moves by a whole 20 ms frame within +-jitterMs (default 20):
   * the live reference is the agent frame most recently sent, so its alignment with
   * the echo shifts by a frame from one talk spurt to the next.
   */
  jitterMs?: number;
  /**
   * Packet playout (the bench's WebSocket echo user): the echo is a FIFO of the
   * agent's packets, advanced only while packets arrive, so the last delay's worth
   * of a talk spurt comes back only when the agent starts again, seconds later.
   */
  heldTail?: boolean;
  seed?: number;
}

/**
 * The agent's voice as the live bridge sees it come back: answers of 1-4 sentences
 * with digital-zero gaps between sentences (150-600 ms), a third of the answers cut
 * off mid-word (as by a barge-in), 1-3 s of digital silence between answers; the
 * near end is that far end delayed and attenuated (no low-pass) over quiet room
 * noise. Far and near are 20 ms frame-aligned like the session's feed.
 */
export function liveEcho(o: LiveEchoOptions): { far: Int16Array; near: Int16Array; answers: number } {
  const rate = o.rate;
  const F = rate / 50;
  const n = Math.floor((o.seconds * rate) / F) * F;
  const rnd = prng(o.seed ?? 1);
  const far = new Int16Array(n);
  const sent = new Uint8Array(n / F); // frames the agent sent (answers, with their sentence gaps)
  const spurtDelay = new Float64Array(n / F); // echo delay (samples) per frame, set per answer
  const jitter = o.jitterMs ?? 20;
  let t = Math.round(0.5 * rate / F) * F;
  let j = o.seed ?? 0;
  let answers = 0;
  while (t < n) {
    const k = 1 + Math.floor(rnd() * 4);
    const cut = rnd() < 0.35 ? Math.round((0.3 + 1.5 * rnd()) * rate) : Infinity;
    const steps = Math.round(jitter / 20);
    const d = Math.max(0, o.delayMs + 20 * (Math.floor(rnd() * (2 * steps + 1)) - steps));
    const start = t;
    for (let s = 0; s < k && t < n && t - start < cut; s++) {
      const pcm = scaleToRms(o.sentences[j++ % o.sentences.length], -18);
      // the TTS pads its output with silence: keep only the speech, as a TTS stream does
      let a = 0;
      let b = pcm.length;
      while (a < b && Math.abs(pcm[a]) < 30) a++;
      while (b > a && Math.abs(pcm[b - 1]) < 30) b--;
      for (let i = a; i < b && t < n && t - start < cut; i++) far[t++] = pcm[i];
      if (s < k - 1 && t - start < cut) t += Math.round((0.15 + 0.45 * rnd()) * rate);
    }
    t = Math.min(n, Math.ceil(t / F) * F);
    for (let f = start / F; f < t / F; f++) {
      sent[f] = 1;
      spurtDelay[f] = Math.round((d * rate) / 1000);
    }
    answers++;
    t += Math.round((1 + 2 * rnd()) * rate / F) * F;
  }
  const g = 10 ** (o.gainDb / 20);
  const echo = new Float64Array(n);
  if (o.heldTail) {
    const depth = Math.max(1, Math.round(o.delayMs / 20));
    const fifo: number[] = [];
    for (let f = 0; f < n / F; f++) {
      if (sent[f]) fifo.push(f);
      if (fifo.length > depth) {
        const src = fifo.shift()! * F;
        for (let i = 0; i < F; i++) echo[f * F + i] = g * far[src + i];
      }
    }
  } else {
    // a wall-clock delay line whose delay is the one of the answer the sample belongs to
    let d = spurtDelay[0];
    for (let i = 0; i < n; i++) {
      if (sent[Math.floor(i / F)]) d = spurtDelay[Math.floor(i / F)];
      if (i >= d) echo[i + 0] = g * far[i - d];
    }
  }
  const bed = noise('pink', Math.ceil(n / rate), rate, o.noiseDb ?? -60, 50 + (o.seed ?? 0));
  const near = Int16Array.from(echo, (v, i) => clamp16(v + bed[i]));
  return { far, near, answers };
}
