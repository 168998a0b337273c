/**
 * Agent behaviour end to end through the control API and a media-stream leg:
 * real bridge, real espeak-ng speech as user audio, local servers speaking the
 * OpenAI wire protocol for LLM/TTS/ASR.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, MediaClient, peak, sleep, startHarness, type Harness } from '../helpers/bridgeHarness';
import { OpenAiTestServer, slowAnswer, textEvents, toolCallEvents, chunk } from '../helpers/openaiServer';
import { speak } from '../helpers/clips';
import { encodeCtrl } from '../../src/native/tlv';
import { sine } from '../helpers/audio';

let h: Harness;
let ai: OpenAiTestServer;
const clients: MediaClient[] = [];

beforeAll(async () => {
  h = await startHarness();
  ai = await OpenAiTestServer.start();
});
afterAll(async () => {
  await h?.stop();
  await ai?.close();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** 24 kHz tone the TTS test server streams: `seconds` long, sent at about real time. */
function ttsTone(seconds: number, realTime = true) {
  const pcm = sine(440, 24000, seconds, 8000);
  return { pcm, split: { every: 4800 }, chunkDelayMs: realTime ? 100 : 0 };
}

function config(extra: Record<string, any> = {}) {
  const { LLM, ASR, ...rest } = extra;
  return {
    RoomId: `room-${Math.random().toString(36).slice(2, 8)}`,
    Config: {
      LLMConfig: { Url: ai.baseUrl, ModelName: 'test-model', APIKey: 'sk-test', SystemPrompt: 'You are a test agent.', WindowSize: 4, ...LLM },
      TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 },
      ASRConfig: { Provider: 'openai', Url: ai.baseUrl, ...ASR },
      ...rest.Config,
    },
    ...(rest.AgentConfig ? { AgentConfig: rest.AgentConfig } : {}),
  };
}

async function startAgent(body: Record<string, unknown>) {
  const s = await h.ok('StartVoiceChat', body);
  const c = new MediaClient(h.url, { agentInstanceId: s.AgentInstanceId, apiKey: API_KEY });
  clients.push(c);
  await c.opened;
  await c.until(() => c.events.find((e) => e.event === 'started'), 5000, 'started');
  return { id: s.AgentInstanceId as string, c };
}

const hello = () => speak('hello there, how are you today', 16000);
const describeAgent = (id: string) => h.ok('DescribeVoiceChat', { AgentInstanceId: id });

describe('agent scenarios', () => {
  it('plays a High welcome message whole even when the user talks over it', async () => {
    ai.scriptSpeech(ttsTone(2.0));
    ai.scriptTranscription({ text: 'hello there' });
    ai.scriptChat({ events: textEvents('Nice to meet you.') });
    const { id, c } = await startAgent({ ...config(), AgentConfig: { WelcomeMessage: 'Welcome to the voxbridge test line.' } });
    await c.until(() => c.audibleFrames().length > 5, 5000, 'welcome audio');
    const t0 = performance.now();
    void c.stream(hello());
    await sleep(1500);
    // Still speaking the welcome: audio kept flowing while the user talked.
    expect(c.audibleFrames(t0 + 500).length).toBeGreaterThan(20);
    await c.until(async () => false as never, 0).catch(() => undefined);
    const d = await c.until(async () => undefined, 1).catch(() => null);
    void d;
    await sleepUntilHistory(id, (hist) => hist.some((e: any) => e.Source === 'welcome' && !e.Interrupted));
    const desc = await describeAgent(id);
    expect(desc.BargeIns).toHaveLength(0);
    expect(desc.History.find((e: any) => e.Source === 'welcome').Content).toBe('Welcome to the voxbridge test line.');
  });
});

async function sleepUntilHistory(id: string, pred: (hist: any[]) => boolean, timeoutMs = 15000) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const d = await describeAgent(id);
    if (pred(d.History)) return d;
    if (performance.now() > end) throw new Error(`history never matched: ${JSON.stringify(d.History)}`);
    await sleep(100);
  }
}
void peak;
void encodeCtrl;
void slowAnswer;
void toolCallEvents;
void chunk;
