/**
 * The room web page end to end: a real bridge (mediasoup worker, signaling,
 * the agent as a participant) and headless Chromium with a fake microphone
 * playing espeak-ng speech. Local OpenAI-protocol servers make the agent
 * deterministic (the TTS streams tones); the demo test uses the embedded
 * defaults (echo policy, espeak-ng, pocketsphinx) and takes the screenshot.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, sleep, type Harness } from '../helpers/bridgeHarness';
import { OpenAiTestServer, textEvents } from '../helpers/openaiServer';
import { speak } from '../helpers/clips';
import { concat, sine } from '../helpers/audio';
import { chromiumAvailable, launchChromium, writeWav } from '../helpers/browser';

const tmp = path.resolve(__dirname, '..', '.tmp', 'e2e');
const docs = path.resolve(__dirname, '..', '..', 'docs');
const silence = (s: number) => new Int16Array(Math.round(48000 * s));

let h: Harness;
let ai: OpenAiTestServer;
const browsers: Browser[] = [];

beforeAll(async () => {
  h = await startHarness();
  ai = await OpenAiTestServer.start();
});
afterAll(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await h?.stop();
  await ai?.close();
});

async function open(wav: string, url: string): Promise<Page> {
  const b = await launchChromium({ fakeMicWav: wav });
  browsers.push(b);
  const page = await b.newPage({ viewport: { width: 900, height: 1100 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url);
  return page;
}

/** Polls `expr` (may be async) in the page until it is truthy; returns its value. */
async function until<T>(page: Page, expr: string, timeoutMs: number, what: string): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await page.evaluate(`(async () => (${expr}))()`).catch(() => undefined);
    if (v) return v as T;
    if (performance.now() > end) break;
    await sleep(20);
  }
  const state = await page
    .evaluate("JSON.stringify({ events: vb.events.slice(-30).map(e => e.what), level: vb.agentLevel, ctrl: document.querySelector('#st-ctrl').textContent, messages: vb.messages.slice(-8) })")
    .catch(() => '?');
  throw new Error(`timed out waiting for ${what}; page state: ${state}`);
}

const agentHeard = (uid = '') => `vb.agentStats(${uid ? JSON.stringify(uid) : ''}).then(s => s && s.audioLevel > 0.01)`;

const tone = (hz: number, seconds: number) => ({ pcm: sine(hz, 24000, seconds, 8000), split: { every: 2400 }, chunkDelayMs: 40 });

