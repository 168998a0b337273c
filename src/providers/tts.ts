/**
 * The text-to-speech provider interface. Implementations: OpenAI-compatible
 * `/v1/audio/speech` (openaiTts.ts) and the embedded default, Debian's espeak-ng
 * (espeakTts.ts).
 */

export interface TtsOptions {
  /** Output sample rate (8000, 16000, 48000 ...): chunks are resampled to it. */
  sampleRate: number;
  /** Aborting stops synthesis at once and releases its connection or process. */
  signal: AbortSignal;
}

export interface TtsProvider {
  /** Short name for logs and metrics ('openai', 'espeak'). */
  readonly kind: string;
  /**
   * Streams PCM16 mono chunks at `options.sampleRate` as they are produced.
   * Failures are ProviderErrors (`Provider.TTS.*`); an abort throws an AbortError.
   */
  synthesize(text: string, options: TtsOptions): AsyncGenerator<Int16Array, void, undefined>;
}
