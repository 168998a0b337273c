import { describe, expect, it } from 'vitest';
import { MEDIA_CLOCK_LEAK_MS_PER_S, MEDIA_CLOCK_REBASE_MS, MediaClock, RtpMediaTime } from '../../src/media/mediaClock';

describe('MediaClock', () => {
  it('dates late packets when they would have arrived on time, never after their arrival', () => {
    const c = new MediaClock();
    // 20 ms packets, 3 ms of transit; packets 5-9 held up (up to 200 ms) and delivered in a burst
    const got: number[] = [];
    for (let k = 0; k < 15; k++) {
      const arrival = k >= 5 && k < 10 ? 10 * 20 + 3 + 40 : k * 20 + 3;
      const t = c.at(1000 + 20 * k, 50_000 + arrival);
      expect(t).toBeLessThanOrEqual(50_000 + arrival);
      got.push(t - 50_000);
    }
    // each at its on-time arrival, give or take the leak over the 160 ms hold-up (0.08 ms)
    for (let k = 0; k < 15; k++) expect(Math.abs(got[k]! - (k * 20 + 3))).toBeLessThanOrEqual((MEDIA_CLOCK_LEAK_MS_PER_S * 160) / 1000 + 1e-9);
    expect(c.rebases).toBe(1);
  });

  it('takes a forward timestamp jump at once and re-bases on a restart or a long hold-up', () => {
    const c = new MediaClock();
    expect(c.at(0, 100)).toBe(100);
    expect(c.at(20, 120)).toBe(120);
    // the sender skipped 5 s of timestamps (a pause it dated): the smaller offset is taken
    expect(c.at(5040, 140)).toBe(140);
    expect(c.rebases).toBe(1);
    // it restarted its timestamps (media time goes back): re-based at once
    expect(c.at(10, 160)).toBe(160);
    expect(c.rebases).toBe(2);
    // a packet later than the offset says by more than REBASE_MS: re-based too
    const late = 160 + 20 + MEDIA_CLOCK_REBASE_MS + 50;
    expect(c.at(30, late)).toBe(late);
    expect(c.rebases).toBe(3);
    c.reset();
    expect(c.at(7, 9)).toBe(9);
    expect(c.rebases).toBe(4);
  });

  it('follows a sender whose clock runs slow (300 ppm) within a few ms over ten minutes', () => {
    const c = new MediaClock();
    let worst = 0;
    for (let k = 0; k < 30_000; k++) {
      const arrival = k * 20 * 1.0003 + 2 + (k % 7) * 3; // slow sender, jittered transit
      const t = c.at(k * 20, arrival);
      worst = Math.max(worst, arrival - (k % 7) * 3 - t);
    }
    // without the leak the offset would stay at the first packet's: 180 ms behind by the end
    expect(worst).toBeLessThan(12);
  });
});

describe('RtpMediaTime', () => {
  it('extends the timestamp across its wrap and through reordering', () => {
    const r = new RtpMediaTime(48000);
    const a = r.ms(0xffff_fc40); // 960 ticks before the wrap
    expect(r.ms(0) - a).toBeCloseTo(20, 9);
    expect(r.ms(960) - a).toBeCloseTo(40, 9);
    expect(r.ms(0) - a).toBeCloseTo(20, 9); // a reordered packet
    const g = new RtpMediaTime(8000);
    const b = g.ms(100);
    expect(g.ms(260) - b).toBe(20);
  });
});
