/**
 * A participant's voice for the agent: RTP packets (from a DirectTransport
 * consumer) → depacketize → Opus decode (npm `opus-decoder`, libopus in WASM)
 * → 16 kHz PCM16 with the packet's arrival time.
 *
 * The decoder is created at 16 kHz mono: libopus decodes straight to the core's
 * rate (it synthesises at the requested rate), so no resampler and no extra
 * delay sit between the wire and the VAD. Lost packets (a sequence gap of up
 * to MAX_CONCEAL frames) are replaced by silence so that the VAD's clock keeps
 * the real time; older or duplicate packets are dropped. Malformed packets are
 * counted, never thrown.
 */
import { createRtpView, parseRtp } from '../media/rtp';
import { createLogger } from '../log';

const log = createLogger('rooms.rx');
const CORE_RATE = 16000;
const FRAME = 320;
const MAX_CONCEAL = 5;
const SILENCE = new Int16Array(MAX_CONCEAL * FRAME);

interface WasmOpusDecoder {
  ready: Promise<void>;
  decodeFrame(frame: Uint8Array): { channelData: Float32Array[]; samplesDecoded: number; errors: unknown[] };
  reset(): Promise<void>;
  free(): void;
}
type DecoderCtor = new (o: { sampleRate: number; channels: number }) => WasmOpusDecoder;

let ctor: Promise<DecoderCtor> | undefined;
/** `opus-decoder` is an ES module: required directly on Node ≥ 20.19, imported otherwise. */
export function loadOpusDecoder(): Promise<DecoderCtor> {
  ctor ??= (async () => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require('opus-decoder') as { OpusDecoder: DecoderCtor }).OpusDecoder;
    } catch {
      const dynImport = new Function('s', 'return import(s)') as (s: string) => Promise<{ OpusDecoder: DecoderCtor }>;
      return (await dynImport('opus-decoder')).OpusDecoder;
    }
  })();
  return ctor;
}

export interface ReceiverStats {
  packets: number;
  malformed: number;
  lost: number;
  late: number;
  decodeErrors: number;
}

export class OpusRtpReceiver {
  private decoder: WasmOpusDecoder | null = null;
  private readonly view = createRtpView();
  private lastSeq = -1;
  private scratch = new Int16Array(FRAME * 6);
  private closed = false;
  readonly stats: ReceiverStats = { packets: 0, malformed: 0, lost: 0, late: 0, decodeErrors: 0 };

  constructor(
    private readonly onPcm: (pcm: Int16Array, arrivalMs: number) => void,
    private readonly payloadType?: number,
  ) {}

  async start(): Promise<void> {
    const Ctor = await loadOpusDecoder();
    const d = new Ctor({ sampleRate: CORE_RATE, channels: 1 });
    await d.ready;
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
        if (missing <= MAX_CONCEAL) this.onPcm(SILENCE.subarray(0, missing * FRAME), arrivalMs);
      }
    }
    this.lastSeq = v.sequenceNumber;
    if (v.payloadLength === 0) return;
    let out;
    try {
      out = d.decodeFrame(pkt.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength));
    } catch (e) {
      this.stats.decodeErrors++;
      if (this.stats.decodeErrors === 1) log.warn('opus decode failed', { error: e });
      return;
    }
    if (out.errors.length) this.stats.decodeErrors += out.errors.length;
    const f = out.channelData[0];
    if (!f || out.samplesDecoded === 0) return;
    // One reused buffer: the PCM is valid only during onPcm (the session copies what it keeps).
    if (this.scratch.length < out.samplesDecoded) this.scratch = new Int16Array(out.samplesDecoded);
    const pcm = this.scratch.subarray(0, out.samplesDecoded);
    for (let i = 0; i < pcm.length; i++) {
      const s = f[i]! * 32768;
      pcm[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : Math.round(s);
    }
    this.onPcm(pcm, arrivalMs);
  }

  close(): void {
    this.closed = true;
    this.decoder?.free();
    this.decoder = null;
  }
}
