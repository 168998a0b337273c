/** Builds the LLM, TTS and ASR clients an agent's configuration names. */
import type { AgentConfig } from './agentConfig';
import type { ChatProvider } from '../providers/chat';
import type { TtsProvider } from '../providers/tts';
import type { AsrProvider } from '../providers/asr';
import { OpenAiChatClient } from '../providers/llm';
import { DemoEchoPolicy } from '../providers/demo';
import { OpenAiTts } from '../providers/openaiTts';
import { EspeakTts } from '../providers/espeakTts';
import { OpenAiAsr } from '../providers/openaiAsr';
import { PocketsphinxAsr } from '../providers/pocketsphinxAsr';

export interface Providers {
  chat: ChatProvider;
  tts: TtsProvider;
  asr: AsrProvider;
}

/** One recogniser process pool shared by every agent using the embedded default. */
let sharedPocketsphinx: PocketsphinxAsr | undefined;

export function createProviders(c: AgentConfig): Providers {
  const chat: ChatProvider =
    c.llm.mode === 'Demo'
      ? new DemoEchoPolicy({ HangupFunction: c.llm.hangupFunction ?? 'hangup' })
      : new OpenAiChatClient({
          Url: c.llm.url!,
          ModelName: c.llm.model,
          APIKey: c.llm.apiKey,
          Headers: c.llm.headers,
          Temperature: c.llm.temperature,
          MaxTokens: c.llm.maxTokens,
        });
  const tts: TtsProvider =
    c.tts.provider === 'openai'
      ? new OpenAiTts({ Url: c.tts.url!, APIKey: c.tts.apiKey, ModelName: c.tts.model, Voice: c.tts.voice, Speed: c.tts.speed, SourceSampleRate: c.tts.sourceSampleRate })
      : new EspeakTts({ Voice: c.tts.voice, Speed: c.tts.speed !== undefined ? Math.round(175 * c.tts.speed) : undefined });
  const asr: AsrProvider =
    c.asr.provider === 'openai'
      ? new OpenAiAsr({ Url: c.asr.url!, APIKey: c.asr.apiKey, ModelName: c.asr.model, Language: c.asr.language })
      : (sharedPocketsphinx ??= new PocketsphinxAsr());
  return { chat, tts, asr };
}
