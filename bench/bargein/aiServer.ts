/**
 * The bench's LLM/TTS/ASR endpoints in a process of their own: a local server
 * speaking the OpenAI wire protocol (LLM first token after 300 ms, then ~3 words
 * per 60 ms; TTS first byte after 150 ms, then 16 kHz PCM at 2x real time; ASR
 * recognises nothing, so no new turn starts). In the users' process it shared
 * their event loop, and a user that sends late delays the bridge's decision (at
 * 100 sessions the users' 5 ms steps ran up to 67-80 ms late with it there, 24-43
 * ms without): the load generator partly measured itself. Run by
 * bench/bargein.ts (`vite-node bench/bargein/aiServer.ts`); prints its URL.
 */
import { OpenAiTestServer, textEvents } from '../../test/helpers/openaiServer';
import { agentSpeech } from './assets';

async function main(): Promise<void> {
  const ai = await OpenAiTestServer.start();
  const words = Array.from({ length: 200 }, (_, i) => ['plans', 'include', 'calls', 'data', 'support', 'and', 'roaming', 'options'][i % 8]).join(' ');
  ai.defaultChat = { events: textEvents(words + '.', 60), firstByteDelayMs: 300, chunkDelayMs: 60 };
  ai.defaultSpeech = { pcm: agentSpeech(), split: { every: 3200 }, firstByteDelayMs: 150, chunkDelayMs: 50 };
  ai.defaultTranscription = { text: '' };
  // the request log would grow for the whole run; nothing reads it here
  setInterval(() => ai.requests.splice(0), 5000).unref();
  process.stdout.write(`ai server on ${ai.baseUrl}\n`);
  const stop = () => void ai.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main();
