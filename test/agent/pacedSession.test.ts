/**
 * An AgentSession on a paced output (AgentOutput.paced: frames handed in `leadMs`
 * ahead, sent later, reported back): the echo reference takes the reported send
 * times, an interrupt drops what is still queued, and a frame that leaves between a
 * barge-in decision and the flush is counted against it, honestly.
 *
 * The output here is a pacer in JS driven by the test (the native one is tested in
 * test/sfu/pacedRtp.test.ts and over real RTP in test/rooms/plainRtp.test.ts): it makes
 * the timing deterministic enough to check each send against the reference.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentManager } from '../../src/agent/agentManager';
import { parseStartVoiceChat } from '../../src/agent/agentConfig';
import { FrameClock } from '../../src/agent/frameClock';
import { createVadStream } from '../../src/agent/vadFactory';
import { readTap, TapKind, VadTapWriter } from '../../src/agent/vadTap';
import type { AgentOutput, AgentSession } from '../../src/agent/session';
import { nowMs } from '../../src/clock';
import { OpenAiTestServer } from '../helpers/openaiServer';
import { speak } from '../helpers/clips';
import { concat, sine } from '../helpers/audio';

const LEAD = 40;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vbpaced-'));
let ai: OpenAiTestServer;

beforeAll(async () => {
  ai = await OpenAiTestServer.start();
});
afterAll(async () => {
  await ai?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pacer in JS: frames leave at frameTime + LEAD (when the test's timer says so). */
class FakePacedOutput implements AgentOutput {
  readonly queue: { id: number; due: number }[] = [];
  readonly sent: { id: number; at: number; began: number }[] = [];
  private unread: { id: number; at: number; began: number }[] = [];
  dropped = 0;
  /**
   * Set by a test: clear() sends the head of the queue first, either whole (the sender
   * was about to send it) or as the rest of a frame it began before (a stream socket
   * that took the frame in parts, at the last pump).
   */
  onClear: 'drop' | 'sendHead' | 'finishHead' = 'drop';
  /** Whether clear() found a frame queued to send (on a loaded machine the queue can be empty). */
  clearedHead = false;
  private lastPump = 0;
  /** What the session called, in order ('hold' when the test gives the output a hold()). */
  readonly calls: string[] = [];
  holdAt = NaN;
  private readonly timer = setInterval(() => this.pump(nowMs()), 2);
  readonly paced = {
    leadMs: LEAD,
    drainSent: (visit: (id: number, at: number, began: number) => void) => this.unread.splice(0).forEach((s) => visit(s.id, s.at, s.began)),
  };

  /** Every frame handed in: when it is due and when the session handed it in. */
  readonly handed: { due: number; at: number }[] = [];

  sendAudio(_frame: Int16Array, _spurt: boolean, frameTimeMs?: number, frameId?: number): void {
    this.queue.push({ id: frameId!, due: frameTimeMs! + LEAD });
    this.handed.push({ due: frameTimeMs! + LEAD, at: nowMs() });
  }
  sendMessage(): void {}
  clear(): void {
    this.calls.push('clear');
    if (this.onClear !== 'drop' && this.queue.length) {
      this.clearedHead = true;
      const now = nowMs();
      this.leave(this.queue.shift()!.id, now, this.onClear === 'finishHead' ? this.lastPump : now);
    }
    this.dropped += this.queue.length;
    this.queue.length = 0;
  }
  end(): void {}
  close(): void {
    clearInterval(this.timer);
  }
  private pump(now: number): void {
    this.lastPump = now;
    while (this.queue.length && this.queue[0].due <= now) this.leave(this.queue.shift()!.id, now);
  }
  private leave(id: number, at: number, began = at): void {
    const s = { id, at, began };
    this.sent.push(s);
    this.unread.push(s);
  }
}

