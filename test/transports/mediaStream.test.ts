/**
 * The WebSocket media stream as a gateway sees it: a test client that behaves like
 * a FreeSWITCH/jambonz/Twilio-style gateway streams μ-law speech at real-time
 * pace, receives the agent's audio, echoes marks, barges in and checks that
 * `clear` arrives and the agent's audio stops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OpenAiTestServer, textEvents } from '../helpers/openaiServer';
import { API_KEY, startTelephony, testAgent, toneSpeech, until, sleep, type TelephonyStack } from '../helpers/sipHarness';
import { speak } from '../helpers/clips';
import { concat } from '../helpers/audio';
import { encodeG711, decodeG711 } from '../../src/media/g711';
import { encodeCtrl } from '../../src/native/tlv';
import { nativePacer } from '../../src/sfu/pacedRtp';

let ai: OpenAiTestServer;
let stack: TelephonyStack;

beforeAll(async () => {
  ai = await OpenAiTestServer.start();
  stack = await startTelephony({ VOXBRIDGE_TELEPHONY_AGENTS: JSON.stringify({ support: testAgent(ai) }) });
});
afterAll(async () => {
  await stack?.stop();
  await ai?.close();
});

interface Frame {
  at: number;
  bytes: Buffer;
}

/** A gateway: μ-law 8 kHz unless told otherwise. */
class Gateway {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly events: Record<string, any>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  echoMarks = true;
  private stopStream = false;

  constructor(start: Record<string, unknown>, headers: Record<string, string> = {}, url = stack.wsUrl) {
    this.ws = new WebSocket(url, { headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        this.ws.send(JSON.stringify({ event: 'start', callId: `call-${Math.random().toString(36).slice(2, 8)}`, mediaFormat: { encoding: 'PCMU', sampleRate: 8000 }, ...start }));
        resolve();
      });
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        this.frames.push({ at: performance.now(), bytes: data });
        return;
      }
      const msg = JSON.parse(data.toString()) as Record<string, any>;
      msg.at = performance.now();
      this.events.push(msg);
      // Like a gateway: a mark comes back once the audio before it has been played.
      if (msg.event === 'mark' && this.echoMarks) this.ws.send(JSON.stringify({ event: 'mark', name: msg.name }));
    });
  }

  event(name: string): Record<string, any> | undefined {
    return this.events.find((e) => e.event === name);
  }

  /** Streams 8 kHz PCM as μ-law in 20 ms frames at real-time pace; returns the send time of each frame. */
  async stream(pcm: Int16Array): Promise<number[]> {
    this.stopStream = false;
    const sent: number[] = [];
    const t0 = performance.now();
    for (let i = 0, n = 0; i < pcm.length; i += 160, n++) {
      if (this.stopStream || this.ws.readyState !== WebSocket.OPEN) break;
      const wait = t0 + n * 20 - performance.now();
      if (wait > 0) await sleep(wait);
      sent.push(performance.now());
      this.ws.send(Buffer.from(encodeG711('PCMU', pcm.subarray(i, Math.min(i + 160, pcm.length)))));
    }
    return sent;
  }

  halt(): void {
    this.stopStream = true;
  }

  audible(from = 0, to = Infinity, threshold = 1000): Frame[] {
    return this.frames.filter((f) => f.at >= from && f.at < to && peakMulaw(f.bytes) > threshold);
  }

  close(): void {
    this.halt();
    this.ws.close();
  }
}

function peakMulaw(b: Buffer): number {
  const pcm = decodeG711('PCMU', b);
  let m = 0;
  for (const v of pcm) m = Math.max(m, Math.abs(v));
  return m;
}

const silence = (ms: number) => new Int16Array((8000 * ms) / 1000);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
}

