import { describe, expect, it } from 'vitest';
import { FarEndReference } from '../../src/agent/farEnd';
import { MediaClock } from '../../src/media/mediaClock';

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

  it('repeats the newest frame when user frames run ahead of the ticks, and re-places the cursor after a pause', () => {
    const ref = new FarEndReference(N);
    for (let k = 1; k <= 3; k++) ref.onTick(k * 20, frame(k));
    expect([ref.next(60), ref.next(61)].map(id)).toEqual([3, 3]);
    for (let k = 4; k <= 20; k++) ref.onTick(k * 20, frame(k));
    // the user's stream paused for 300 ms and goes on at real-time pace: once 10
    // frames over 150 ms or more have all arrived 16 frames "late", the cursor moves by 16
    const got: number[] = [];
    for (let i = 0; i < 14; i++) {
      ref.onTick((21 + i) * 20, frame(21 + i));
      got.push(id(ref.next(400 + 20 * i + 1)));
    }
    expect(got).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 29, 30, 31, 32, 33]);
    expect(ref.resyncs).toBe(2);
  });

  it('keeps its place through a long burst (packets held up and read at once)', () => {
    const r2 = new FarEndReference(N);
    const got: number[] = [];
    let tick = 1;
    const tickTo = (ms: number) => {
      for (; tick * 20 <= ms; tick++) r2.onTick(tick * 20, frame(tick));
    };
    // steady for 10 frames
    for (let i = 0; i < 10; i++) {
      tickTo(100 + 20 * i);
      got.push(id(r2.next(100 + 20 * i + 1)));
    }
    // 320 ms without packets, then 16 read at once, then steady again
    tickTo(600);
    for (let i = 0; i < 16; i++) got.push(id(r2.next(601)));
    for (let i = 1; i <= 12; i++) {
      tickTo(600 + 20 * i);
      got.push(id(r2.next(600 + 20 * i + 1)));
    }
    expect(got).toEqual(Array.from({ length: 38 }, (_, i) => 5 + i));
    expect(r2.resyncs).toBe(1);
  });

  it('corrects a start placed by a late packet', () => {
    const ref = new FarEndReference(N);
    for (let k = 1; k <= 10; k++) ref.onTick(k * 20, frame(k));
    // the first packet was held up 100 ms: placed at 10 instead of 5
    expect(id(ref.next(201))).toBe(10);
    const got: number[] = [];
    for (let i = 1; i <= 14; i++) {
      ref.onTick((10 + i) * 20, frame(10 + i));
      got.push(id(ref.next(100 + 20 * i + 1)));
    }
    // the next ones arrive on time (5 frames earlier than the cursor says): moved back after 10
    expect(got.slice(0, 9)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(got.slice(9)).toEqual([15, 16, 17, 18, 19]);
    expect(ref.resyncs).toBe(2);
  });

  it('paired by the sender\'s timestamps, stays on the echo through an uplink that runs late for seconds', () => {
    // User frame j is captured at 20 j + 7 ms; its echo is the agent frame that was
    // playing then, so (reference id - j) must stay what it was at the start. The uplink
    // delivers frames 50-149 late (ramping to 200-280 ms, as a sender falling behind,
    // or to up to 900 ms), then the backlog at once and on time again.
    const run = (byMedia: boolean, maxLate = 280) => {
      const ref = new FarEndReference(N);
      const clock = new MediaClock();
      const offsets = new Set<number>();
      let tick = 1;
      let last = 0;
      for (let j = 0; j < 250; j++) {
        const capture = 20 * j + 7;
        const late = j < 50 || j >= 150 ? 0 : Math.min(maxLate, (j - 50) * 14) - (j % 4) * 25;
        const arrival = Math.max(last, capture + 1 + Math.max(0, late));
        last = arrival;
        for (; tick * 20 <= arrival; tick++) ref.onTick(tick * 20, frame(tick));
        const media = clock.at(capture, arrival);
        offsets.add(id(ref.next(byMedia ? media : arrival)) - j);
      }
      return offsets;
    };
    expect([...run(true)]).toHaveLength(1);
    // an uplink 900 ms behind: the reference sent then is still kept (the media clock takes up to 1 s for jitter)
    expect([...run(true, 900)]).toHaveLength(1);
    // by arrival, the late stretch moved the cursor off the echo (what this pairing fixes)
    expect(run(false).size).toBeGreaterThan(1);
  });

  it('is silent before the agent has sent anything', () => {
    const ref = new FarEndReference(N);
    expect(id(ref.next(5))).toBe(0);
  });
});
