/**
 * The speech-recognition provider interface, for utterances already cut by the
 * VAD. Implementations: OpenAI-compatible `/v1/audio/transcriptions`
 * (openaiAsr.ts) and the embedded default, Debian's pocketsphinx with its
 * English model (pocketsphinxAsr.ts).
 */

export interface AsrResult {
  /** Recognised text, trimmed ('' when nothing was recognised). */
  text: string;
  /** Length of the utterance audio, in ms. */
  durationMs: number;
  /** Time the recogniser took, in ms. */
  elapsedMs: number;
}

export interface AsrProvider {
  /** Short name for logs and metrics ('openai', 'pocketsphinx'). */
  readonly kind: string;
  /**
   * Transcribes one utterance of PCM16 mono at `sampleRate`. Failures are
   * ProviderErrors (`Provider.ASR.*`); an abort throws an AbortError and releases
   * the request or process.
   */
  transcribe(pcm: Int16Array, sampleRate: number, signal: AbortSignal): Promise<AsrResult>;
}

export function durationMs(samples: number, sampleRate: number): number {
  return Math.round((samples * 1000) / sampleRate);
}