describe('WebSocket media stream', () => {
  it('runs a μ-law call: the agent hears the caller, answers paced in real time, and marks report playback', async () => {
    ai.scriptTranscription({ text: 'I need help with my order' });
    ai.scriptChat({ events: textEvents('Sure, I can help with that.') });
    ai.scriptSpeech(toneSpeech(2));
    const g = new Gateway({ agent: 'support', apiKey: API_KEY });
    await until(() => g.event('started'), 5000, 'started');
    const id = g.event('started')!.agentInstanceId as string;
    await g.stream(concat([speak('I need help with my order', 8000), silence(1200)]));
    const sub = await until(() => g.events.find((e) => e.event === 'message' && e.data.type === 1003), 10_000, 'user subtitle');
    expect(sub.data.data.text).toBe('I need help with my order');
    // About 2 s of answer: 100 frames of 20 ms μ-law.
    await until(() => g.audible().length >= 90, 10_000, 'agent audio');
    await sleep(300);
    const audible = g.audible();
    expect(audible.every((f) => f.bytes.length === 160)).toBe(true);
    // Never ahead of real time: N frames take about N × 20 ms to arrive.
    const span = audible[audible.length - 1].at - audible[0].at;
    expect(span).toBeGreaterThan((audible.length - 1) * 20 - 60);
    // ...at every point of the answer, not only overall (a late clock tick may send the
    // frames it missed back to back, which catches up but never runs ahead).
    audible.forEach((f, k) => expect(f.at - audible[0].at).toBeGreaterThan(k * 20 - 60));
    const gaps = audible.slice(1).map((f, i) => f.at - audible[i].at);
    const stats = stack.media.legStats(id)!;
    // the pacer thread writes the connection (the addon is built for the tests)
    expect(stats.paced).toBe(nativePacer() !== null);
    expect(stats.framesPlayed).toBeGreaterThan(0);
    expect(stats.framesPlayed).toBeLessThanOrEqual(stats.framesSent);
    console.log(`[ws pacing] server: jitter p50 ${stats.pacing.jitterP50} ms p95 ${stats.pacing.jitterP95} ms max ${stats.pacing.jitterMax} ms; client gaps p50 ${percentile(gaps, 0.5).toFixed(1)} p95 ${percentile(gaps, 0.95).toFixed(1)} ms; marks played ${stats.framesPlayed}/${stats.framesSent}`);
    g.ws.send(JSON.stringify({ event: 'hangup' }));
    expect((await g.closed).code).toBe(1000);
    await until(() => stack.agents.get(id)?.ended, 3000, 'agent ended');
    expect(stack.agents.get(id)!.endReason).toBe('userHangup');
  });

  it.runIf(nativePacer() !== null)('paced: the frames leave 20 ms apart while the event loop is blocked for 30 ms at a time', async () => {
    ai.scriptTranscription({ text: 'tell me a story' });
    ai.scriptChat({ events: textEvents('Once upon a time there was a very long story.') });
    ai.scriptSpeech(toneSpeech(6));
    const g = new Gateway({ agent: 'support', apiKey: API_KEY });
    await until(() => g.event('started'), 5000, 'started');
    const id = g.event('started')!.agentInstanceId as string;
    await g.stream(concat([speak('tell me a story', 8000), silence(1200)]));
    await until(() => g.audible().length >= 10, 10_000, 'agent speaking');
    const before = stack.media.legStats(id)!;
    // 30 ms holds (less than the 40 ms lead), 70 ms apart, for 1.5 s
    for (let i = 0; i < 15; i++) {
      const end = performance.now() + 30;
      while (performance.now() < end) {
        /* the event loop is held */
      }
      await sleep(70);
    }
    await sleep(200);
    const after = stack.media.legStats(id)!;
    expect(after.paced).toBe(true);
    expect(after.framesSent - before.framesSent).toBeGreaterThan(60);
    // gaps between frames as they left (the pacer's send times): no 30 ms hole
    console.log(`[ws paced] jitter p50 ${after.pacing.jitterP50} p95 ${after.pacing.jitterP95} max ${after.pacing.jitterMax} ms over ${after.pacing.frames} frames`);
    expect(after.pacing.jitterMax).toBeLessThan(8);
    const audible = g.audible();
    expect(audible.every((f) => f.bytes.length === 160)).toBe(true);
    // pings are answered through the same queue (ws's own auto-pong is off)
    const pong = new Promise<Buffer>((resolve) => g.ws.once('pong', resolve));
    g.ws.ping(Buffer.from('hi'));
    expect((await pong).toString()).toBe('hi');
    g.ws.send(JSON.stringify({ event: 'hangup' }));
    expect((await g.closed).code).toBe(1000);
  });

  it('barge-in: clear reaches the gateway and the agent audio stops', async () => {
    ai.scriptTranscription({ text: 'hello' }, { text: 'stop please' });
    ai.scriptChat({ events: textEvents('Let me tell you a long story.') }, { events: textEvents('Okay.') });
    // The answer to the barge-in utterance is silent, so audible audio after the clear can
    // only come from the interrupted answer.
    ai.scriptSpeech(toneSpeech(8), { pcm: new Int16Array(12000) });
    const g = new Gateway({ agent: 'support', apiKey: API_KEY });
    await until(() => g.event('started'), 5000, 'started');
    const id = g.event('started')!.agentInstanceId as string;
    const streamDone = g.stream(concat([speak('hello', 8000), silence(10_000)]));
    await until(() => g.audible().length >= 25, 10_000, 'agent speaking');
    g.halt();
    await streamDone;
    const words = speak('stop please, stop talking', 8000);
    const onsetSample = words.findIndex((v) => Math.abs(v) > 300);
    const sent = await g.stream(concat([words, silence(600)]));
    const onsetAt = sent[Math.floor(onsetSample / 160)] + ((onsetSample % 160) / 8);
    const clear = await until(() => g.events.find((e) => e.event === 'clear'), 5000, 'clear');
    const session = stack.agents.get(id)!;
    const b = session.bargeIns[0];
    expect(b.framesAfterDecision).toBe(0);
    // After clear, at most the one frame already in flight is audible, then nothing from the
    // interrupted answer.
    const after = g.audible(clear.at + 25, clear.at + 800);
    expect(after.length).toBe(0);
    console.log(`[ws barge-in] onset → clear at the gateway ${(clear.at - onsetAt).toFixed(1)} ms; bridge latency (onset → last frame) ${b.latencyMs?.toFixed(1)} ms; frames after decision ${b.framesAfterDecision}`);
    expect(clear.at - onsetAt).toBeLessThan(600);
    g.close();
  });

  it('a gateway that hangs up mid-answer gets its close code echoed after whole frames (ws writes that close itself)', async () => {
    ai.scriptTranscription({ text: 'hello' });
    ai.scriptChat({ events: textEvents('Let me tell you a long story.') });
    ai.scriptSpeech(toneSpeech(8));
    const g = new Gateway({ agent: 'support', apiKey: API_KEY });
    const errors: Error[] = [];
    g.ws.on('error', (e) => errors.push(e));
    await until(() => g.event('started'), 5000, 'started');
    const session = stack.agents.get(g.event('started')!.agentInstanceId as string)!;
    const streamDone = g.stream(concat([speak('hello', 8000), silence(10_000)]));
    await until(() => g.audible().length >= 10, 10_000, 'agent speaking');
    // the agent's next frames are queued in the pacer when the gateway's close arrives
    g.halt();
    await streamDone;
    g.ws.close(4001, 'caller hung up');
    const closed = await g.closed;
    expect(errors).toEqual([]); // a close frame cut into a media frame would be a protocol error here
    expect(closed.code).toBe(4001);
    await until(() => session.ended, 5000, 'the agent session ended with the call');
  });

  it('accepts ctrl TLV frames from the gateway and answers malformed ones with an error', async () => {
    ai.scriptSpeech(toneSpeech(6));
    const g = new Gateway({ agentConfig: { ...testAgent(ai, { welcome: 'Welcome to the support line.' }) }, apiKey: API_KEY });
    await until(() => g.audible().length >= 10, 10_000, 'welcome audio');
    g.ws.send(encodeCtrl({ Command: 'interrupt' }));
    await until(() => g.event('clear'), 3000, 'clear after ctrl interrupt');
    g.ws.send(encodeCtrl('{"Command":'));
    g.ws.send(encodeCtrl({ Command: 'dance' }));
    const bad = Buffer.from(encodeCtrl({ Command: 'interrupt' }));
    bad.writeUInt32BE(9999, 4);
    g.ws.send(bad);
    await until(() => g.events.filter((e) => e.event === 'error').length >= 3, 3000, 'three errors');
    expect(g.events.filter((e) => e.event === 'error').map((e) => e.code)).toEqual(['CTRL_INVALID_JSON', 'CTRL_UNKNOWN_COMMAND', 'TLV_TRUNCATED']);
    expect(g.ws.readyState).toBe(WebSocket.OPEN);
    g.close();
  });

  it.each([
    ['a wrong API key', { agent: 'support', apiKey: 'nope' }, 'Unauthorized.ApiKey', 4401],
    ['an unknown stored agent', { agent: 'sales', apiKey: API_KEY }, 'InvalidParameter.Agent', 4404],
    ['an unknown AgentInstanceId', { agentInstanceId: 'agent-nope', apiKey: API_KEY }, 'InvalidParameter.AgentInstanceId', 4404],
    ['an unsupported encoding', { agent: 'support', apiKey: API_KEY, mediaFormat: { encoding: 'G729', sampleRate: 8000 } }, 'InvalidParameter.Encoding', 4400],
    ['μ-law at 16 kHz', { agent: 'support', apiKey: API_KEY, mediaFormat: { encoding: 'PCMU', sampleRate: 16000 } }, 'InvalidParameter.SampleRate', 4400],
    ['an invalid inline agent config', { agentConfig: { Config: { InterruptMode: 7 } }, apiKey: API_KEY }, 'InvalidParameter.InterruptMode', 4400],
  ])('refuses a start message with %s: error event and close code', async (_n, start, code, close) => {
    const g = new Gateway(start);
    const c = await g.closed;
    expect(g.event('error')?.code).toBe(code);
    expect(c.code).toBe(close);
  });

  it('takes the API key from the upgrade request, joins a running agent, and carries L16 and A-law', async () => {
    for (const [encoding, sampleRate, bytes] of [['L16', 16000, 640], ['L16', 8000, 320], ['PCMA', 8000, 160]] as const) {
      ai.scriptSpeech(toneSpeech(0.6));
      const a = stack.agents.start((await import('../../src/agent/agentConfig')).parseStartVoiceChat({ RoomId: `r-${encoding}-${sampleRate}`, ...testAgent(ai, { welcome: 'Hi.' }) }));
      const g = new Gateway({ agentInstanceId: a.id, mediaFormat: { encoding, sampleRate } }, { authorization: `Bearer ${API_KEY}` });
      await until(() => g.frames.length >= 20, 5000, `${encoding}/${sampleRate} audio`);
      // The first frame can be short while the resampler fills; then every frame is 20 ms.
      expect(g.frames.slice(2).every((f) => f.bytes.length === bytes)).toBe(true);
      // The agent ends (StopVoiceChat): the gateway gets hangup and a normal close.
      a.end('stopped');
      await until(() => g.event('hangup'), 2000, 'hangup');
      expect((await g.closed).code).toBe(1000);
    }
  });
});

