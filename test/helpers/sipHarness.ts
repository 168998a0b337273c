/**
 * The telephony side of the bridge, running in-process for tests: a real
 * mediasoup worker pool, the agent manager, the WebSocket media-stream server on
 * loopback HTTP, the AudioSocket server and the SIP user agent — configured
 * through loadConfig() like the bridge, with agents whose LLM/TTS/ASR are the
 * local OpenAI-protocol test server (deterministic).
 *
 * (It wires the same classes as src/bridge.ts so the telephony tests do not
 * depend on the rooms and VAD work in progress there.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type BridgeConfig } from '../../src/config';
import { setLogLevel } from '../../src/log';
import { WorkerPool } from '../../src/sfu/workerPool';
import { AgentManager } from '../../src/agent/agentManager';
import { sharedClock } from '../../src/agent/frameClock';
import { createVad } from '../../src/native/vad';
import type { VadStream } from '../../src/native/vadTypes';
import { signToken } from '../../src/auth/tokens';
import { MediaStreamServer, MEDIA_STREAM_PATH } from '../../src/transports/mediaStream';
import { AudioSocketServer } from '../../src/transports/audioSocket';
import { SipUserAgent } from '../../src/sip/userAgent';
import { ControlApi } from '../../src/server/controlApi';
import { registerAgentActions } from '../../src/server/agentActions';
import { sine } from './audio';
import type { OpenAiTestServer } from './openaiServer';

export const API_KEY = 'test-api-key-0123456789';

export function createVadStream(o: { sampleRate: number; frameMs: number; interruptMs: number }): VadStream {
  return createVad({ sampleRate: o.sampleRate as 16000, frameMs: o.frameMs as 20, interruptSpeechDurationMs: o.interruptMs }) as unknown as VadStream;
}

/** A StartVoiceChat-style agent body using the test server for LLM, TTS and ASR. */
export function testAgent(ai: OpenAiTestServer, over: { welcome?: string; config?: Record<string, unknown>; llm?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    AgentConfig: over.welcome ? { WelcomeMessage: over.welcome } : {},
    Config: {
      LLMConfig: { Url: ai.baseUrl, ModelName: 'test-model', APIKey: 'sk-test', SystemPrompt: 'You are a phone agent.', ...over.llm },
      TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 },
      ASRConfig: { Provider: 'openai', Url: ai.baseUrl },
      ...over.config,
    },
  };
}

/** The test server's TTS: a tone of `seconds` (easy to find in received audio). */
export function toneSpeech(seconds: number, freq = 440): { pcm: Int16Array; split: { every: number }; chunkDelayMs: number } {
  return { pcm: sine(freq, 24000, seconds, 9000), split: { every: 4800 }, chunkDelayMs: 20 };
}

export class TelephonyStack {
  readonly workers: WorkerPool;
  readonly agents: AgentManager;
  readonly media: MediaStreamServer;
  readonly sip: SipUserAgent | null;
  readonly audioSocket: AudioSocketServer | null;
  readonly api: ControlApi;
  private readonly server: http.Server;

  constructor(readonly config: BridgeConfig) {
    const tel = config.telephony;
    this.workers = new WorkerPool(config.mediasoup);
    this.agents = new AgentManager({
      maxSessions: config.maxSessions,
      deps: { clock: sharedClock, createVad: createVadStream, tokenSecretSign: (c) => signToken(config.tokenSecret, c) },
      retainEndedMs: 60_000,
    });
    this.media = new MediaStreamServer({ agents: this.agents, apiKey: config.apiKey, tokenSecret: config.tokenSecret, createVad: createVadStream, storedAgents: tel.agents, agentAudioLeadMs: config.agentAudioLeadMs });
    this.sip = tel.sip.enabled
      ? new SipUserAgent({ settings: tel.sip, agents: this.agents, storedAgents: tel.agents, workers: this.workers, mediaListenIp: config.mediasoup.listenIp, timers: { t1: 200, t2: 2000, timeout: 8000 } })
      : null;
    this.audioSocket = tel.audioSocket.enabled
      ? new AudioSocketServer({ agents: this.agents, storedAgents: tel.agents, agent: tel.audioSocket.agent, host: tel.audioSocket.host, port: tel.audioSocket.port, agentAudioLeadMs: config.agentAudioLeadMs })
      : null;
    this.api = new ControlApi(config.apiKey);
    registerAgentActions(this.api, this.agents, { publicUrl: () => this.url, sip: () => this.sip });
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/api') void this.api.handle(req, res, url);
      else res.writeHead(404).end();
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname === MEDIA_STREAM_PATH) this.media.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  async start(): Promise<void> {
    await this.workers.start();
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    await this.sip?.start();
    await this.audioSocket?.start();
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get wsUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}${MEDIA_STREAM_PATH}`;
  }

  /** A control API call: status and JSON body. */
  async call(action: string, body: unknown): Promise<{ status: number; body: Record<string, any> }> {
    const res = await fetch(`${this.url}/api?Action=${action}`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  async stop(): Promise<void> {
    await this.sip?.stop();
    await this.audioSocket?.close();
    this.agents.stopAll('shutdown');
    this.media.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    await this.workers.close();
  }
}

/** Starts a stack configured by environment-style settings (VOXBRIDGE_* names). */
export async function startTelephony(env: Record<string, string>): Promise<TelephonyStack> {
  setLogLevel((process.env.VOXBRIDGE_TEST_LOG as 'debug') ?? 'error');
  const config = loadConfig({ env: { VOXBRIDGE_PORT: '0', VOXBRIDGE_API_KEY: API_KEY, VOXBRIDGE_WORKERS: '1', ...env } });
  const stack = new TelephonyStack(config);
  await stack.start();
  return stack;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(pred: () => T | undefined | null | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
