/**
 * Automatic-interrupt (barge-in) policy: a pure function from the interrupt
 * settings, the VAD's measurement and what is playing to a decision. No timers,
 * no I/O: the session feeds it and acts on the answer.
 *
 *  - mode 'immediate' (InterruptMode 0 without a duration): any user voice onset
 *  - mode 'duration' (InterruptSpeechDuration D in [200, 3000] ms): continuous speech of D
 *  - mode 'off' (InterruptMode 1): never; manual interrupt only
 * User voice never interrupts a High-priority task (a welcome is heard whole).
 */
export type InterruptMode = 'immediate' | 'duration' | 'off';

export interface InterruptSettings {
  mode: InterruptMode;
  /** D in ms for mode 'duration' (0 for 'immediate'). */
  durationMs: number;
}

export interface VoiceObservation {
  /** VAD reported the start of a speech segment in this frame. */
  speechStart: boolean;
  /** VAD reported that continuous speech reached the configured D in this frame. */
  durationReached: boolean;
  /** The current segment reached D earlier (the user is still talking past D). */
  reachedInSegment: boolean;
  /** Continuous speech so far, ms. */
  speechMs: number;
}

export interface PlaybackState {
  /** Something is playing or about to (a task is current). */
  active: boolean;
  /** Priority of the current task. */
  priority: 'High' | 'Medium' | 'Low' | null;
}

export type InterruptDecision = { interrupt: false } | { interrupt: true; cause: 'voiceOnset' | 'voiceDuration' };

export const INTERRUPT_DURATION_MIN = 200;
export const INTERRUPT_DURATION_MAX = 3000;

export function decideInterrupt(s: InterruptSettings, v: VoiceObservation, p: PlaybackState): InterruptDecision {
  if (s.mode === 'off' || !p.active || p.priority === 'High') return { interrupt: false };
  if (s.mode === 'immediate') return v.speechStart || v.speechMs > 0 ? { interrupt: true, cause: 'voiceOnset' } : { interrupt: false };
  // Only the detector's own "D reached" counts (it requires voiced, dense speech, not
  // just a segment that lasted D through its hangover); a segment that reached D before
  // this task started playing interrupts it too, since the user is still talking.
  return v.durationReached || v.reachedInSegment ? { interrupt: true, cause: 'voiceDuration' } : { interrupt: false };
}

/**
 * The same policy as a rule handed to a detector that decides off the event loop
 * (src/agent/offLoopInput.ts): 'off' when no voice may interrupt what plays, else which
 * observation does ('onset': any voice, decideInterrupt's 'immediate'; 'duration': the
 * detector's "D reached", or reached earlier in the segment).
 */
export function offLoopArm(s: InterruptSettings, p: PlaybackState): 'off' | 'onset' | 'duration' {
  if (s.mode === 'off' || !p.active || p.priority === 'High') return 'off';
  return s.mode === 'immediate' ? 'onset' : 'duration';
}

/** The VAD's "duration reached" threshold for these settings (0 = at onset; -1 = never). */
export function vadInterruptDuration(s: InterruptSettings): number {
  return s.mode === 'off' ? -1 : s.mode === 'immediate' ? 0 : s.durationMs;
}
