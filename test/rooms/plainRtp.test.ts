/**
 * A node-only room participant over PlainTransport RTP (UDP on loopback): it
 * joins with a CreateJoinToken token, sends espeak-ng speech as Opus RTP, and
 * receives the agent's Opus RTP. Local OpenAI-protocol servers make the agent
 * deterministic: ASR answers a fixed text, the TTS streams tones (440 Hz for
 * the welcome, 660 Hz for the answer) so the test knows what it hears.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { udp } from '../helpers/udp';
import { startHarness, sleep, type Harness } from '../helpers/bridgeHarness';
import { OpenAiTestServer, textEvents } from '../helpers/openaiServer';
import { speak } from '../helpers/clips';
import { concat, sine, toneLevel } from '../helpers/audio';
import { createOpusEncoder } from '../../src/rooms/opusEncoder';
import { loadWasmOpusDecoder } from '../../src/rooms/opusDecoder';
import { buildRtp, createRtpView, parseRtp } from '../../src/media/rtp';
import { RoomSignalingClient } from './signalingClient';
import { voiceRxAvailable } from '../../src/sfu/voiceRx';

let h: Harness;
let ai: OpenAiTestServer;

beforeAll(async () => {
  h = await startHarness();
  ai = await OpenAiTestServer.start();
});
afterAll(async () => {
  await h?.stop();
  await ai?.close();
});

interface Rx {
  at: number;
  seq: number;
  ts: number;
  marker: boolean;
  ssrc: number;
  pcm: Int16Array;
}

const toneSpeech = (hz: number, seconds: number) => ({ pcm: sine(hz, 24000, seconds, 8000), split: { every: 4800 }, chunkDelayMs: 80 });

describe('PlainTransport RTP participant', () => {
  it('hears the welcome and, after speaking, the answer, as Opus RTP with correct headers; a barge-in cuts it with no gap in the stream', async () => {
    const roomId = `plain-${Date.now().toString(36)}`;
    ai.scriptSpeech(toneSpeech(440, 1.2), toneSpeech(660, 4.0), toneSpeech(880, 0.6));
    ai.scriptTranscription({ text: 'hello from the plain transport' }, { text: 'stop there' });
    ai.scriptChat({ events: textEvents('You said hello from the plain transport.') }, { events: textEvents('Stopped.') });
    const started = await h.ok('StartVoiceChat', {
      RoomId: roomId,
      AgentConfig: { UserId: 'agent-1', WelcomeMessage: 'Welcome to the plain room.', TargetUserIds: ['rtp-user'] },
      Config: {
        LLMConfig: { Url: ai.baseUrl, ModelName: 'test-model', APIKey: 'sk-test' },
        TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 },
        ASRConfig: { Provider: 'openai', Url: ai.baseUrl },
      },
    });
    const session = h.bridge.agents.get(started.AgentInstanceId)!;
    const messages: any[] = [];
    session.on('message', (m) => messages.push(m));

    const { Token } = await h.ok('CreateJoinToken', { RoomId: roomId, UserId: 'rtp-user', Role: 'user', TtlSeconds: 120 });
    const c = new RoomSignalingClient(h.url);
    const joined = await c.ok('join', { roomId, token: Token });
    // The agent is in the room already, or joins it right after (its DirectTransport is being made).
    if (!joined.agents.length) await c.notification('agentJoined', (m) => m.agent.agentInstanceId === started.AgentInstanceId);
    else expect(joined.agents[0].agentInstanceId).toBe(started.AgentInstanceId);
    const caps = await c.ok('getRouterRtpCapabilities');
    await c.ok('setRtpCapabilities', { rtpCapabilitiesJson: caps.rtpCapabilitiesJson });

    // ---- receive: the agent's voice
    const Dec = await loadWasmOpusDecoder();
    const dec = new Dec({ sampleRate: 16000, channels: 1 });
    await dec.ready;
    const rx: Rx[] = [];
    const rxSock = await udp();
    const recvT = await c.ok('createPlainTransport', { direction: 2, rtcpMux: true, comedia: false });
    await c.ok('connectPlainTransport', { transportId: recvT.transportId, ip: '127.0.0.1', port: rxSock.address().port });
    const nc = await c.notification('newConsumer', (m) => m.fromAgent);
    const agentPt = JSON.parse(nc.rtpParametersJson).codecs[0].payloadType;
    const view = createRtpView();
    rxSock.on('message', (pkt) => {
      if (!parseRtp(pkt, view) || view.payloadType !== agentPt) return; // RTCP shares the port
      const d = dec.decodeFrame(pkt.subarray(view.payloadOffset, view.payloadOffset + view.payloadLength));
      const pcm = Int16Array.from(d.channelData[0]!, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
      rx.push({ at: performance.now(), seq: view.sequenceNumber, ts: view.timestamp, marker: view.marker, ssrc: view.ssrc, pcm });
    });
    await c.ok('resumeConsumer', { consumerId: nc.consumerId });

    const heard = (hz: number, from = 0) => rx.filter((p, i) => i >= from && toneLevel(p.pcm, 16000, hz) > 1500).length;
    const until = async (pred: () => boolean, ms: number, what: string) => {
      const end = performance.now() + ms;
      while (!pred()) {
        if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
      }
    };
    await until(() => heard(440) >= 25, 10_000, 'the welcome (440 Hz) over RTP');
    await until(() => messages.some((m) => m.type === 1002 && m.data.end), 5_000, 'the welcome subtitle');

    // RTP headers of the agent's stream: one SSRC, consecutive sequence numbers,
    // 960 ticks per 20 ms frame, marker on the first packet of the talk-spurt.
    expect(new Set(rx.map((p) => p.ssrc)).size).toBe(1);
    expect(rx[0]!.marker).toBe(true);
    for (let i = 1; i < Math.min(rx.length, 40); i++) {
      expect((rx[i]!.seq - rx[i - 1]!.seq) & 0xffff).toBe(1);
      expect((rx[i]!.ts - rx[i - 1]!.ts) >>> 0).toBe(960);
      expect(rx[i]!.marker).toBe(false);
    }
    // Paced by the core's clock: 40 packets take about 800 ms.
    if (rx.length >= 41) expect(rx[40]!.at - rx[0]!.at).toBeGreaterThan(650);

    // ---- send: espeak-ng speech, Opus-encoded, as RTP at real-time pace
    const txSock = await udp();
    const sendT = await c.ok('createPlainTransport', { direction: 1, rtcpMux: true, comedia: false });
    await c.ok('connectPlainTransport', { transportId: sendT.transportId, ip: '127.0.0.1', port: txSock.address().port });
    const ssrc = 0x1234abcd;
    const produced = await c.ok('produce', {
      transportId: sendT.transportId,
      kind: 'audio',
      rtpParametersJson: JSON.stringify({
        codecs: [{ mimeType: 'audio/opus', payloadType: 109, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }],
        encodings: [{ ssrc }],
      }),
    });
    expect(produced.producerId).toBeTruthy();
    await until(() => session.state === 'listening', 10_000, 'the welcome to end');
    const welcomeEnd = rx.length;
    const enc = createOpusEncoder({ sampleRate: 48000, channels: 1 });
    const buf = new Uint8Array(1275);
    let seq = 7;
    let ts = 1000;
    const say = async (voice: Int16Array) => {
      const t0 = performance.now();
      for (let f = 0; (f + 1) * 960 <= voice.length; f++, seq++, ts += 960) {
        const wait = t0 + f * 20 - performance.now();
        if (wait > 0) await sleep(wait);
        const n = enc.encode(voice.subarray(f * 960, (f + 1) * 960), buf);
        txSock.send(buildRtp(109, f === 0, seq, ts, ssrc, buf.subarray(0, n)), sendT.port, sendT.ip);
      }
    };
    await say(concat([new Int16Array(48000 / 2), speak('hello from the plain transport', 48000), new Int16Array(48000)]));

    await until(() => messages.some((m) => m.type === 1003), 10_000, 'the user subtitle (1003)');
    expect(messages.find((m) => m.type === 1003).data.text).toBe('hello from the plain transport');
    const asr = ai.requests.find((r) => r.path.endsWith('/audio/transcriptions'))!;
    const wav = asr.parts!.find((p) => p.name === 'file')!.data;
    // The utterance the VAD cut from the decoded RTP holds the spoken words (~1.5 s).
    expect((wav.length - 44) / 2 / 16000).toBeGreaterThan(0.8);
    await until(() => heard(660, welcomeEnd) >= 20, 10_000, 'the answer (660 Hz) over RTP');
    // A new talk-spurt: marker set on the answer's first packet, timestamps jumped over the silence.
    const first = rx.findIndex((p, i) => i >= welcomeEnd && p.marker);
    expect(first).toBeGreaterThanOrEqual(welcomeEnd);
    expect((rx[first]!.ts - rx[first - 1]!.ts) >>> 0).toBeGreaterThan(960);

    // ---- barge-in while the answer plays: the agent's frames are made ahead and sent
    // by the pacer; the frames still queued are dropped, and the stream goes on from
    // the last one sent with the talk-spurt-ending silence (no sequence gap to conceal).
    const pacedBefore = await h.metric('voxbridge_agent_frames_paced');
    const threadBefore = await h.metric('voxbridge_voice_rx_barge_ins');
    const lateTicksBefore = await h.metric('voxbridge_frame_clock_late_ticks');
    await say(concat([speak('stop there, please stop', 48000), new Int16Array(48000 / 2)]));
    await until(() => session.bargeIns.length === 1, 5_000, 'the barge-in');
    const b = session.bargeIns[0]!;
    expect(b.framesAfterDecision).toBe(0);
    // with the addon, decided (and the agent's voice stopped) on the voice receive thread
    if (voiceRxAvailable()) expect(await h.metric('voxbridge_voice_rx_barge_ins')).toBe(threadBefore + 1);
    // The record's latency needs the answer sounding at the decision (a frame sent in
    // the last 60 ms). On a loaded machine the event loop can stall past the frames'
    // 40 ms lead: the pacer runs dry and the wire goes quiet before the decision, and
    // the record rightly has no latency. Only with such a stall (late ticks) may it.
    if (b.lastFrameMs === null) expect(await h.metric('voxbridge_frame_clock_late_ticks')).toBeGreaterThan(lateTicksBefore);
    await sleep(300);
    const after = rx.slice(first);
    for (let i = 1; i < after.length; i++) expect((after[i]!.seq - after[i - 1]!.seq) & 0xffff).toBe(1);
    let lastTone = -1;
    after.forEach((p, i) => {
      if (toneLevel(p.pcm, 16000, 660) > 1500) lastTone = i;
    });
    expect(lastTone).toBeGreaterThan(0);
    expect(lastTone).toBeLessThan(after.length - 2); // cut before the 4 s answer ended
    // what followed the last tone packet: silence, contiguous with it
    // (the first carries the codec's overlap fade of the cut tone)
    const [s1, s2] = after.slice(lastTone + 1, lastTone + 3);
    expect([s1!.marker, s2!.marker]).toEqual([false, false]);
    expect((s1!.ts - after[lastTone]!.ts) >>> 0).toBe(960);
    expect(toneLevel(s1!.pcm, 16000, 660)).toBeLessThan(1500);
    expect(toneLevel(s2!.pcm, 16000, 660)).toBeLessThan(100);
    expect(await h.metric('voxbridge_agent_frames_paced')).toBeGreaterThan(pacedBefore);
    expect(await h.metric('voxbridge_pacer_priority')).toBeGreaterThanOrEqual(0);
    expect(await h.metric('voxbridge_pacer_step_asides_cut')).toBeLessThanOrEqual(await h.metric('voxbridge_pacer_step_asides'));

    dec.free();
    c.close();
    rxSock.close();
    txSock.close();
    await c.closed;
  }, 60_000);
});
