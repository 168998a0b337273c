/** Creates the per-stream VAD the agent core uses (native when built, else the TS fallback). */
import { createVad, type VadSampleRate, type VadFrameMs } from '../native/vad';
import type { VadStream } from '../native/vadTypes';

export function createVadStream(o: { sampleRate: number; frameMs: number; interruptMs: number }): VadStream {
  return createVad({ sampleRate: o.sampleRate as VadSampleRate, frameMs: o.frameMs as VadFrameMs, interruptSpeechDurationMs: o.interruptMs });
}
