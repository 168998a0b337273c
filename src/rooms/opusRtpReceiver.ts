/**
 * A participant's voice for the agent: RTP packets (of a consumer on the agent's
 * loopback transport) → depacketize → Opus decode (libopus via the addon; WASM fallback,
 * see opusDecoder.ts) → 16 kHz PCM16 with the packet's arrival time, and its time by
 * the RTP timestamp (src/media/mediaClock.ts: what the echo reference is paired by).
 *
 * The decoder is created at 16 kHz mono: libopus decodes straight to the core's
 * rate (it synthesises at the requested rate), so no resampler and no extra
 * delay sit between the wire and the VAD. Lost packets (a sequence gap of up
 * to MAX_CONCEAL packets) are concealed (libopus PLC) so that the VAD's clock
 * keeps the real time and a lost packet inside a word does not cut it; older or
 * duplicate packets are dropped. Malformed packets are counted, never thrown.
 */
import { createRtpView, parseRtp } from '../media/rtp';
import { createLogger } from '../log';
import { MediaClock, RtpMediaTime } from '../media/mediaClock';
import { createOpusDecoder, type OpusStreamDecoder } from './opusDecoder';

const log = createLogger('rooms.rx');
const CORE_RATE = 16000;
const FRAME = 320;
const MAX_CONCEAL = 5;
/** 120 ms at 16 kHz: the longest Opus packet. */
const MAX_PACKET_SAMPLES = 1920;

export interface ReceiverStats {
  packets: number;
  malformed: number;
  lost: number;
  late: number;
  decodeErrors: number;
}

export class OpusRtpReceiver {
  private decoder: OpusStreamDecoder | null = null;
  private readonly view = createRtpView();
  private lastSeq = -1;
  /** Samples of the last decoded packet: what a lost packet is concealed as. */
  private lastSamples = FRAME;
  private readonly scratch = new Int16Array(MAX_PACKET_SAMPLES);
  private closed = false;
  /** Opus's RTP clock is 48 kHz (RFC 7587). */
  private readonly rtpTime = new RtpMediaTime(48000);
  private readonly clock = new MediaClock();
  readonly stats: ReceiverStats = { packets: 0, malformed: 0, lost: 0, late: 0, decodeErrors: 0 };

  constructor(
    private readonly onPcm: (pcm: Int16Array, arrivalMs: number, mediaMs: number) => void,
    private readonly payloadType?: number,
  ) {}

  async start(): Promise<void> {
    const d = await createOpusDecoder({ sampleRate: CORE_RATE, channels: 1 });
    if (this.closed) d.free();
    else this.decoder = d;
  }

  /** One RTP packet as it arrived (`arrivalMs`: performance.timeOrigin + performance.now()). */
  push(pkt: Uint8Array, arrivalMs: number): void {
    const d = this.decoder;
    if (!d) return;
    const v = this.view;
    if (!parseRtp(pkt, v) || (this.payloadType !== undefined && v.payloadType !== this.payloadType)) {
      this.stats.malformed++;
      return;
    }
    this.stats.packets++;
    const delta = this.lastSeq >= 0 ? (v.sequenceNumber - this.lastSeq) & 0xffff : 1;
    if (delta === 0 || delta > 0x8000) {
      this.stats.late++;
      return;
    }
    const mediaMs = this.clock.at(this.rtpTime.ms(v.timestamp), arrivalMs);
    if (delta > 1) {
      const missing = delta - 1;
      this.stats.lost += missing;
      if (missing <= MAX_CONCEAL) {
        for (let k = 0; k < missing; k++) {
          const n = d.conceal(this.scratch, this.lastSamples);
          // the lost packets came before this one, one after the other
          if (n > 0) this.onPcm(this.scratch.subarray(0, n), arrivalMs, mediaMs - ((missing - k) * this.lastSamples) / (CORE_RATE / 1000));
        }
      }
    }
    this.lastSeq = v.sequenceNumber;
    if (v.payloadLength === 0) return;
    // One reused buffer: the PCM is valid only during onPcm (the session copies what it keeps).
    const n = d.decode(pkt.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength), this.scratch);
    if (n <= 0) {
      this.stats.decodeErrors++;
      if (this.stats.decodeErrors === 1) log.warn('opus decode failed', { status: n, impl: d.impl });
      return;
    }
    this.lastSamples = n;
    this.onPcm(this.scratch.subarray(0, n), arrivalMs, mediaMs);
  }

  close(): void {
    this.closed = true;
    this.decoder?.free();
    this.decoder = null;
  }
}
