/**
 * The VAD tap: the file format round-trips, and a tap recorded by a live session
 * (real bridge, media-stream leg on loopback, espeak-ng speech over the agent's
 * answer) replays to the same barge-in decision.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTap, replayTap, TapKind, VadTapSet, VadTapWriter } from '../../src/agent/vadTap';
import { API_KEY, MediaClient, sleep, startHarness, type Harness } from '../helpers/bridgeHarness';
import { OpenAiTestServer, slowAnswer } from '../helpers/openaiServer';
import { speak } from '../helpers/clips';
import { concat, sine } from '../helpers/audio';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vbtap-'));
const header = { sampleRate: 16000, frameSamples: 320, interruptMs: 200, roomId: 'r', agentId: 'a' };

describe('VAD tap file', () => {
  it('round-trips records across chunk boundaries', async () => {
    const file = path.join(dir, 'rt.vadtap');
    const w = new VadTapWriter(file, header);
    const frames = Array.from({ length: 300 }, (_, k) => Int16Array.from({ length: 320 }, (_, i) => ((k * 7 + i) % 65536) - 32768));
    for (let k = 0; k < frames.length; k++) {
      w.record(TapKind.User, 1000 + 20 * k + 0.25, frames[k]);
      w.record(k % 3 ? TapKind.Ref : TapKind.RefSilent, 1000 + 20 * k, k % 3 ? frames[k] : null);
    }
    w.record(TapKind.BargeIn, 7777.5, null);
    await w.close();
    const { header: h, records } = readTap(file);
    expect(h).toEqual(header);
    expect(records).toHaveLength(601);
    for (let k = 0; k < frames.length; k++) {
      const u = records[2 * k];
      expect(u.kind).toBe(TapKind.User);
      expect(u.timeMs).toBe(1000 + 20 * k + 0.25);
      expect(u.pcm).toEqual(frames[k]);
      expect(records[2 * k + 1].pcm ?? null).toEqual(k % 3 ? frames[k] : null);
    }
    expect(records[600]).toEqual({ kind: TapKind.BargeIn, timeMs: 7777.5, pcm: null });
  });

  it('drops a truncated last record and refuses a file that is not a tap', () => {
    const file = path.join(dir, 'rt.vadtap');
    const cut = path.join(dir, 'cut.vadtap');
    const data = fs.readFileSync(file);
    fs.writeFileSync(cut, data.subarray(0, data.length - 11 - 300));
    expect(readTap(cut).records).toHaveLength(599);
    const bad = path.join(dir, 'bad.vadtap');
    fs.writeFileSync(bad, 'RIFF....');
    expect(() => readTap(bad)).toThrow(/not a VAD tap/);
  });

  it('replays the pairing by the media times it recorded, or by arrival when asked', async () => {
    const file = path.join(dir, 'media.vadtap');
    const w = new VadTapWriter(file, header);
    const pcm = new Int16Array(320);
    for (let k = 0; k < 6; k++) {
      w.record(TapKind.Ref, 1000 + 20 * k, pcm);
      // frames 2-4 arrived 150 ms late; their media times are on time
      if (k >= 2 && k <= 4) w.record(TapKind.UserMedia, 1003 + 20 * k, null);
      w.record(TapKind.User, 1003 + 20 * k + (k >= 2 && k <= 4 ? 150 : 0), pcm);
    }
    await w.close();
    const seen = (pairBy?: 'media' | 'arrival') => {
      const times: number[] = [];
      replayTap(file, {
        pairBy,
        pairing: () => ({ onTick: () => undefined, next: (t: number) => (times.push(t), pcm), resyncs: 0 }),
      });
      return times;
    };
    expect(seen()).toEqual([1003, 1023, 1043, 1063, 1083, 1103]);
    expect(seen('arrival')).toEqual([1003, 1023, 1193, 1213, 1233, 1103]);
  });

  it('opens taps only for the rooms that match', async () => {
    const set = new VadTapSet(path.join(dir, 'set'), '^keep-');
    expect(set.open({ ...header, roomId: 'other' })).toBeNull();
    const w = set.open({ ...header, roomId: 'keep-1', agentId: 'agent/1' })!;
    expect(w).not.toBeNull();
    await w.close();
    expect(fs.readdirSync(path.join(dir, 'set'))).toEqual(['keep-1.agent_1.vadtap']);
  });
});

describe('VAD tap of a live session', () => {
  let h: Harness;
  let ai: OpenAiTestServer;
  const tapDir = path.join(dir, 'live');
  beforeAll(async () => {
    h = await startHarness({ VOXBRIDGE_VAD_TAP_DIR: tapDir, VOXBRIDGE_VAD_TAP_ROOMS: '^tap-' });
    ai = await OpenAiTestServer.start();
  });
  afterAll(async () => {
    await h?.stop();
    await ai?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('replays to the barge-in the session decided', async () => {
    ai.scriptChat(slowAnswer(120, 200, 3));
    ai.scriptSpeech({ pcm: sine(440, 24000, 20, 8000), split: { every: 4800 }, chunkDelayMs: 90 });
    ai.scriptTranscription({ text: 'stop please' });
    const llm = { Url: ai.baseUrl, ModelName: 'm', APIKey: 'sk-test' };
    const body = (room: string) => ({
      RoomId: room,
      Config: { LLMConfig: llm, TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 }, ASRConfig: { Provider: 'openai', Url: ai.baseUrl, InterruptConfig: { InterruptSpeechDuration: 200 } } },
    });
    const other = await h.ok('StartVoiceChat', body('untapped-1'));
    const s = await h.ok('StartVoiceChat', body('tap-1'));
    const c = new MediaClient(h.url, { agentInstanceId: s.AgentInstanceId, apiKey: API_KEY });
    try {
      await c.opened;
      await c.until(() => c.events.find((e) => e.event === 'started'), 5000, 'started');
      void c.silence(600);
      await h.ok('SendAgentInstanceLLM', { AgentInstanceId: s.AgentInstanceId, Text: 'Tell me a long story.' });
      await c.until(() => c.frames.length > 40, 8000, 'agent speaking');
      await c.stream(concat([speak('stop please, I want to ask you something else', 16000), new Int16Array(8000)]));
      const d = await h.ok('DescribeVoiceChat', { AgentInstanceId: s.AgentInstanceId });
      expect(d.BargeIns).toHaveLength(1);
    } finally {
      c.close();
      await h.ok('StopVoiceChat', { AgentInstanceId: s.AgentInstanceId });
      await h.ok('StopVoiceChat', { AgentInstanceId: other.AgentInstanceId });
    }
    await sleep(200);
    const files = fs.readdirSync(tapDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^tap-1\.agent-.*\.vadtap$/);
    const r = replayTap(path.join(tapDir, files[0]));
    expect(r.header.interruptMs).toBe(200);
    expect(r.live).toHaveLength(1);
    expect(r.refFrames).toBeGreaterThan(100);
    // the replay decides "D reached" on the same packet the live session did
    expect(r.reached.some((t) => Math.abs(t - r.live[0]) <= 25)).toBe(true);
  }, 30_000);
});
