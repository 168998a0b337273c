import { describe, expect, it } from 'vitest';
import { FarEndReference } from '../../src/agent/farEnd';

const N = 4; // samples per frame: enough to tell frames apart
const frame = (k: number) => Int16Array.from({ length: N }, () => k);
const id = (f: Int16Array) => f[0];

describe('FarEndReference', () => {
  it('hands out consecutive frames one per user frame, also when user packets come in a burst', () => {
    const ref = new FarEndReference(N);
    for (let k = 1; k <= 10; k++) ref.onTick(k * 20, frame(k));
    // steady arrivals: the frame sent at or before each arrival, then one per frame
    expect(id(ref.next(105))).toBe(5);
    expect(id(ref.next(125))).toBe(6);
    // a burst: three packets read at once (same arrival time) still get 7, 8, 9
    expect([ref.next(190), ref.next(190), ref.next(190)].map(id)).toEqual([7, 8, 9]);
    expect(ref.resyncs).toBe(1);
  });

  it('gives silence for ticks where nothing was sent and keeps the stream continuous across them', () => {
    const ref = new FarEndReference(N);
    ref.onTick(20, frame(1));
    ref.onTick(40, null);
    ref.onTick(60, frame(3));
    expect([ref.next(20), ref.next(40), ref.next(60)].map(id)).toEqual([1, 0, 3]);
  });

  it('repeats the newest frame when user frames run ahead of the ticks, and re-places the cursor after drift', () => {
    const ref = new FarEndReference(N);
    for (let k = 1; k <= 3; k++) ref.onTick(k * 20, frame(k));
    expect([ref.next(60), ref.next(61)].map(id)).toEqual([3, 3]);
    for (let k = 4; k <= 20; k++) ref.onTick(k * 20, frame(k));
    // the user's stream paused for 300 ms: the cursor is placed by time again
    expect(id(ref.next(400))).toBe(20);
    expect(ref.resyncs).toBe(2);
  });

  it('is silent before the agent has sent anything', () => {
    const ref = new FarEndReference(N);
    expect(id(ref.next(5))).toBe(0);
  });
});
