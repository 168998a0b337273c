import { describe, expect, it } from 'vitest';
import { OpusRtpSender } from '../../src/rooms/opusRtpSender';
import { createRtpView, parseRtp } from '../../src/media/rtp';

function capture(now?: () => number) {
  const pkts: { seq: number; ts: number; marker: boolean }[] = [];
  const view = createRtpView();
  const sender = new OpusRtpSender({
    sampleRate: 16000,
    now,
    send: (p) => {
      expect(parseRtp(p, view)).toBe(true);
      pkts.push({ seq: view.sequenceNumber, ts: view.timestamp, marker: view.marker });
    },
  });
  return { sender, pkts };
}

const frame = new Int16Array(320).map((_, i) => Math.round(3000 * Math.sin(i / 5)));

describe('OpusRtpSender', () => {
  it('a late tick on the clock timeline is not a pause: 960 ticks per frame, no marker', () => {
    let wall = 1000;
    const { sender, pkts } = capture(() => wall);
    const t0 = performance.timeOrigin + 50_000;
    for (let k = 0; k < 10; k++) {
      // frames 4 and 5 run 35 ms late and back to back (a busy event loop catching up)
      wall = 1000 + 20 * k + (k === 4 ? 35 : k === 5 ? 20 : 0);
      sender.sendFrame(frame, k === 0, t0 + 20 * k);
    }
    expect(pkts[0]!.marker).toBe(true);
    for (let i = 1; i < pkts.length; i++) {
      expect((pkts[i]!.seq - pkts[i - 1]!.seq) & 0xffff).toBe(1);
      expect((pkts[i]!.ts - pkts[i - 1]!.ts) >>> 0).toBe(960);
      expect(pkts[i]!.marker).toBe(false);
    }
  });

  it('a real pause on the clock timeline starts a new talk-spurt with the RTP clock advanced by the pause', () => {
    const { sender, pkts } = capture();
    const t0 = performance.timeOrigin + 50_000;
    sender.sendFrame(frame, true, t0);
    sender.sendFrame(frame, false, t0 + 20);
    // no frame for 100 ms (the splicer ran dry), and the core did not flag a new spurt
    sender.sendFrame(frame, false, t0 + 140);
    expect((pkts[1]!.ts - pkts[0]!.ts) >>> 0).toBe(960);
    expect((pkts[2]!.ts - pkts[1]!.ts) >>> 0).toBe(6 * 960);
    expect(pkts[2]!.marker).toBe(true);
  });

  it('rewind(n): after a paced flush dropped the last n packets, the talk-spurt-ending silence takes their place (no gap in seq or ts)', () => {
    const { sender, pkts } = capture();
    const t0 = performance.timeOrigin + 80_000;
    for (let k = 0; k < 6; k++) sender.sendFrame(frame, k === 0, t0 + 20 * k);
    // packets 4 and 5 were still queued in the pacer and are dropped
    sender.rewind(2);
    sender.endTalkSpurt(2);
    const kept = pkts.slice(0, 4);
    const silence = pkts.slice(6);
    expect(silence).toHaveLength(2);
    expect(silence[0].seq).toBe((kept[3].seq + 1) & 0xffff);
    expect(silence[0].ts).toBe((kept[3].ts + 960) >>> 0);
    expect(silence[1].seq).toBe((kept[3].seq + 2) & 0xffff);
    // the next talk-spurt 200 ms after the last kept frame: the RTP clock follows the timeline
    sender.sendFrame(frame, true, t0 + 20 * 3 + 200);
    const next = pkts[8];
    expect(next.marker).toBe(true);
    expect(next.seq).toBe((kept[3].seq + 3) & 0xffff);
    expect((next.ts - kept[3].ts) >>> 0).toBe(10 * 960);
  });
});
