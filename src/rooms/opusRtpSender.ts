/**
 * The agent's voice on the wire: 20 ms frames of 16 kHz PCM → Opus → RTP
 * (RFC 7587: 48 kHz RTP clock, one frame per packet). Nothing is buffered: each
 * frame handed in by the core's clock leaves as one packet at once, so after a
 * barge-in there is nothing queued here to drain.
 *
 * Sequence numbers are continuous for the life of the stream. Timestamps advance
 * 960 per frame and, at a new talk-spurt, jump by the wall time that passed
 * (receivers' jitter buffers stay in step); the marker bit flags the first packet
 * of every talk-spurt and the encoder state is reset there.
 */
import crypto from 'node:crypto';
import { writeRtpHeader } from '../media/rtp';
import { AGENT_VOICE_OPUS, createOpusEncoder, OPUS_MAX_PACKET, type OpusStreamEncoder } from './opusEncoder';

export const OPUS_PAYLOAD_TYPE = 100;
export const OPUS_RTP_CLOCK = 48000;
const TS_PER_FRAME = 960;

export interface OpusRtpSenderOptions {
  ssrc?: number;
  payloadType?: number;
  /** PCM rate the core hands in (16 kHz): the encoder reads it directly, no resampling. */
  sampleRate?: number;
  bitrate?: number;
  /**
   * Puts one packet on the wire: `frameTimeMs` is the audio frame's ideal time (ms since
   * epoch) for a paced sender; undefined for the talk-spurt-ending silence (at once).
   */
  send(packet: Buffer, frameTimeMs?: number): void;
  /** send() copies the packet before it returns (the pacer does): one buffer then serves every packet. */
  sinkCopies?: boolean;
  now?: () => number;
}

export class OpusRtpSender {
  readonly ssrc: number;
  readonly payloadType: number;
  private readonly encoder: OpusStreamEncoder;
  private readonly scratch = new Uint8Array(OPUS_MAX_PACKET);
  /** The reused packet when the sink copies (header, then the payload encoded in place). */
  private readonly out: Buffer | null;
  private readonly outPayload: Uint8Array | null;
  private seq = crypto.randomInt(0, 0x10000);
  private ts = crypto.randomInt(0, 0x100000000);
  private lastAt = -Infinity;
  /** RTP timestamps and frame times of the last packets, for rewind(). */
  private readonly tsHist = new Uint32Array(64);
  private readonly atHist = new Float64Array(64);
  private sentCount = 0;
  private started = false;
  private spurtEnded = false;
  packets = 0;
  silencePackets = 0;
  bytes = 0;

  constructor(private readonly opts: OpusRtpSenderOptions) {
    this.ssrc = opts.ssrc ?? crypto.randomInt(1, 0xffffffff);
    this.payloadType = opts.payloadType ?? OPUS_PAYLOAD_TYPE;
    this.encoder = createOpusEncoder({ ...AGENT_VOICE_OPUS, sampleRate: opts.sampleRate ?? 16000, channels: 1, bitrate: opts.bitrate ?? AGENT_VOICE_OPUS.bitrate });
    this.out = opts.sinkCopies ? Buffer.allocUnsafe(12 + OPUS_MAX_PACKET) : null;
    this.outPayload = this.out?.subarray(12) ?? null;
  }

  /** Encodes `pcm` into an RTP packet with the current seq/ts: a fresh Buffer, or the reused one. */
  private packet(pcm: Int16Array, marker: boolean): Buffer {
    if (this.out) {
      const n = this.encoder.encode(pcm, this.outPayload!);
      writeRtpHeader(this.out, 0, this.payloadType, marker, this.seq, this.ts, this.ssrc);
      return this.out.subarray(0, 12 + n);
    }
    // a datagram that cannot leave at once keeps its buffer: one per packet
    const n = this.encoder.encode(pcm, this.scratch);
    const pkt = Buffer.allocUnsafe(12 + n);
    writeRtpHeader(pkt, 0, this.payloadType, marker, this.seq, this.ts, this.ssrc);
    pkt.set(this.scratch.subarray(0, n), 12);
    return pkt;
  }

  /**
   * Ends the current talk-spurt at once (barge-in, manual interrupt, takeover):
   * sends `frames` 20 ms frames of digital silence right after the last audio
   * frame. Without them a receiver's jitter buffer, finding no next packet, would
   * conceal the loss by extending the cut-off speech (WebRTC NetEq's expand
   * fades over ~300 ms); with them it plays silence from the next frame on.
   * They carry no agent audio; a repeated call sends nothing.
   */
  endTalkSpurt(frames = 2): void {
    if (!this.started || this.spurtEnded) return;
    this.spurtEnded = true;
    const zero = new Int16Array((this.opts.sampleRate ?? 16000) / 50);
    for (let i = 0; i < frames; i++) {
      this.ts = (this.ts + TS_PER_FRAME) >>> 0;
      const pkt = this.packet(zero, false);
      this.seq = (this.seq + 1) & 0xffff;
      this.silencePackets++;
      this.note(this.lastAt + 20 * (i + 1));
      this.opts.send(pkt);
    }
    // The silence covers the next `frames` periods of the timeline.
    this.lastAt += 20 * frames;
  }

  /**
   * The last `n` packets never left (a paced sender's flush dropped them): the stream
   * continues from the packet before them, so the next one (the talk-spurt-ending
   * silence) takes the first dropped packet's sequence number and timestamp and the
   * receiver sees no loss to conceal.
   */
  rewind(n: number): void {
    n = Math.min(n, this.sentCount - 1, this.tsHist.length - 1);
    if (n <= 0) return;
    this.seq = (this.seq - n) & 0xffff;
    this.sentCount -= n;
    const last = (this.sentCount - 1) % this.tsHist.length;
    this.ts = this.tsHist[last];
    this.lastAt = this.atHist[last];
    this.packets -= n;
  }

  private note(at: number): void {
    const k = this.sentCount++ % this.tsHist.length;
    this.tsHist[k] = this.ts;
    this.atHist[k] = at;
  }

  /**
   * Encodes and sends one frame now. `frameTimeMs` (ms since epoch) is the frame's ideal
   * time on the core's clock: gaps are measured on it, so a tick that runs late (a busy
   * event loop) is not taken for a pause, which would advance the RTP clock a frame too
   * far and make the receiver conceal 20 ms that was never missing.
   */
  sendFrame(pcm: Int16Array, talkSpurtStart: boolean, frameTimeMs?: number): void {
    const now = frameTimeMs !== undefined ? frameTimeMs - performance.timeOrigin : this.opts.now ? this.opts.now() : performance.now();
    // A gap longer than a frame and a half is a new talk-spurt even if the core did not say so.
    const newSpurt = talkSpurtStart || !this.started || now - this.lastAt > 30;
    if (newSpurt) {
      if (this.started) {
        const frames = Math.max(1, Math.round((now - this.lastAt) / 20));
        this.ts = (this.ts + frames * TS_PER_FRAME) >>> 0;
      }
      this.encoder.reset();
    } else {
      this.ts = (this.ts + TS_PER_FRAME) >>> 0;
    }
    const pkt = this.packet(pcm, newSpurt);
    this.seq = (this.seq + 1) & 0xffff;
    this.started = true;
    this.spurtEnded = false;
    this.lastAt = now;
    this.packets++;
    this.bytes += pkt.length;
    this.note(now);
    this.opts.send(pkt, frameTimeMs);
  }
}