/** Plays a long tone until 25 frames left, then talks over it at real-time pace until the barge-in. */
async function talkOverTone(s: AgentSession, out: FakePacedOutput): Promise<void> {
  s.speakText('a long tone', { priority: 'Medium' }, { addHistory: false, source: 'test' });
  const end = performance.now() + 5000;
  while (out.sent.length < 25 && performance.now() < end) await sleep(20);
  const voice = concat([speak('stop please, stop talking now', 16000), new Int16Array(3200)]);
  const t0 = performance.now();
  for (let f = 0; (f + 1) * 320 <= voice.length && s.bargeIns.length === 0; f++) {
    const wait = t0 + 20 * f - performance.now();
    if (wait > 0) await sleep(wait);
    s.pushUserAudio(voice.subarray(320 * f, 320 * (f + 1)), nowMs());
  }
}

function start(interruptMs: number, tapFile: string, audioAheadMs = 0, clock: FrameClock = new FrameClock(20)): AgentSession {
  const mgr = new AgentManager({
    maxSessions: 4,
    deps: {
      audioAheadMs,
      clock,
      createVad: createVadStream,
      tokenSecretSign: () => 'token',
      openVadTap: (h) => new VadTapWriter(tapFile, h),
    },
  });
  return mgr.start(
    parseStartVoiceChat({
      RoomId: `paced-${Math.random().toString(36).slice(2)}`,
      Config: {
        LLMConfig: { Url: ai.baseUrl, ModelName: 'm', APIKey: 'sk-test' },
        TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 },
        ASRConfig: { Provider: 'openai', Url: ai.baseUrl, InterruptConfig: { InterruptSpeechDuration: interruptMs } },
      },
    }),
  );
}

