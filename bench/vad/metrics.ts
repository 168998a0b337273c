/**
 * Scoring of one detector's output against the labels of the VAD bench.
 *
 * - An utterance is detected when a speech start is reported in [start, end + 150 ms]
 *   (start/end: its first/last labelled sample); the onset latency is the time from
 *   its first labelled sample to the end of the frame/window that reported the start.
 *   Otherwise it is missed (also when the detector was already in a segment that a
 *   noise trigger started before the utterance: no start was reported for it).
 * - False triggers: speech starts outside every utterance window, per minute of
 *   audio outside those windows.
 * - Frame-level miss: labelled 10 ms speech frames the detector did not mark as speech.
 * - Barge-in miss at D = 200: utterances with a 300 ms+ stretch of speech that got
 *   no "reached D" decision in [start, end + 300 ms].
 * - False barge-ins: "reached D" decisions on noise-only / echo-only clips, per minute.
 */
import type { Result } from './detectors';
import type { SpeechSession } from './corpus';

export const TOL_MS = 150;

export interface SpeechTally {
  utts: number;
  missed: number;
  latMs: number[];
  falseStarts: number;
  gapMin: number;
  frames: number;
  framesMissed: number;
  bargeDue: number;
  bargeMissed: number;
}

export function emptyTally(): SpeechTally {
  return { utts: 0, missed: 0, latMs: [], falseStarts: 0, gapMin: 0, frames: 0, framesMissed: 0, bargeDue: 0, bargeMissed: 0 };
}

export function addTally(a: SpeechTally, b: SpeechTally): void {
  a.utts += b.utts;
  a.missed += b.missed;
  a.latMs.push(...b.latMs);
  a.falseStarts += b.falseStarts;
  a.gapMin += b.gapMin;
  a.frames += b.frames;
  a.framesMissed += b.framesMissed;
  a.bargeDue += b.bargeDue;
  a.bargeMissed += b.bargeMissed;
}

export function scoreSession(s: SpeechSession, r: Result, rate: number): SpeechTally {
  const t = emptyTally();
  const tol = (TOL_MS * rate) / 1000;
  const windows = s.utts.map((u) => [u.start, u.end + tol] as const);
  for (const u of s.utts) {
    t.utts++;
    const hit = r.starts.find((x) => x >= u.start && x <= u.end + tol);
    if (hit === undefined) t.missed++;
    else t.latMs.push(((hit - u.start) * 1000) / rate);
    if (u.longestMs >= 300) {
      t.bargeDue++;
      const reached = r.reached.get(200) ?? [];
      if (!reached.some((x) => x >= u.start && x <= u.end + (300 * rate) / 1000)) t.bargeMissed++;
    }
  }
  t.falseStarts = r.starts.filter((x) => !windows.some(([a, b]) => x >= a && x <= b)).length;
  const inWindows = windows.reduce((acc, [a, b]) => acc + (b - a), 0);
  t.gapMin = (s.pcm.length - inWindows) / rate / 60;
  for (let k = 0; k < s.frameSpeech.length && k < r.state.length; k++) {
    if (!s.frameSpeech[k]) continue;
    t.frames++;
    if (!r.state[k]) t.framesMissed++;
  }
  return t;
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function summarize(t: SpeechTally): Record<string, number> {
  return {
    utterances: t.utts,
    missPct: +((100 * t.missed) / Math.max(1, t.utts)).toFixed(1),
    onsetP50Ms: Math.round(percentile(t.latMs, 50)),
    onsetP95Ms: Math.round(percentile(t.latMs, 95)),
    frameMissPct: +((100 * t.framesMissed) / Math.max(1, t.frames)).toFixed(1),
    falseTrigPerMin: +(t.falseStarts / Math.max(1e-9, t.gapMin)).toFixed(2),
    bargeMissPctD200: +((100 * t.bargeMissed) / Math.max(1, t.bargeDue)).toFixed(1),
  };
}
