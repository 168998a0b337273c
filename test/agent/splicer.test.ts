import { describe, expect, it } from 'vitest';
import { SpeechSplicer, MAX_QUEUED } from '../../src/agent/splicer';
import { SpeechHandle, type Priority } from '../../src/agent/speechHandle';
import { abortError, isAbortError } from '../../src/errors';

const FRAME = 320;

/** A task whose audio is a constant value, so frames show which task played. */
function task(value: number, frames: number, priority: Priority = 'Medium', end = true): SpeechHandle {
  const h = new SpeechHandle({ priority, source: `t${value}`, sampleRate: 16000 });
  h.addText(`task ${value} says hello world`);
  h.pushAudio(new Int16Array(FRAME * frames).fill(value));
  if (end) h.endInput();
  return h;
}

function drain(sp: SpeechSplicer, n: number): number[] {
  const out = new Int16Array(FRAME);
  const seen: number[] = [];
  for (let i = 0; i < n; i++) seen.push(sp.nextFrame(out) ? out[0] : 0);
  return seen;
}

const flushMicrotasks = () => new Promise((r) => setImmediate(r));

describe('SpeechSplicer', () => {
  it('plays one task frame by frame and completes it after its last frame', async () => {
    const sp = new SpeechSplicer(FRAME);
    const a = task(1, 3);
    sp.submit(a);
    expect(drain(sp, 4)).toEqual([1, 1, 1, 0]);
    await flushMicrotasks();
    const r = await a.waitForPlayout();
    expect(r).toMatchObject({ state: 'done', interrupted: false, playedSamples: 3 * FRAME, playedText: 'task 1 says hello world' });
  });

  it('a higher priority interrupts a lower one at once; a lower one waits', async () => {
    const sp = new SpeechSplicer(FRAME);
    const low = task(1, 10, 'Low');
    sp.submit(low);
    drain(sp, 2);
    const high = task(3, 2, 'High');
    sp.submit(high);
    expect(low.state).toBe('interrupted');
    expect((await low.waitForPlayout()).reason).toBe('preempted');
    const medium = task(2, 2, 'Medium');
    sp.submit(medium);
    expect(medium.state).toBe('queued');
    expect(drain(sp, 5)).toEqual([3, 3, 2, 2, 0]);
  });

  it('same priority: ClearAndInterrupt replaces, Enqueue waits behind', () => {
    const sp = new SpeechSplicer(FRAME);
    const a = task(1, 10);
    sp.submit(a);
    drain(sp, 1);
    const b = task(2, 2);
    sp.submit(b, 'Enqueue');
    const c = task(3, 2);
    sp.submit(c, 'Enqueue');
    expect(drain(sp, 1)).toEqual([1]);
    const d = task(4, 1);
    sp.submit(d, 'ClearAndInterrupt');
    expect(a.state).toBe('interrupted');
    expect(b.state).toBe('interrupted');
    expect(c.state).toBe('interrupted');
    expect(drain(sp, 2)).toEqual([4, 0]);
  });

  it(`refuses a task beyond ${MAX_QUEUED} waiting with QueueFull`, () => {
    const sp = new SpeechSplicer(FRAME);
    sp.submit(task(1, 100, 'High'));
    for (let i = 0; i < MAX_QUEUED; i++) sp.submit(task(2, 1, 'Medium'), 'Enqueue');
    expect(() => sp.submit(task(3, 1, 'Low'), 'Enqueue')).toThrowError(expect.objectContaining({ name: 'InvalidStateError', code: 'QueueFull' }));
  });

  it('flush for barge-in leaves a High task playing; manual flush stops it', () => {
    const sp = new SpeechSplicer(FRAME);
    const welcome = task(9, 10, 'High');
    sp.submit(welcome);
    const next = task(2, 2, 'Medium');
    sp.submit(next, 'Enqueue');
    drain(sp, 1);
    expect(sp.flush({ includeHigh: false, reason: 'bargeIn' })).toBeNull();
    expect(welcome.state).toBe('playing');
    expect(next.state).toBe('interrupted');
    expect(sp.flush({ includeHigh: true, reason: 'manual' })).toBe(welcome);
    expect(drain(sp, 1)).toEqual([0]);
  });

  it('no frame of a flushed task leaves after the flush, and its text is cut at the playback position', async () => {
    const sp = new SpeechSplicer(FRAME);
    const h = new SpeechHandle({ source: 'llm', sampleRate: 16000 });
    h.addText('one two three four.');
    h.pushAudio(new Int16Array(FRAME * 4).fill(5));
    h.addText('five six seven eight.');
    h.pushAudio(new Int16Array(FRAME * 4).fill(5));
    h.endInput();
    sp.submit(h);
    expect(drain(sp, 6)).toEqual([5, 5, 5, 5, 5, 5]);
    sp.flush({ includeHigh: false, reason: 'bargeIn' });
    expect(drain(sp, 3)).toEqual([0, 0, 0]);
    const r = await h.waitForPlayout();
    expect(r.interrupted).toBe(true);
    expect(r.playedText).toBe('one two three four. five six');
    expect(r.fullText).toBe('one two three four. five six seven eight.');
    expect(h.signal.aborted).toBe(true);
  });

  it("an interrupt aborts the handle's requests with an AbortError that carries no stack (it costs inside the abort window)", () => {
    const h = new SpeechHandle({ source: 'llm', sampleRate: 16000 });
    const limit = Error.stackTraceLimit;
    let seen: unknown = null;
    h.signal.addEventListener('abort', () => (seen = h.signal.reason));
    h.interrupt('bargeIn');
    expect(isAbortError(seen)).toBe(true);
    expect((seen as Error).stack).toBe('AbortError: The operation was aborted'); // no frames
    expect(Error.stackTraceLimit).toBe(limit);
    expect(isAbortError(abortError())).toBe(true);
  });

  it('waits (sends nothing) while the producer is behind, then continues', () => {
    const sp = new SpeechSplicer(FRAME);
    const h = new SpeechHandle({ source: 'llm', sampleRate: 16000 });
    sp.submit(h);
    expect(drain(sp, 2)).toEqual([0, 0]);
    h.pushAudio(new Int16Array(FRAME).fill(7));
    expect(drain(sp, 2)).toEqual([7, 0]);
    h.pushAudio(new Int16Array(FRAME / 2).fill(7));
    h.endInput();
    const out = new Int16Array(FRAME);
    expect(sp.nextFrame(out)).toBe(true);
    expect(out[FRAME / 2 - 1]).toBe(7);
    expect(out[FRAME / 2]).toBe(0);
  });

  it('drops a queued task past its expiry instead of playing it late', async () => {
    const sp = new SpeechSplicer(FRAME);
    sp.submit(task(1, 2));
    const stale = new SpeechHandle({ source: 'idle', sampleRate: 16000, expiresAt: Date.now() - 1 });
    stale.pushAudio(new Int16Array(FRAME).fill(8));
    stale.endInput();
    sp.submit(stale, 'Enqueue');
    expect(drain(sp, 4)).toEqual([1, 1, 0, 0]);
    expect((await stale.waitForPlayout()).state).toBe('expired');
  });
});