describe('AgentSession on a paced output', () => {
  it('builds the echo reference from the send reports, and an interrupt drops what is queued', async () => {
    ai.scriptSpeech({ pcm: sine(440, 24000, 4, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
    const tap = path.join(dir, 'ref.vadtap');
    const s = start(200, tap);
    const out = new FakePacedOutput();
    s.attach(out);
    try {
      s.speakText('a long tone', { priority: 'Medium' }, { addHistory: false, source: 'test' });
      const end = performance.now() + 5000;
      while (out.sent.length < 40 && performance.now() < end) await sleep(20);
      expect(out.sent.length).toBeGreaterThanOrEqual(40);
      // frames are handed in LEAD ahead: at any moment about two are queued
      expect(out.queue.length).toBeGreaterThanOrEqual(1);
      s.interrupt('api');
      const at = nowMs();
      expect(out.queue).toHaveLength(0);
      expect(out.dropped).toBeGreaterThanOrEqual(1);
      const sentBefore = out.sent.length;
      await sleep(150);
      expect(out.sent.length).toBe(sentBefore); // nothing of the interrupted speech left afterwards
      expect(out.sent.every((x) => x.at <= at)).toBe(true);
    } finally {
      s.end('test');
      out.close();
    }
    await sleep(100);
    // The reference frames (with audio) carry exactly the reported send times, in order.
    const refs = readTap(tap).records.filter((r) => r.kind === TapKind.Ref);
    expect(refs.length).toBe(out.sent.length);
    refs.forEach((r, i) => expect(r.timeMs).toBe(out.sent[i].at));
    const all = readTap(tap).records.filter((r) => r.kind === TapKind.Ref || r.kind === TapKind.RefSilent);
    for (let i = 1; i < all.length; i++) expect(all[i].timeMs).toBeGreaterThanOrEqual(all[i - 1].timeMs);
  });

  const bargeInsDescribed = (s: AgentSession) => s.describe().BargeIns as Record<string, unknown>[];

  /**
   * Plays a long tone, and talks over it at real-time pace until the barge-in (no echo
   * here); again (up to 3 times) if the output had nothing queued when it was cleared,
   * which a late tick on a loaded machine can cause: the case under test did not happen.
   */
  async function bargeInOn(onClear: FakePacedOutput['onClear'], tap: string, setup?: (o: FakePacedOutput) => void) {
    for (let attempt = 1; ; attempt++) {
      const r = await bargeInOnce(onClear, tap, setup);
      if (r.out.clearedHead || onClear === 'drop' || attempt === 3) return r;
    }
  }

  async function bargeInOnce(onClear: FakePacedOutput['onClear'], tap: string, setup?: (o: FakePacedOutput) => void) {
    ai.scriptSpeech({ pcm: sine(440, 24000, 6, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
    const s = start(0, path.join(dir, tap));
    const out = new FakePacedOutput();
    out.onClear = onClear;
    setup?.(out);
    s.attach(out);
    const after: string[] = [];
    s.on('frameAfterInterrupt', (id: string) => after.push(id));
    try {
      await talkOverTone(s, out);
      return { s, out, after };
    } finally {
      s.end('test');
      out.close();
    }
  }

  it('a frame that leaves between the barge-in decision and the flush is counted against it', async () => {
    const { s, out, after } = await bargeInOn('sendHead', 'race.vadtap');
    {
      expect(s.bargeIns).toHaveLength(1);
      const b = s.bargeIns[0];
      // the head of the queue left during clear(), after the decision: it is the last
      // packet of the speech, and it is counted
      const last = out.sent[out.sent.length - 1];
      expect(last.at).toBeGreaterThan(b.decisionMs);
      expect(b.framesAfterDecision).toBe(1);
      expect(b.lastFrameMs).toBe(last.at);
      expect(b.latencyMs).toBeCloseTo(last.at - b.onsetArrivalMs, 6);
      expect(after).toEqual([b.speechId]);
      expect(b.finishedAfterDecision).toBeUndefined();
      expect(bargeInsDescribed(s)[0].AfterDecision).toHaveLength(1);
    }
  });

  it('with a hold() on the output, the barge-in holds it first, dates the decision by it, and releases it after the clear', async () => {
    const hold = function (this: FakePacedOutput['paced'] & { owner: FakePacedOutput }): number {
      this.owner.calls.push('hold');
      return (this.owner.holdAt = nowMs());
    };
    const release = function (this: { owner: FakePacedOutput }): void {
      this.owner.calls.push('release');
    };
    const { s, out } = await bargeInOn('drop', 'hold.vadtap', (o) => Object.assign(o.paced, { owner: o, hold, release }));
    expect(s.bargeIns).toHaveLength(1);
    expect(out.calls).toEqual(['hold', 'clear', 'release']);
    expect(s.bargeIns[0].decisionMs).toBe(out.holdAt);
    expect(s.bargeIns[0].framesAfterDecision).toBe(0);
  });

  it('a frame begun before the decision and finished after it (a stream taking it in parts) ends the latency but is not counted as sent after', async () => {
    const { s, out, after } = await bargeInOn('finishHead', 'finish.vadtap');
    expect(s.bargeIns).toHaveLength(1);
    const b = s.bargeIns[0];
    const last = out.sent[out.sent.length - 1];
    expect(last.began).toBeLessThanOrEqual(b.decisionMs);
    expect(last.at).toBeGreaterThan(b.decisionMs);
    expect(b.framesAfterDecision).toBe(0);
    expect(b.afterDecision).toBeUndefined();
    expect(b.finishedAfterDecision).toHaveLength(1);
    expect(b.finishedAfterDecision![0]).toBeCloseTo(last.at - b.decisionMs, 6);
    expect(b.lastFrameMs).toBe(last.at);
    expect(after).toEqual([]);
    expect(bargeInsDescribed(s)[0].FinishedAfterDecisionMs).toHaveLength(1);
  });
});

describe('AgentSession on a paced output, speech frames made ahead (audioAheadMs)', () => {
  const AHEAD = 100;

  async function playing(aheadMs: number, tap: string, seconds = 4) {
    ai.scriptSpeech({ pcm: sine(440, 24000, seconds, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
    const s = start(200, path.join(dir, tap), aheadMs);
    const out = new FakePacedOutput();
    s.attach(out);
    const h = s.speakText('a long tone', { priority: 'Medium' }, { addHistory: false, source: 'test' });
    const end = performance.now() + 5000;
    while (out.sent.length < 25 && performance.now() < end) await sleep(20);
    expect(out.sent.length).toBeGreaterThanOrEqual(25);
    return { s, out, h };
  }

  /** Holds the event loop `ms`; returns the frames due inside the hold that were handed in after it began. */
  function hold(out: FakePacedOutput, ms: number): () => number {
    const from = nowMs();
    const until = performance.now() + ms;
    while (performance.now() < until);
    return () => out.handed.filter((f) => f.due >= from && f.due <= from + ms && f.at > from).length;
  }

  it('gives buffered speech lead + ahead early, so every frame due in a 100 ms hold of the event loop was queued before it (and not without ahead)', async () => {
    const late: Record<number, number> = {};
    for (const ahead of [AHEAD, 0]) {
      const { s, out } = await playing(ahead, `ahead${ahead}.vadtap`);
      try {
        // the queue reaches about (lead + ahead) / 20 frames
        const now = nowMs();
        expect(Math.max(...out.queue.map((q) => q.due)) - now).toBeGreaterThanOrEqual(LEAD + ahead - 45);
        const handedLate = hold(out, 100);
        await sleep(60);
        late[ahead] = handedLate();
      } finally {
        s.end('test');
        out.close();
      }
    }
    expect(late[AHEAD]).toBe(0);
    expect(late[0]).toBeGreaterThanOrEqual(2); // frames due 40–100 ms into the hold came after it
  });

  it('an interrupt drops the frames queued ahead, and what was heard counts only the frames that left', async () => {
    const { s, out, h } = await playing(AHEAD, 'aheadStop.vadtap');
    try {
      expect(out.queue.length).toBeGreaterThanOrEqual(4);
      s.interrupt('api');
      expect(out.queue).toHaveLength(0);
      const r = await h.waitForPlayout();
      expect(r.interrupted).toBe(true);
      expect(r.playedSamples).toBe(out.sent.length * 320);
      await sleep(100);
      expect(out.queue).toHaveLength(0);
    } finally {
      s.end('test');
      out.close();
    }
    await sleep(100);
    // The echo reference has each period once, in order: the periods whose frames were
    // dropped ahead are made again on their ticks, and the dropped slots give way (a
    // slot kept for each put the reference up to 7 frames ahead of time, the thread's
    // pairing off the echo, after every interrupt).
    const refs = readTap(path.join(dir, 'aheadStop.vadtap')).records.filter((x) => x.kind === TapKind.Ref || x.kind === TapKind.RefSilent);
    expect(refs.length).toBeGreaterThan(25);
    for (let i = 1; i < refs.length; i++) expect(refs[i].timeMs - refs[i - 1].timeMs, `reference ${i}`).toBeGreaterThan(5);
  });

  it('a barge-in over frames queued ahead leaves the echo reference one frame per period', async () => {
    ai.scriptSpeech({ pcm: sine(440, 24000, 6, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
    const tap = path.join(dir, 'aheadBargeIn.vadtap');
    const s = start(0, tap, AHEAD);
    const out = new FakePacedOutput();
    s.attach(out);
    try {
      await talkOverTone(s, out);
      expect(s.bargeIns).toHaveLength(1);
      await sleep(200);
    } finally {
      s.end('test');
      out.close();
    }
    await sleep(100);
    const refs = readTap(tap).records.filter((x) => x.kind === TapKind.Ref || x.kind === TapKind.RefSilent);
    for (let i = 1; i < refs.length; i++) expect(refs[i].timeMs - refs[i - 1].timeMs, `reference ${i}`).toBeGreaterThan(5);
  });

  it('a speech preempted by a higher priority does not play the frames it had queued ahead', async () => {
    const { s, out, h } = await playing(AHEAD, 'aheadPreempt.vadtap');
    try {
      ai.scriptSpeech({ pcm: sine(880, 24000, 1, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
      expect(out.queue.length).toBeGreaterThanOrEqual(4);
      const handedBefore = out.handed.length;
      s.speakText('time is almost up', { priority: 'High', samePriorityOption: 'ClearAndInterrupt' }, { addHistory: false, source: 'announce' });
      expect(out.calls).toEqual(['clear']);
      expect(out.queue).toHaveLength(0);
      const r = await h.waitForPlayout();
      expect(r.reason).toBe('preempted');
      expect(r.playedSamples).toBe(out.sent.length * 320);
      expect(out.handed.length).toBe(handedBefore);
    } finally {
      s.end('test');
      out.close();
    }
  });

  it('starts a talk spurt in the first period whose send time is still ahead, not in a late tick', async () => {
    // a clock the test drives: the session's ticks are the calls below
    const clock = { add() {}, remove() {}, poll() {}, maxLateSince: () => 0, schedSinceLastRun: () => null, gcWithin: () => ({ ms: 0, kinds: [] }) } as unknown as FrameClock;
    ai.scriptSpeech({ pcm: sine(440, 24000, 1, 8000), split: { every: 4800 }, chunkDelayMs: 5 });
    const s = start(200, path.join(dir, 'aheadLateStart.vadtap'), AHEAD, clock);
    const out = new FakePacedOutput();
    s.attach(out);
    try {
      const h = s.speakText('a tone', { priority: 'Medium' }, { addHistory: false, source: 'test' });
      const end = performance.now() + 5000;
      while (h.bufferedSamples < 10 * 320 && performance.now() < end) await sleep(10);
      expect(h.bufferedSamples).toBeGreaterThanOrEqual(10 * 320);
      const now = nowMs();
      s.tick(now - 60); // its period's send time is 20 ms past, the next one's is now
      expect(out.handed).toHaveLength(0);
      s.tick(now - 40); // this period's is now: the spurt starts in the next one, still ahead
      expect(out.handed.length).toBeGreaterThanOrEqual(2);
      expect(out.handed[0].due).toBe(now - 20 + LEAD);
      expect(out.handed.every((f) => f.due > f.at)).toBe(true);
      // within the spurt a late period is not skipped: the stream stays continuous
      const made = out.handed.length;
      const next = out.handed[made - 1].due - LEAD + 20;
      await sleep(next + LEAD + 30 - nowMs());
      s.tick(next);
      expect(out.handed[made].due).toBe(next + LEAD);
      expect(out.handed[made].at).toBeGreaterThan(out.handed[made].due);
    } finally {
      s.end('test');
      out.close();
    }
  });

  it("makes a speech's last frame on its own tick, so its playout settles when it is due, not ahead", async () => {
    ai.scriptSpeech({ pcm: sine(440, 24000, 1, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
    const s = start(200, path.join(dir, 'aheadEnd.vadtap'), AHEAD);
    const out = new FakePacedOutput();
    s.attach(out);
    try {
      const h = s.speakText('a short tone', { priority: 'Medium' }, { addHistory: false, source: 'test' });
      const r = await h.waitForPlayout();
      const settled = nowMs();
      expect(r.state).toBe('done');
      const frames = out.handed;
      expect(frames.length).toBe(50);
      // frames in the middle went ahead; the last one at its period (due − lead)
      expect(frames.filter((f) => f.due - f.at > LEAD + 40).length).toBeGreaterThanOrEqual(20);
      const last = frames[frames.length - 1];
      expect(last.due - last.at).toBeLessThanOrEqual(LEAD + 5);
      expect(settled).toBeGreaterThanOrEqual(last.due - LEAD - 5);
    } finally {
      s.end('test');
      out.close();
    }
  });
});