describe('WebSocket media stream without the pacer (agentAudioLeadMs = 0: written at the tick)', () => {
  let plain: TelephonyStack;
  beforeAll(async () => {
    plain = await startTelephony({ VOXBRIDGE_AGENT_AUDIO_LEAD_MS: '0', VOXBRIDGE_TELEPHONY_AGENTS: JSON.stringify({ support: testAgent(ai) }) });
  });
  afterAll(async () => {
    await plain?.stop();
  });

  it('answers in real-time pace through ws itself, and answers pings', async () => {
    ai.scriptTranscription({ text: 'hello there' });
    ai.scriptChat({ events: textEvents('Hi, how can I help?') });
    ai.scriptSpeech(toneSpeech(1.2));
    const g = new Gateway({ agent: 'support', apiKey: API_KEY }, {}, plain.wsUrl);
    await until(() => g.event('started'), 5000, 'started');
    const id = g.event('started')!.agentInstanceId as string;
    await g.stream(concat([speak('hello there', 8000), silence(1200)]));
    await until(() => g.audible().length >= 50, 10_000, 'agent audio');
    const audible = g.audible();
    audible.forEach((f, k) => expect(f.at - audible[0].at).toBeGreaterThan(k * 20 - 60));
    const stats = plain.media.legStats(id)!;
    expect(stats.paced).toBe(false);
    expect(stats.framesSent).toBeGreaterThanOrEqual(50);
    const pong = new Promise<Buffer>((resolve) => g.ws.once('pong', resolve));
    g.ws.ping(Buffer.from('plain'));
    expect((await pong).toString()).toBe('plain');
    g.ws.send(JSON.stringify({ event: 'hangup' }));
    expect((await g.closed).code).toBe(1000);
  });
});
