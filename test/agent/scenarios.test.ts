/**
 * Agent behaviour end to end through the control API and a media-stream leg:
 * a real bridge (mediasoup worker, HTTP, WebSocket on loopback), espeak-ng
 * speech as the user's voice, and local servers speaking the OpenAI wire
 * protocol for LLM, TTS and ASR. The TTS server streams tones so the test can
 * tell which speech task is playing by its frequency.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, MediaClient, sleep, startHarness, type Harness, type ReceivedFrame } from '../helpers/bridgeHarness';
import { OpenAiTestServer, slowAnswer, textEvents, toolCallEvents, chunk } from '../helpers/openaiServer';
import { speak, labelSpeech } from '../helpers/clips';
import { sine, toneLevel, concat } from '../helpers/audio';
import { encodeCtrl } from '../../src/native/tlv';
import { nativeAddon } from '../../src/native/addon';

let h: Harness;
let ai: OpenAiTestServer;
const clients: MediaClient[] = [];
const started: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  ai = await OpenAiTestServer.start();
});
afterAll(async () => {
  await h?.stop();
  await ai?.close();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  // Agents still running would go on using the shared test servers in the next test
  // (a turn that ends on the end-of-turn timer after its client left asks for an answer).
  await Promise.all(started.splice(0).map((id) => h.ok('StopVoiceChat', { AgentInstanceId: id }).catch(() => undefined)));
  // Scripts a test did not consume must not leak into the next one.
  ai.chatScripts.length = 0;
  ai.speechScripts.length = 0;
  ai.transcriptionScripts.length = 0;
});

/** TTS answer: a `freq` Hz tone of `seconds`, streamed at about real time in 100 ms chunks. */
function tone(freq: number, seconds: number, realTime = true) {
  return { pcm: sine(freq, 24000, seconds, 8000), split: { every: 4800 }, chunkDelayMs: realTime ? 90 : 0 };
}

/** Which test tone a received frame carries (0 when none). */
function freqOf(f: ReceivedFrame): number {
  for (const hz of [440, 660, 880]) if (toneLevel(f.pcm, 16000, hz) > 2000) return hz;
  return 0;
}

function config(over: { LLM?: Record<string, unknown>; Config?: Record<string, unknown>; AgentConfig?: Record<string, unknown> } = {}) {
  return {
    RoomId: `room-${Math.random().toString(36).slice(2, 8)}`,
    AgentConfig: over.AgentConfig,
    Config: {
      LLMConfig: { Url: ai.baseUrl, ModelName: 'test-model', APIKey: 'sk-test', SystemPrompt: 'You are a test agent.', WindowSize: 4, ...over.LLM },
      TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 },
      ASRConfig: { Provider: 'openai', Url: ai.baseUrl },
      ...over.Config,
    },
  };
}

async function startAgent(body: Record<string, unknown>) {
  const s = await h.ok('StartVoiceChat', body);
  started.push(s.AgentInstanceId);
  const c = new MediaClient(h.url, { agentInstanceId: s.AgentInstanceId, apiKey: API_KEY });
  clients.push(c);
  await c.opened;
  await c.until(() => c.events.find((e) => e.event === 'started'), 5000, 'started');
  return { id: s.AgentInstanceId as string, c };
}

const describeAgent = (id: string) => h.ok('DescribeVoiceChat', { AgentInstanceId: id });

async function until<T>(pred: () => Promise<T | undefined | false>, timeoutMs = 15000, what = 'condition'): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const speech = (text: string) => speak(text, 16000);
const pad = (pcm: Int16Array, ms: number) => concat([pcm, new Int16Array((16000 * ms) / 1000)]);

