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
export type { DemoPolicyConfig } from './demo';
export type { EspeakTtsConfig } from './espeakTts';
export type { LlmConfig } from './llm';
export type { OpenAiAsrConfig } from './openaiAsr';
export type { OpenAiTtsConfig } from './openaiTts';
export type { PocketsphinxAsrConfig } from './pocketsphinxAsr';

// Agents get their providers from src/agent/providerFactory.ts (validated StartVoiceChat settings).
