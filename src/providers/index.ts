/**
 * The provider layer: chat (LLM), text-to-speech and speech recognition, each an
 * OpenAI-compatible HTTP client or an embedded default that needs no network
 * (demo echo policy, espeak-ng, pocketsphinx).
 *
 * Error codes (ProviderError.code; FrameError for the parsers):
 *   Provider.LLM.Network | .Timeout | .Http (status) | .StreamError | .Dropped
 *   Provider.TTS.Network | .Timeout | .Http (status) | .Dropped | .Format | .Unavailable | .Process
 *   Provider.ASR.Network | .Timeout | .Http (status) | .Dropped | .Format | .Unavailable | .Process
 *   Sse.EventTooLarge (cause of Provider.LLM.StreamError), Wav.BadHeader, Wav.Unsupported
 *   InvalidParameter.SampleRate (InvalidParameterError, resampler rates)
 * An aborted signal always surfaces as a DOMException named AbortError (isAbortError).
 */
import type { AsrProvider } from './asr';
import type { ChatProvider } from './chat';
import { DemoEchoPolicy, type DemoPolicyConfig } from './demo';
import { EspeakTts, type EspeakTtsConfig } from './espeakTts';
import { OpenAiChatClient, type LlmConfig } from './llm';
import { OpenAiAsr, type OpenAiAsrConfig } from './openaiAsr';
import { OpenAiTts, type OpenAiTtsConfig } from './openaiTts';
import { PocketsphinxAsr, type PocketsphinxAsrConfig } from './pocketsphinxAsr';
import type { TtsProvider } from './tts';

export type { AsrProvider, AsrResult } from './asr';
export type { ChatEvent, ChatMessage, ChatProvider, ChatRequest, ChatTool, ToolCall } from './chat';
export type { TtsOptions, TtsProvider } from './tts';
export { DemoEchoPolicy, DEMO_GOODBYE, DEMO_MODEL } from './demo';
export { EspeakTts } from './espeakTts';
export { OpenAiChatClient, LLM_DEFAULTS } from './llm';
export { OpenAiAsr } from './openaiAsr';
export { OpenAiTts } from './openaiTts';
export { PocketsphinxAsr } from './pocketsphinxAsr';
export { SentenceSplitter, splitSentences } from './sentences';
export { StreamResampler, resample } from './resample';
export type { DemoPolicyConfig, EspeakTtsConfig, LlmConfig, OpenAiAsrConfig, OpenAiTtsConfig, PocketsphinxAsrConfig };

/** An OpenAI-compatible LLM when `Url` is set, else the embedded DEMO echo policy. */
export function createChatProvider(
  config: (Partial<LlmConfig> & DemoPolicyConfig) | undefined,
): ChatProvider {
  if (config?.Url) return new OpenAiChatClient({ ...config, Url: config.Url, ModelName: config.ModelName ?? '' });
  return new DemoEchoPolicy(config ?? {});
}

/** OpenAI-compatible TTS when `Url` is set, else espeak-ng. */
export function createTtsProvider(config: (Partial<OpenAiTtsConfig> & EspeakTtsConfig) | undefined): TtsProvider {
  if (config?.Url) return new OpenAiTts({ ...config, Url: config.Url });
  return new EspeakTts(config ?? {});
}

/** OpenAI-compatible ASR when `Url` is set, else pocketsphinx. */
export function createAsrProvider(config: (Partial<OpenAiAsrConfig> & PocketsphinxAsrConfig) | undefined): AsrProvider {
  if (config?.Url) return new OpenAiAsr({ ...config, Url: config.Url });
  return new PocketsphinxAsr(config ?? {});
}