describe('agent scenarios', () => {
  it('a High welcome message is heard whole although the user talks over it', async () => {
    ai.scriptSpeech(tone(440, 2.5), tone(660, 1));
    ai.scriptTranscription({ text: 'hello there' });
    ai.scriptChat({ events: textEvents('Nice to meet you.') });
    const { id, c } = await startAgent(config({ AgentConfig: { WelcomeMessage: 'Welcome to the voxbridge test line.' } }));
    await c.until(() => c.frames.filter((f) => freqOf(f) === 440).length > 10, 8000, 'welcome audio');
    await c.stream(pad(speech('hello there, how are you today'), 300));
    const d = await until(async () => {
      const x = await describeAgent(id);
      return x.History.some((e: any) => e.Source === 'welcome') && x;
    });
    expect(d.History.find((e: any) => e.Source === 'welcome')).toMatchObject({ Content: 'Welcome to the voxbridge test line.', Interrupted: false });
    expect(d.BargeIns).toHaveLength(0);
    // The whole 2.5 s welcome tone reached the user: ~125 frames.
    expect(c.frames.filter((f) => freqOf(f) === 440).length).toBeGreaterThanOrEqual(120);
    // And the user's turn was answered after it.
    await c.until(() => c.subtitles(1003).find((s) => s.text === 'hello there'), 10000, 'user subtitle');
    await c.until(() => c.frames.some((f) => freqOf(f) === 660), 10000, 'answer audio');
  });

  it('an idle prompt fires after N seconds of user silence', async () => {
    ai.scriptSpeech(tone(440, 0.6, false));
    const { id, c } = await startAgent(config({ Config: { IdleConfig: { TimeoutSeconds: 1, Mode: 'TTS', Text: 'Are you still there?' } } }));
    const t0 = performance.now();
    void c.silence(3000);
    const sub = await c.until(() => c.messages.find((m) => m.type === 1002 && m.data.text === 'Are you still there?'), 5000, 'idle prompt');
    expect(sub.data.end).toBe(true);
    const firstAudio = await c.until(() => c.frames.find((f) => freqOf(f) === 440), 3000, 'idle audio');
    expect(firstAudio.at - t0).toBeGreaterThan(900);
    expect(firstAudio.at - t0).toBeLessThan(2500);
    const d = await until(async () => ((await describeAgent(id)).History.some((e: any) => e.Source === 'idle') ? true : undefined));
    expect(d).toBe(true);
  });

  it('a time-limit announcement (High, ClearAndInterrupt) cuts in at once; Medium + Enqueue plays after the current answer', async () => {
    ai.scriptSpeech(tone(440, 3), tone(660, 0.5, false), tone(880, 0.6, false));
    const { id, c } = await startAgent(config());
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'Here is a long answer about many things.' });
    await c.until(() => c.frames.filter((f) => freqOf(f) === 440).length > 10, 5000, 'first answer');
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'And one more thing.', SamePriorityOption: 'Enqueue' });
    await sleep(300);
    expect(c.frames.some((f) => freqOf(f) === 660)).toBe(false); // the enqueued task waits
    const sentAt = performance.now();
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'Your time is up.', Priority: 'High', SamePriorityOption: 'ClearAndInterrupt' });
    const high = await c.until(() => c.frames.find((f) => freqOf(f) === 880), 3000, 'time-limit audio');
    expect(high.at - sentAt).toBeLessThan(400);
    // No frame of the interrupted answer after the announcement started.
    expect(c.frames.filter((f) => f.at > high.at && freqOf(f) === 440)).toHaveLength(0);
    const d = await until(async () => {
      const x = await describeAgent(id);
      return x.History.length >= 2 && x;
    });
    expect(d.History[0]).toMatchObject({ Source: 'api-tts', Interrupted: true });
    expect(d.History[1]).toMatchObject({ Content: 'Your time is up.', Interrupted: false });
    // The enqueued Medium task had been queued behind the playing one of the same
    // priority; ClearAndInterrupt at High does not clear other priorities, so it plays last.
    await c.until(() => c.frames.some((f) => freqOf(f) === 660 && f.at > high.at), 5000, 'enqueued task after');
  });

  it('refuses a 6th queued task with QueueFull', async () => {
    ai.scriptSpeech(tone(440, 5));
    const { id } = await startAgent(config());
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'Long one.', Priority: 'High' });
    for (let i = 0; i < 5; i++) await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: `Queued ${i}.`, Priority: 'Low', SamePriorityOption: 'Enqueue' });
    const r = await h.api('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'One too many.', Priority: 'Low', SamePriorityOption: 'Enqueue' });
    expect(r.status).toBe(429);
    expect(r.body.Code).toBe('QueueFull');
    expect((await describeAgent(id)).QueuedTasks).toHaveLength(5);
  });

  for (const D of [0, 500]) {
    it(`barge-in at InterruptSpeechDuration=${D}: stops the agent, aborts the LLM and TTS requests, keeps only the played text`, async () => {
      // A long answer streamed slowly; each sentence's TTS is a long real-time tone.
      ai.scriptChat(slowAnswer(120, 200, 3));
      ai.scriptSpeech(tone(440, 20), tone(440, 20));
      ai.scriptTranscription({ text: 'wait a moment please' });
      const body = config({ Config: { ASRConfig: { Provider: 'openai', Url: ai.baseUrl, InterruptConfig: { InterruptSpeechDuration: D } } } });
      const { id, c } = await startAgent(body);
      const before = ai.requests.length;
      await h.ok('SendAgentInstanceLLM', { AgentInstanceId: id, Text: 'Tell me a long story.', AddAnswerToHistory: true });
      await c.until(() => c.frames.filter((f) => freqOf(f) === 440).length > 25, 8000, 'agent speaking');
      const chatReq = ai.requests.slice(before).find((r) => r.path.endsWith('/chat/completions'))!;
      const ttsReq = ai.requests.slice(before).filter((r) => r.path.endsWith('/audio/speech')).pop()!;

      if (D === 500) {
        // "ok" is shorter than D: it must not interrupt, nor start a new answer that
        // would replace the one playing (a backchannel); it is still transcribed.
        const short = speak('ok', 16000, { speed: 260 });
        const spoken = labelSpeech(short, 16000).speech.reduce((a, [s0, s1]) => a + (s1 - s0), 0) / 16;
        expect(spoken).toBeLessThan(450);
        const t = performance.now();
        await c.stream(pad(short, 600));
        expect((await describeAgent(id)).BargeIns).toHaveLength(0);
        expect(c.frames.filter((f) => f.at > t + 700 && freqOf(f) === 440).length).toBeGreaterThan(5);
        await c.until(() => c.subtitles(1003).length > 0, 5000, 'backchannel subtitle');
        expect(ai.requests.slice(before).filter((r) => r.path.endsWith('/chat/completions'))).toHaveLength(1);
      }

      const streamedAt = performance.timeOrigin + performance.now();
      // (100 ms of silence first: the clip's voice starts 13 ms in, so its onset is in
      // the first packet, and a TCP arrival is dated in the kernel's 4 ms jiffies: it
      // could come out just before streamedAt)
      void c.stream(pad(concat([new Int16Array(1600), speech('stop please, I want to ask you something else entirely')]), 500));
      const d = await until(async () => {
        const x = await describeAgent(id);
        return x.BargeIns.length > 0 && x;
      }, 8000, 'barge-in');
      const b = d.BargeIns[0];
      expect(b.InterruptSpeechDuration).toBe(D);
      expect(b.FramesAfterDecision).toBe(0);
      // The leg's own pacer counts (with the addon its frames are paced by default).
      if (nativeAddon()) expect(d.Pacing.Sent).toBeGreaterThan(25);
      else expect(d.Pacing).toBeNull();
      // The onset packet's arrival, on the same clock as ours: after the clip began,
      // before the decision (At is whole ms).
      expect(b.OnsetArrivalAt).toBeGreaterThan(streamedAt);
      expect(b.OnsetArrivalAt).toBeLessThan(Date.parse(b.At) + 1);
      // Wall-clock latency can come out a little under D when the client's real-time
      // pacing bunches packets on a loaded machine; the bench measures it properly.
      expect(b.LatencyMs).toBeGreaterThanOrEqual(D - 100);
      expect(b.AbortDelayMs).toBeLessThan(50);
      // The decision delay splits into the detector's audio-time wait, the packets'
      // lateness against real-time pace, and processing; the detector's share counts
      // from the onset sample, the rest from the end of the onset's frame (0-20 ms later).
      expect(b.DetectorMs).toBeGreaterThanOrEqual(-0.5);
      expect(b.ProcessingMs).toBeGreaterThanOrEqual(0);
      const parts = b.DetectorMs + b.TransitMs + b.ProcessingMs;
      expect(b.DecisionDelayMs).toBeGreaterThanOrEqual(parts - 20.5);
      expect(b.DecisionDelayMs).toBeLessThanOrEqual(parts + 0.5);
      // The test servers saw the LLM and TTS connections closed by the bridge.
      const closed = await Promise.race([Promise.all([chatReq.closed, ttsReq.closed]), sleep(2000).then(() => null)]);
      expect(closed).not.toBeNull();
      expect(chatReq.closedEarly).toBe(true);
      expect(ttsReq.closedEarly).toBe(true);
      // Agent audio stopped: nothing of the answer tone more than one frame after the decision was reported.
      const stopAt = c.events.find((e) => e.event === 'clear')!.receivedAt;
      expect(c.frames.filter((f) => f.at > stopAt + 25 && freqOf(f) === 440)).toHaveLength(0);
      // History holds only what was played: a prefix of the answer.
      const hist = await until(async () => (await describeAgent(id)).History.find((e: any) => e.Role === 'assistant'));
      expect(hist.Interrupted).toBe(true);
      expect(hist.Content.length).toBeGreaterThan(0);
      const full = Array.from({ length: 120 }, (_, i) => `word${i + 1}`).join(' ') + '.';
      expect(full.startsWith(hist.Content)).toBe(true);
      expect(hist.Content.length).toBeLessThan(full.length);
      // The same number is visible in production: Prometheus metrics.
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`voxbridge_barge_in_latency_ms_count\\{interrupt_ms="${D}"\\} [1-9]`));
      expect(metrics).toMatch(/voxbridge_frames_after_interrupt_total 0/);
      expect(metrics).toMatch(/voxbridge_frame_clock_lateness_ms_count [1-9]/);
      // The barge-in utterance becomes a turn once its end-of-turn silence has passed:
      // let its answer start in this test, not in the next (the test servers are shared).
      await c.until(() => ai.requests.slice(before).filter((r) => r.path.endsWith('/chat/completions')).length >= 2, 5000, 'answer to the barge-in');
    });
  }

  it('manual interrupt by API stops even a High task; by ctrl frame too; malformed ctrl gets an error and the session goes on', async () => {
    ai.scriptSpeech(tone(440, 10), tone(660, 10));
    const { id, c } = await startAgent(config());
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'A long important notice.', Priority: 'High' });
    await c.until(() => c.frames.filter((f) => freqOf(f) === 440).length > 10, 5000, 'speaking');
    const r = await h.ok('UpdateVoiceChat', { AgentInstanceId: id, Command: 'interrupt' });
    const t = performance.now();
    expect(r.Interrupted).toBe(true);
    await sleep(300);
    expect(c.frames.filter((f) => f.at > t + 25)).toHaveLength(0);

    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'Another long notice.' });
    await c.until(() => c.frames.filter((f) => freqOf(f) === 660).length > 10, 5000, 'speaking again');
    c.send(Buffer.from('ctrl\0\0\0\x05{"Co', 'latin1')); // declared length 5 but it is "ctrl" + truncated JSON
    const err = await c.until(() => c.events.find((e) => e.event === 'error'), 3000, 'error event');
    expect(['CTRL_INVALID_JSON', 'TLV_TRUNCATED']).toContain(err.code);
    c.send(encodeCtrl({ Command: 'selfdestruct' }));
    await c.until(() => c.events.find((e) => e.event === 'error' && e.code === 'CTRL_UNKNOWN_COMMAND'), 3000, 'unknown command error');
    expect(c.frames.filter((f) => f.at > performance.now() - 100).length).toBeGreaterThan(0); // still speaking
    c.send(encodeCtrl({ Command: 'interrupt' }));
    const t2 = performance.now();
    await sleep(300);
    expect(c.frames.filter((f) => f.at > t2 + 25)).toHaveLength(0);
    expect((await describeAgent(id)).State).toBe('listening');
  });

  it('auto hang-up: the closing words are played to the end, then the call ends', async () => {
    const closing = 'Goodbye, thanks for calling.';
    ai.scriptChat({
      events: [
        ...textEvents(closing, 4),
        ...toolCallEvents([{ index: 0, id: 'call_1', name: 'end_call', arguments: '{"reason":"user said bye"}' }], 6),
        chunk({ finishReason: 'tool_calls' }),
      ],
      chunkDelayMs: 10,
    });
    ai.scriptSpeech(tone(440, 1.2));
    ai.scriptTranscription({ text: 'goodbye' });
    const { id, c } = await startAgent(config({ LLM: { FunctionMap: [{ Function: 'hangup', MatchFunction: 'end_call' }] } }));
    void c.stream(pad(speech('okay goodbye'), 1500));
    const hangup = await c.until(() => c.events.find((e) => e.event === 'hangup'), 15000, 'hangup');
    expect(hangup.reason).toBe('hangup');
    // All of the 1.2 s closing tone (60 frames) went out before the hang-up.
    const played = c.frames.filter((f) => freqOf(f) === 440 && f.at <= hangup.receivedAt);
    expect(played.length).toBeGreaterThanOrEqual(58);
    expect(c.messages.find((m) => m.type === 'agentEnded')?.data.reason).toBe('hangup');
    expect((await c.closed).code).toBe(1000);
    const d = await describeAgent(id);
    expect(d).toMatchObject({ State: 'ended', EndReason: 'hangup' });
    expect(d.History.at(-1)).toMatchObject({ Role: 'assistant', Content: closing, Interrupted: false });
    // The LLM was offered the hang-up tool under its mapped name.
    const req = ai.requests.filter((r) => r.path.endsWith('/chat/completions')).pop()!;
    expect(req.json.tools.map((t: any) => t.function.name)).toContain('end_call');
  });

  it('human takeover: the agent falls silent, events in order, subtitles keep flowing, and it cannot be resumed', async () => {
    ai.scriptSpeech(tone(440, 10));
    ai.scriptTranscription({ text: 'I want a human' });
    const { id, c } = await startAgent(config());
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'Let me help you with that.' });
    await c.until(() => c.frames.filter((f) => freqOf(f) === 440).length > 5, 5000, 'speaking');
    const chatBefore = ai.requests.filter((r) => r.path.endsWith('/chat/completions')).length;
    const t = await h.ok('TakeoverAIAgentCall', { AgentInstanceId: id, HumanAgentUserId: 'alice' });
    const tAt = performance.now();
    expect(t.JoinToken).toMatch(/\./);
    const will = await c.until(() => c.messages.find((m) => m.type === 'humanTakeoverWillStart'), 3000, 'willStart');
    expect(will.data).toEqual({ uid: 'alice', mode: 0 });
    await sleep(200);
    expect(c.frames.filter((f) => f.at > tAt + 25 && freqOf(f) === 440)).toHaveLength(0);

    const human = new MediaClient(h.url, { agentInstanceId: id, role: 'human-agent', token: t.JoinToken });
    clients.push(human);
    await c.until(() => c.messages.find((m) => m.type === 'humanTakeoverConnected'), 5000, 'connected');
    expect(c.messages.findIndex((m) => m.type === 'humanTakeoverWillStart')).toBeLessThan(c.messages.findIndex((m) => m.type === 'humanTakeoverConnected'));
    // The human console got the conversation so far.
    // (the agent's sentence was cut by the takeover: the history holds what was played)
    await human.until(() => human.messages.find((m) => m.type === 1002 && m.data.history && 'Let me help you with that.'.startsWith(m.data.text)), 3000, 'history at the console');

    // The human is heard by the user.
    void human.stream(sine(660, 16000, 0.6, 8000));
    await c.until(() => c.frames.filter((f) => freqOf(f) === 660).length > 10, 5000, 'human voice at the user');

    // The user's speech still produces subtitles, but no LLM call.
    await c.stream(pad(speech('I want a human'), 1200));
    await human.until(() => human.messages.find((m) => m.type === 1003 && m.data.text === 'I want a human'), 8000, 'user subtitle at the console');
    expect(ai.requests.filter((r) => r.path.endsWith('/chat/completions')).length).toBe(chatBefore);

    const again = await h.api('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'I am back.' });
    expect(again.status).toBe(409);
    expect(again.body.Code).toBe('AgentTakenOver');
    const twice = await h.api('TakeoverAIAgentCall', { AgentInstanceId: id });
    expect(twice.body.Code).toBe('AgentTakenOver');
    expect((await describeAgent(id)).State).toBe('taken-over');

    const bad = new MediaClient(h.url, { agentInstanceId: id, role: 'human-agent', token: t.JoinToken.slice(0, -2) + 'xx' });
    clients.push(bad);
    const rejected = await bad.until(() => bad.events.find((e) => e.event === 'error'), 3000, 'token error');
    expect(rejected.code).toBe('Unauthorized.Token');
  });

  it('an LLM failure mid-stream leaves the agent listening, and the next turn works', async () => {
    ai.scriptChat(
      { events: [...textEvents('Let me think about'), { error: { message: 'model overloaded', type: 'server_error' } }], done: false },
      { events: textEvents('Here is the answer.') },
    );
    ai.scriptSpeech(tone(440, 0.5, false), tone(660, 0.5, false));
    const { id, c } = await startAgent(config());
    await h.ok('SendAgentInstanceLLM', { AgentInstanceId: id, Text: 'first question' });
    const err = await c.until(() => c.messages.find((m) => m.type === 'error'), 8000, 'error message');
    expect(err.data.code).toMatch(/^Provider\.LLM\./);
    await until(async () => ((await describeAgent(id)).State === 'listening' ? true : undefined), 5000, 'listening');
    await h.ok('SendAgentInstanceLLM', { AgentInstanceId: id, Text: 'second question' });
    await c.until(() => c.messages.find((m) => m.type === 1002 && m.data.end && m.data.text === 'Here is the answer.'), 8000, 'second answer');
    await until(async () => ((await describeAgent(id)).State === 'listening' ? true : undefined), 8000, 'listening again');
  });

  it('a TTS failure or an ASR failure becomes an error event and the agent keeps listening', async () => {
    ai.scriptSpeech({ status: 503, errorBody: { error: { message: 'tts overloaded' } } }, tone(660, 0.4, false));
    ai.scriptTranscription({ status: 500, errorBody: { error: { message: 'asr down' } } }, { text: 'second try' });
    ai.scriptChat({ events: textEvents('Got it.') });
    const { id, c } = await startAgent(config());
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: id, Text: 'This will fail.' });
    const ttsErr = await c.until(() => c.messages.find((m) => m.type === 'error' && /^Provider\.TTS\./.test(m.data.code)), 5000, 'TTS error');
    expect(ttsErr.data.code).toBe('Provider.TTS.Http');
    await until(async () => ((await describeAgent(id)).State === 'listening' ? true : undefined), 5000, 'listening after TTS failure');

    await c.stream(pad(speech('hello are you there'), 1000));
    const asrErr = await c.until(() => c.messages.find((m) => m.type === 'error' && /^Provider\.ASR\./.test(m.data.code)), 8000, 'ASR error');
    expect(asrErr.data.code).toBe('Provider.ASR.Http');
    expect((await describeAgent(id)).State).toBe('listening');
    // The next utterance goes through.
    await c.stream(pad(speech('second try'), 1000));
    await c.until(() => c.subtitles(1003).find((x) => x.text === 'second try'), 8000, 'next user turn');
    await c.until(() => c.frames.some((f) => freqOf(f) === 660), 8000, 'answer audio');
  });
});