describe.skipIf(!chromiumAvailable())('room page in Chromium', () => {
  it('hears the welcome, interrupts it with the button, barges in by voice, and is taken over by a human agent', async () => {
    const roomId = `e2e-${Date.now().toString(36)}`;
    // Fake microphone: 12 s of silence, then a question (Chromium loops the file).
    const userWav = writeWav(path.join(tmp, 'user.wav'), concat([silence(12), speak('hello, can you hear me', 48000), silence(14)]), 48000);
    ai.scriptSpeech(tone(440, 6), tone(440, 4), tone(440, 4), tone(660, 8), tone(880, 1.5));
    ai.scriptTranscription({ text: 'hello can you hear me' });
    ai.scriptChat({ events: textEvents('Yes, I can hear you.') });
    const started = await h.ok('StartVoiceChat', {
      RoomId: roomId,
      AgentConfig: { UserId: 'agent-e2e', WelcomeMessage: 'Welcome to the end to end test room.', TargetUserIds: ['alice'] },
      Config: {
        LLMConfig: { Url: ai.baseUrl, ModelName: 'test-model', APIKey: 'sk-test' },
        TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 },
        ASRConfig: { Provider: 'openai', Url: ai.baseUrl },
      },
    });
    const agentId = started.AgentInstanceId as string;
    const session = h.bridge.agents.get(agentId)!;
    let interruptAtServer = 0;
    session.on('interrupt', () => (interruptAtServer = performance.timeOrigin + performance.now()));
    const { Token } = await h.ok('CreateJoinToken', { RoomId: roomId, UserId: 'alice', Role: 'user', TtlSeconds: 300 });

    const user = await open(userWav, `${h.url}/room/?room=${roomId}&token=${encodeURIComponent(Token)}`);
    await user.uncheck('#start-agent').catch(() => {});
    await user.click('#join');
    await until(user, "vb.state === 'joined'", 15_000, 'the page to join');

    // The welcome is heard: inbound audio level > 0 on the agent's track (getStats), and its subtitle arrives.
    await until(user, agentHeard(), 15_000, 'agent audio (getStats audioLevel > 0)');
    await until(user, 'vb.messages.some(m => m.type === 1002)', 5_000, 'a 1002 subtitle');
    expect(await user.textContent('#subtitles')).toContain('Welcome to the end to end test room.');

    // Interrupt button → ctrl TLV frame on the data channel → silence at the page.
    // Three times (the welcome, then two proactive announcements); the median is asserted.
    const clicks: number[] = [];
    for (let i = 0; i < 3; i++) {
      if (i > 0) await h.ok('SendAgentInstanceTTS', { AgentInstanceId: agentId, Text: `Announcement number ${i}.`, Priority: 'Medium' });
      await until(user, "document.querySelector('#interrupt').disabled === false && vb.agentLevel > 0.01", 8_000, 'agent speaking with the Interrupt button enabled');
      await sleep(1000);
      await user.click('#interrupt');
      const ms = await until<string>(user, `vb.interrupts[${i}] && vb.interrupts[${i}].clickToSilenceMs !== null && String(vb.interrupts[${i}].clickToSilenceMs)`, 6_000, 'silence after the click').then(Number);
      const clickEpoch = (await user.evaluate(`performance.timeOrigin + vb.interrupts[${i}].clickAt`)) as number;
      console.log(`interrupt click → silence at the page: ${ms.toFixed(1)} ms (click → bridge ${(interruptAtServer - clickEpoch).toFixed(1)} ms)`);
      clicks.push(ms);
    }
    clicks.sort((a, b) => a - b);
    // Most of click -> silence is Chromium's playout buffer (72-80 ms alone, 115-125 ms
    // with the rest of the suite on two cores; click -> bridge is 2-20 ms). The bound
    // tells a flush (silence within a few frames) from none (the 4-6 s tone plays on);
    // the latency itself is the bench's job.
    expect(clicks[1]).toBeLessThan(250);
    expect(session.state).toBe('listening');

    // The agent speaks again (proactive TTS, 660 Hz); the fake microphone's question barges in.
    await h.ok('SendAgentInstanceTTS', { AgentInstanceId: agentId, Text: 'Here is a long announcement that will be interrupted.', Priority: 'Medium' });
    await until(user, "vb.messages.some(m => m.type === 1003 && m.data.end)", 20_000, 'the user subtitle (1003)');
    expect(session.bargeIns.length).toBeGreaterThanOrEqual(1);
    expect(session.bargeIns[0]!.framesAfterDecision).toBe(0);
    const userText = await user.evaluate('vb.messages.find(m => m.type === 1003).data.text');
    expect(userText).toBe('hello can you hear me');
    await until(user, "vb.messages.some(m => m.type === 1002 && m.data.end && m.data.text.includes('Yes, I can hear you'))", 15_000, 'the answer subtitle');

    // Human takeover: the agent's audio leaves the room, the human is heard and sees the history.
    const take = await h.ok('TakeoverAIAgentCall', { AgentInstanceId: agentId, HumanAgentUserId: 'human-bob' });
    await until(user, "vb.messages.some(m => m.type === 'humanTakeoverWillStart')", 5_000, 'humanTakeoverWillStart');
    await until(user, 'vb.agentAudioEndedAt !== null', 5_000, 'the agent audio consumer to close');
    const humanWav = writeWav(path.join(tmp, 'human.wav'), concat([silence(1), speak('this is bob, a human agent, taking over', 48000), silence(6)]), 48000);
    const human = await open(humanWav, `${h.url}/room/?room=${roomId}&token=${encodeURIComponent(take.JoinToken)}`);
    await human.click('#join');
    await until(human, "vb.state === 'joined' && vb.role === 'human-agent'", 15_000, 'the human to join');
    await until(human, 'vb.subtitles.some(s => s.history) && vb.subtitles.some(s => s.type === 1003)', 10_000, 'the conversation so far on the console');
    await until(user, "vb.messages.some(m => m.type === 'humanTakeoverConnected')", 10_000, 'humanTakeoverConnected');
    await until(user, agentHeard('human-bob'), 15_000, "the human's voice at the user");
    expect(session.state).toBe('taken-over');
  }, 120_000);

  it('demo: the page gets a demo token, starts the embedded demo agent and shows its subtitles (screenshot)', async () => {
    const roomId = `demo-${Date.now().toString(36)}`;
    const wav = writeWav(path.join(tmp, 'demo.wav'), concat([silence(9), speak('hello there', 48000), silence(20)]), 48000);
    const page = await open(wav, `${h.url}/room/?room=${roomId}`);
    // The banner appears once the page has asked the bridge whether the demo is on.
    await page.waitForSelector('#demo-banner', { state: 'visible', timeout: 10_000 });
    await page.click('#join');
    await until(page, "vb.state === 'joined'", 15_000, 'the page to join');
    await until(page, agentHeard(), 20_000, 'the demo agent speaking');
    await until(page, "vb.messages.some(m => m.type === 1002 && m.data.text.includes('voxbridge demo agent'))", 10_000, 'the welcome subtitle');
    // pocketsphinx hears the fake microphone; the echo policy answers "You said: ...".
    await until(page, "vb.messages.some(m => m.type === 1003) && vb.messages.some(m => m.type === 1002 && m.data.end && m.data.text.startsWith('You said'))", 40_000, 'the echo answer');
    await sleep(300);
    // VOXBRIDGE_SCREENSHOT=1 refreshes docs/screenshot-room.png; otherwise it lands in test/.tmp.
    const shot = process.env.VOXBRIDGE_SCREENSHOT === '1' ? path.join(docs, 'screenshot-room.png') : path.join(tmp, 'screenshot-room.png');
    await page.screenshot({ path: shot, fullPage: true });
  }, 90_000);
});
