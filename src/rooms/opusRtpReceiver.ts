/**
 * A participant's voice for the agent: RTP packets (of a consumer on the agent's
 * loopback transport) → depacketize → Opus decode (libopus via the addon; WASM fallback,
 * see opusDecoder.ts) → 16 kHz PCM16 with the packet's arrival time.
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
  readonly stats: ReceiverStats = { packets: 0, malformed: 0, lost: 0, late: 0, decodeErrors: 0 };

  constructor(
    private readonly onPcm: (pcm: Int16Array, arrivalMs: number) => void,
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
    if (this.lastSeq >= 0) {
      const delta = (v.sequenceNumber - this.lastSeq) & 0xffff;
      if (delta === 0 || delta > 0x8000) {
        this.stats.late++;
        return;
      }
      if (delta > 1) {
        const missing = delta - 1;
        this.stats.lost += missing;
        if (missing <= MAX_CONCEAL) {
          for (let k = 0; k < missing; k++) {
            const n = d.conceal(this.scratch, this.lastSamples);
            if (n > 0) this.onPcm(this.scratch.subarray(0, n), arrivalMs);
          }
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
    this.onPcm(this.scratch.subarray(0, n), arrivalMs);
  }

  close(): void {
    this.closed = true;
    this.decoder?.free();
    this.decoder = null;
  }
}
