/**
 * A session whose user voice is decided off the event loop (src/agent/offLoopInput.ts,
 * as the room path's receive thread does it): the session arms what plays from its
 * policy, takes the frames' VAD results as its own, uses a decision a frame carries as
 * its barge-in's decision, and releases the voice when it does not act on one. The
 * voice here is scripted by the test; the thread itself is tested in
 * test/sfu/voiceRx.test.ts and, end to end, in test/rooms/plainRtp.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentManager } from '../../src/agent/agentManager';
import { parseStartVoiceChat } from '../../src/agent/agentConfig';
import { FrameClock } from '../../src/agent/frameClock';
import { createVadStream } from '../../src/agent/vadFactory';
import type { AgentOutput, AgentSession } from '../../src/agent/session';
import type { ArmMode, OffLoopVoice } from '../../src/agent/offLoopInput';
import type { WireAbortLease } from '../../src/providers/wireAbort';
import { nowMs } from '../../src/clock';
import { OpenAiTestServer } from '../helpers/openaiServer';
import { sine } from '../helpers/audio';
import { until } from '../helpers/wait';

let ai: OpenAiTestServer;
beforeAll(async () => {
  ai = await OpenAiTestServer.start();
});
afterAll(async () => {
  await ai?.close();
});

class ScriptedVoice implements OffLoopVoice {
  readonly arms: ArmMode[] = [];
  settles = 0;
  pumps = 0;
  farEnds = 0;
  interruptMs: number[] = [];
  /** What the next arm() reports (a decision taken since the last one). */
  firedPending = false;
  setInterruptMs(ms: number): number {
    this.interruptMs.push(ms);
    return 0;
  }
  farEnd(): void {
    this.farEnds++;
  }
  farEndCut(): void {}
  /** Provider connections lent for the decision to close (none is closed here). */
  readonly lent: number[] = [];
  released = 0;
  trackRequestFd(fd: number): WireAbortLease {
    this.lent.push(fd);
    let done = false;
    return {
      aborted: false,
      release: () => {
        if (!done) this.released++;
        done = true;
      },
    };
  }
  arm(mode: ArmMode): boolean {
    this.arms.push(mode);
    const f = this.firedPending;
    this.firedPending = false;
    return f;
  }
  pump(): void {
    this.pumps++;
  }
  settle(): void {
    this.settles++;
  }
}

function setup(): { s: AgentSession; v: ScriptedVoice; clears: () => number } {
  const mgr = new AgentManager({ maxSessions: 2, deps: { clock: new FrameClock(20), createVad: createVadStream, tokenSecretSign: () => 't' } });
  const s = mgr.start(
    parseStartVoiceChat({
      RoomId: `offloop-${Math.random().toString(36).slice(2)}`,
      Config: {
        LLMConfig: { Url: ai.baseUrl, ModelName: 'm', APIKey: 'sk-test' },
        TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: 24000 },
        ASRConfig: { Provider: 'openai', Url: ai.baseUrl, InterruptConfig: { InterruptSpeechDuration: 200 } },
      },
    }),
  );
  const v = new ScriptedVoice();
  s.useOffLoopVoice(v);
  let cleared = 0;
  const out: AgentOutput = { sendAudio() {}, sendMessage() {}, clear: () => void cleared++, end() {} };
  s.attach(out);
  return { s, v, clears: () => cleared };
}

const SPEECH = 1;
const START = 2;
const REACHED = 8;

/** Frames of a user talking: a start, then speech; the last one reaches D (and may carry a decision). */
function talk(s: AgentSession, frames: number, decisionMs: number | null): void {
  const pcm = new Int16Array(320);
  const out = new Float64Array(9);
  for (let k = 0; k < frames; k++) {
    const last = k === frames - 1;
    out[2] = 20 * (k + 1); // speechMs
    out[3] = 0; // onset sample
    s.pushUserFrame(pcm, nowMs(), SPEECH | (k === 0 ? START : 0) | (last ? REACHED : 0), out, last ? decisionMs : null);
  }
}

describe('AgentSession with a user voice decided off the event loop', () => {
  it('arms interruptible speech only, acts on the decision a frame carries, and takes its time', async () => {
    ai.scriptSpeech({ pcm: sine(440, 24000, 4, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
    const { s, v, clears } = setup();
    try {
      expect(v.arms).toEqual([]); // nothing plays: never armed
      s.speakText('a welcome', { priority: 'High' }, { addHistory: false, source: 'test' });
      await until(() => s.state === 'speaking', 3000);
      expect(v.arms.filter((a) => a !== 'off')).toEqual([]); // a High task is not interruptible by voice
      expect(v.lent).toEqual([]); // nor are its requests closed by a decision

      ai.scriptSpeech({ pcm: sine(440, 24000, 4, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
      s.speakText('an answer', { priority: 'Medium', samePriorityOption: 'ClearAndInterrupt' }, { addHistory: false, source: 'test' });
      s.interrupt('api'); // the High one ends; the Medium one plays next
      ai.scriptSpeech({ pcm: sine(440, 24000, 4, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
      s.speakText('an answer', { priority: 'Medium' }, { addHistory: false, source: 'test' });
      await until(() => v.arms.at(-1) === 'duration', 3000);
      await until(() => v.lent.length > 0, 3000); // the answer's TTS request lends its connection
      expect(v.farEnds).toBeGreaterThan(0); // the reference reaches the voice on every tick

      const decidedAt = nowMs() - 3;
      const clearsBefore = clears();
      talk(s, 11, decidedAt);
      expect(s.bargeIns).toHaveLength(1);
      const b = s.bargeIns[0]!;
      expect(b.decidedOn).toBe('receiveThread');
      expect(b.decisionMs).toBe(decidedAt);
      expect(clears()).toBe(clearsBefore + 1);
      expect(v.settles).toBe(1); // (settle() only lifts a gate left in place: here clear() already did)
      // the thread disarmed itself with the decision: the next speech is armed afresh
      const armsBefore = v.arms.length;
      ai.scriptSpeech({ pcm: sine(440, 24000, 2, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
      s.speakText('another answer', { priority: 'Medium' }, { addHistory: false, source: 'test' });
      await until(() => v.arms.length > armsBefore, 3000);
      expect(v.arms[armsBefore]).toBe('duration');
      const d = (s.describe().BargeIns as Record<string, unknown>[])[0]!;
      expect(d.DecidedOn).toBe('ReceiveThread');
      expect(d.AbortedOnWire).toBe(false); // this decision carried no shutdown time
      await until(() => v.released === v.lent.length, 3000); // every lent connection given back
    } finally {
      s.end('test');
    }
  });

  it('releases the voice when it does not act on a decision, and handles a pending one before re-arming', async () => {
    const { s, v } = setup();
    try {
      // a decision with nothing playing (it finished in between): no barge-in, the voice is released
      talk(s, 11, nowMs());
      expect(s.bargeIns).toHaveLength(0);
      expect(v.settles).toBe(1);
      // the thread decided while the session was arming new speech: it pumps first
      ai.scriptSpeech({ pcm: sine(440, 24000, 2, 8000), split: { every: 4800 }, chunkDelayMs: 20 });
      v.firedPending = true;
      s.speakText('next', { priority: 'Medium' }, { addHistory: false, source: 'test' });
      await until(() => v.arms.includes('duration'), 3000);
      expect(v.pumps).toBe(1);
    } finally {
      s.end('test');
    }
  });
});
