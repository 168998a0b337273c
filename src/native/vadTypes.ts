/** The VAD's per-frame flags and the stream interface the agent core uses. */
export const VadFlag = {
  Speech: 1,
  SpeechStart: 2,
  SpeechEnd: 4,
  DurationReached: 8,
  FarEndActive: 16,
} as const;

/** Indices of the numbers process() writes into `out` (same as vad.h OutIndex). */
export const VadOut = {
  Flags: 0,
  Score: 1,
  SpeechMs: 2,
  Onset: 3,
  End: 4,
  Reached: 5,
  SnrDb: 6,
  EchoDelayMs: 7,
  LastMs: 8,
  Count: 9,
} as const;

/** Status values of configuration checks (same as vad.h Status). */
export const VadStatus = {
  Ok: 0,
  BadSampleRate: -1,
  BadFrameMs: -2,
  BadInterruptMs: -3,
  BadHangoverMs: -4,
} as const;

export interface VadStream {
  /** Processes one frame (PCM16 mono, the configured rate and frame size); returns VadFlag bits. */
  process(pcm: Int16Array, farEnd?: Int16Array | null): number;
  /** Continuous speech duration at the end of the last frame, ms (0 when quiet). */
  readonly speechMs: number;
  /** First sample (stream position) of the current or last speech segment; -1 if none. */
  readonly onsetSample: number;
  /** Sample after the last speech of the last ended segment; -1 if none. */
  readonly endSample: number;
  /** Sets D for the "duration reached" flag (0: at speech start). */
  setInterruptDuration(ms: number): void;
  reset(): void;
}
