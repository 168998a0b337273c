/**
 * Replays VAD taps (src/agent/vadTap.ts: what live sessions' barge-in detectors were
 * given, recorded with `VOXBRIDGE_VAD_TAP_DIR`) through the same far-end pairing
 * and the same VAD, and lists the "D reached" decisions next to the barge-ins the
 * live session decided. They agree when the replay is faithful; then a false
 * barge-in can be looked at frame by frame (`--around`).
 *   npx vite-node bench/vad/tap.ts -- FILE... [--ts] [--around] [--pairing=time] [--pair-by=arrival]
 * --pairing=time pairs each user frame with the reference frame sent last before
 * its packet arrived (no cursor), to see what the cursor's pairing changes.
 * --pair-by=arrival dates user frames by their packets' arrival even where the tap
 * has their media time (RTP timestamps, src/media/mediaClock.ts), as before it.
 */
import { replayTap, type Pairing } from '../../src/agent/vadTap';
import { nativeVadAvailable } from '../../src/native/vad';

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('--'));
const impl = args.includes('--ts') || !nativeVadAvailable() ? 'ts' : 'native';
const around = args.includes('--around');
const byTime = args.includes('--pairing=time');
const pairBy = args.includes('--pair-by=arrival') ? 'arrival' : 'media';

/** The newest reference frame sent at or before the packet's arrival. */
class TimePairing implements Pairing {
  private readonly frames: { at: number; pcm: Int16Array | null }[] = [];
  private readonly silent: Int16Array;
  resyncs = 0;
  constructor(n: number) {
    this.silent = new Int16Array(n);
  }
  onTick(at: number, pcm: Int16Array | null): void {
    this.frames.push({ at, pcm });
    if (this.frames.length > 64) this.frames.shift();
  }
  next(arrivalMs: number): Int16Array {
    for (let i = this.frames.length - 1; i >= 0; i--) if (this.frames[i].at <= arrivalMs) return this.frames[i].pcm ?? this.silent;
    return this.silent;
  }
}

if (!files.length) {
  console.error('usage: npx vite-node bench/vad/tap.ts -- FILE... [--ts] [--around] [--pairing=time]');
  process.exit(2);
}
let min = 0, live = 0, rep = 0, matched = 0;
console.log(`${impl} VAD, ${byTime ? 'time pairing' : 'FarEndReference pairing'}, user frames dated by ${pairBy === 'arrival' ? 'arrival' : 'media time where recorded'}`);
console.log('| file | min | user packets / ref frames | resyncs | starts | live barge-ins | replay D reached | live matched (±100 ms) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const f of files) {
  const frames: { at: number; flags: number; score: number; snr: number; delay: number; ms: number }[] = [];
  const r = replayTap(f, {
    impl,
    pairing: byTime ? (n) => new TimePairing(n) : undefined,
    pairBy,
    onFrame: around ? (at, flags, v) => frames.push({ at, flags, score: v.score, snr: v.snrDb, delay: v.echoDelayMs, ms: v.speechMs }) : undefined,
  });
  const m = r.live.filter((t) => r.reached.some((u) => Math.abs(u - t) <= 100)).length;
  min += r.minutes;
  live += r.live.length;
  rep += r.reached.length;
  matched += m;
  console.log(`| ${f.split('/').pop()} | ${r.minutes.toFixed(2)} | ${r.userPackets} / ${r.refFrames} | ${r.resyncs} | ${r.starts} | ${r.live.length} | ${r.reached.length} | ${m} |`);
  if (around) {
    const t0 = frames[0]?.at ?? 0;
    for (const t of r.reached) {
      console.log(`  D reached, packet of ${((t - t0) / 1000).toFixed(2)} s:`);
      for (const h of frames.filter((h) => h.at >= t - 400 && h.at <= t))
        console.log(`    ${((h.at - t0) / 1000).toFixed(2)} flags ${h.flags} score ${h.score.toFixed(2)} snr ${h.snr.toFixed(1)} dB, echo delay ${h.delay} ms, speech ${h.ms.toFixed(0)} ms`);
    }
  }
}
console.log(`total: ${min.toFixed(1)} min, live barge-ins ${live} (${(live / Math.max(min, 1e-9)).toFixed(2)}/min), replay D reached ${rep}, live matched ${matched}`);
