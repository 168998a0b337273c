import { describe, expect, it } from 'vitest';
import { PacedFrames } from '../../src/agent/pacedFrames';
import type { SpeechHandle } from '../../src/agent/speechHandle';

function setup() {
  const out: { at: number; v: number | null; h: string | null }[] = [];
  const p = new PacedFrames(4, (at, frame, handle) => out.push({ at, v: frame ? frame[0] : null, h: handle ? (handle as unknown as { id: string }).id : null }));
  const frame = (v: number) => new Int16Array(4).fill(v);
  const h = { id: 's1' } as unknown as SpeechHandle;
  return { p, out, frame, h };
}

describe('PacedFrames', () => {
  it('releases frames in slot order with their real send times; silence once its time has come', () => {
    const { p, out, frame, h } = setup();
    const a = p.audioFrame(1040, frame(1), h);
    p.silence(1060);
    const b = p.audioFrame(1080, frame(2), h);
    p.release(1041);
    expect(out).toEqual([]); // frame a not reported yet
    p.sent(b, 1080.3); // reported out of order: still waits for a
    p.release(1050);
    expect(out).toEqual([]);
    p.sent(a, 1040.2);
    p.release(1050);
    expect(out).toEqual([{ at: 1040.2, v: 1, h: 's1' }]); // the silence at 1060 is not due yet
    p.release(1081);
    expect(out.slice(1)).toEqual([
      { at: 1060, v: null, h: null },
      { at: 1080.3, v: 2, h: 's1' },
    ]);
    expect(p.pending).toBe(0);
  });

  it('frames dropped by a flush, or never reported, are released as silence at their time', () => {
    const { p, out, frame, h } = setup();
    const a = p.audioFrame(1000, frame(1), h);
    p.audioFrame(1020, frame(2), h);
    p.audioFrame(1040, frame(3), h);
    p.sent(a, 1000.1);
    p.dropUnsent();
    p.sent(a + 1, 1020); // a report after the flush does not resurrect a dropped frame
    p.release(1030);
    expect(out).toEqual([
      { at: 1000.1, v: 1, h: 's1' },
      { at: 1020, v: null, h: null },
      { at: 1040, v: null, h: null },
    ]);
    expect(p.dropped).toBe(2);
    // never reported: given up 100 ms after its time
    p.audioFrame(2000, frame(4), h);
    p.release(2099);
    expect(out).toHaveLength(3);
    p.release(2100);
    expect(out[3]).toEqual({ at: 2000, v: null, h: null });
    expect(p.dropped).toBe(3);
  });

  it('a flushed slot whose period is made again is not released: each period once, in order', () => {
    const { p, out, frame, h } = setup();
    const a = p.audioFrame(1000, frame(1), h);
    p.audioFrame(1020, frame(2), h);
    p.audioFrame(1040, frame(3), h); // made ahead
    p.audioFrame(1060, frame(4), h); // made ahead
    p.sent(a, 1000.1);
    // flushed at 1010; the session makes the periods from 1040 on again
    p.dropUnsent(1030);
    p.silence(1040);
    const b = p.audioFrame(1060, frame(5), h);
    p.sent(b, 1060.2);
    p.release(1061);
    expect(out).toEqual([
      { at: 1000.1, v: 1, h: 's1' },
      { at: 1020, v: null, h: null },
      { at: 1040, v: null, h: null },
      { at: 1060.2, v: 5, h: 's1' },
    ]);
    expect(p.dropped).toBe(3);
    expect(p.pending).toBe(0);
  });

  it('ignores reports of ids it does not hold, and stays bounded when reports stop', () => {
    const { p, out, frame, h } = setup();
    p.sent(0, 1);
    p.sent(12345, 1);
    for (let i = 0; i < 100; i++) p.audioFrame(1000 + 20 * i, frame(i), h);
    expect(p.pending).toBeLessThanOrEqual(32);
    expect(out.length).toBe(100 - p.pending);
    expect(out.every((o) => o.v === null)).toBe(true);
    // in order
    for (let i = 1; i < out.length; i++) expect(out[i].at).toBeGreaterThan(out[i - 1].at);
  });
});
