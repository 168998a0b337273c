import { describe, expect, it } from 'vitest';
import { decideInterrupt, offLoopArm, vadInterruptDuration, type InterruptSettings, type VoiceObservation } from '../../src/agent/interruptPolicy';

const quiet: VoiceObservation = { speechStart: false, durationReached: false, reachedInSegment: false, speechMs: 0 };
const playing = { active: true, priority: 'Medium' as const };
const immediate: InterruptSettings = { mode: 'immediate', durationMs: 0 };
const d500: InterruptSettings = { mode: 'duration', durationMs: 500 };
const off: InterruptSettings = { mode: 'off', durationMs: 0 };

describe('decideInterrupt()', () => {
  it('InterruptMode 0 without a duration: any voice onset interrupts', () => {
    expect(decideInterrupt(immediate, { ...quiet, speechStart: true, speechMs: 20 }, playing)).toEqual({ interrupt: true, cause: 'voiceOnset' });
    expect(decideInterrupt(immediate, quiet, playing)).toEqual({ interrupt: false });
  });

  it('InterruptSpeechDuration: only the detector\'s "D reached" interrupts, not a long segment by itself', () => {
    expect(decideInterrupt(d500, { ...quiet, speechStart: true, speechMs: 20 }, playing).interrupt).toBe(false);
    // A segment kept open 600 ms (hangover, weak speech) without the detector confirming D:
    expect(decideInterrupt(d500, { ...quiet, speechMs: 600 }, playing).interrupt).toBe(false);
    expect(decideInterrupt(d500, { ...quiet, durationReached: true, speechMs: 500 }, playing)).toEqual({ interrupt: true, cause: 'voiceDuration' });
  });

  it('a task that starts while the user is still talking past D is interrupted too', () => {
    expect(decideInterrupt(d500, { ...quiet, reachedInSegment: true, speechMs: 900 }, playing)).toEqual({ interrupt: true, cause: 'voiceDuration' });
  });

  it('never interrupts a High task, nothing playing, or with InterruptMode 1', () => {
    const loud = { ...quiet, speechStart: true, durationReached: true, speechMs: 900 };
    expect(decideInterrupt(immediate, loud, { active: true, priority: 'High' }).interrupt).toBe(false);
    expect(decideInterrupt(immediate, loud, { active: false, priority: null }).interrupt).toBe(false);
    expect(decideInterrupt(off, loud, playing).interrupt).toBe(false);
  });

  it('tells the VAD which D to measure', () => {
    expect(vadInterruptDuration(immediate)).toBe(0);
    expect(vadInterruptDuration(d500)).toBe(500);
    expect(vadInterruptDuration(off)).toBe(-1);
  });
});

describe('offLoopArm()', () => {
  it('arms exactly what decideInterrupt would interrupt on, with the observation it would interrupt on', () => {
    const onset: VoiceObservation = { ...quiet, speechStart: true, speechMs: 20 };
    const reached: VoiceObservation = { ...quiet, durationReached: true, speechMs: 500 };
    for (const s of [immediate, d500, off])
      for (const p of [playing, { active: true, priority: 'High' as const }, { active: true, priority: 'Low' as const }, { active: false, priority: null }]) {
        const arm = offLoopArm(s, p);
        const any = decideInterrupt(s, onset, p).interrupt || decideInterrupt(s, reached, p).interrupt;
        expect(arm !== 'off').toBe(any);
        if (arm === 'onset') expect(decideInterrupt(s, onset, p).interrupt).toBe(true);
        if (arm === 'duration') {
          expect(decideInterrupt(s, onset, p).interrupt).toBe(false);
          expect(decideInterrupt(s, reached, p).interrupt).toBe(true);
        }
      }
  });
});
