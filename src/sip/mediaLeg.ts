/**
 * The media of one SIP call leg, through mediasoup:
 *
 *   caller RTP → PlainTransport (the leg's port) → Producer (caller's audio)
 *              → Consumer on the loopback transport → UDP to Node → G.711/Opus decode → 16 kHz → agent
 *   agent 16 kHz → encode → RTP → UDP → Producer on the loopback transport → PlainTransport Consumer → caller
 *
 * (The loopback transport is ../sfu/loopbackRtp.ts: a second PlainTransport on
 * 127.0.0.1 connected to a socket of this process.)
 *
 * mediasoup answers RTCP for both streams and keeps the caller's audio a normal
 * Producer of a Router (a room or a human could consume it).
 *
 * SSRC probe: a mediasoup Producer must be told its SSRC (no MID/RID on phone
 * RTP), and SIP peers rarely put `a=ssrc` in their SDP. So the leg's port is
 * first held by a plain UDP socket (the probe) that reads the first RTP packet
 * (SSRC, payload type, source address); then the probe closes and the
 * PlainTransport binds the same port (`port` option), connected to the packet's
 * source (symmetric RTP: works behind NAT and when the SDP names another
 * interface). Packets that arrive in the few milliseconds of the hand-over are
 * lost. After PROBE_TIMEOUT_MS without RTP (a silent or one-way caller) the
 * transport is connected to the SDP address, with the SDP's `a=ssrc` if any. (A caller that
 * changes SSRC mid-call is not followed: mediasoup drops the new stream.)
 *
 * Outgoing audio is one RTP packet per 20 ms tick of the agent's clock; the RTP
 * timestamp follows the wall clock across pauses (marker bit on each talk spurt).
 */
import type dgram from 'node:dgram';
import type { types } from 'mediasoup';
import { DEFAULT_AUDIO_LEAD_MS } from '../config';
import { createLogger, type Logger } from '../log';
import { nowMs } from '../clock';
import { createRtpView, parseRtp, writeRtpHeader } from '../media/rtp';
import { MediaClock, RtpMediaTime } from '../media/mediaClock';
import { LegCodec } from '../transports/legCodec';
import { PacingStats } from '../transports/pacing';
import type { WorkerPool } from '../sfu/workerPool';
import { LoopbackRtp } from '../sfu/loopbackRtp';
import { PacedRtpOut } from '../sfu/pacedRtp';
import type { PacedOutput } from '../agent/session';
import type { RtpPortAllocator } from './rtpPorts';
import type { AudioDescription, Negotiated } from './sdp';
import { AGENT_VOICE_OPUS, createOpusEncoder, OPUS_MAX_PACKET, type OpusStreamEncoder } from '../rooms/opusEncoder';
import { createOpusDecoder, type OpusStreamDecoder } from '../rooms/opusDecoder';


export const PROBE_TIMEOUT_MS = 3000;
const DTMF_DIGITS = '0123456789*#ABCD';

export interface MediaLegEvents {
  /** `mediaMs`: the packet's time by its RTP timestamp (src/media/mediaClock.ts), which the echo reference is paired by. */
  onAudio(pcm16k: Int16Array, arrivalMs: number, mediaMs: number): void;
  onDtmf(digit: string): void;
  /** The transport is set up: agent audio can flow (after the probe or its timeout). */
  onReady(): void;
}

export interface MediaLegStats {
  rtpIn: number;
  rtpOut: number;
  dtmf: number;
  /** Opus packets libopus rejected (dropped, counted). */
  decodeErrors: number;
  ssrcSource: 'sdp' | 'probe' | 'none';
  pacing: ReturnType<PacingStats['summary']>;
}

interface Source {
  ssrc: number;
  address: string;
  port: number;
}

export class SipMediaLeg {
  private probe: dgram.Socket | null;
  private router: types.Router | null = null;
  private plain: types.PlainTransport | null = null;
  private loop: LoopbackRtp | null = null;
  /** The agent's RTP sent on time by the native pacer (null: sent at the tick). */
  private paced: PacedRtpOut | null = null;
  /** RTP timestamps of the last packets (by sequence number), to rewind after a flush. */
  private readonly tsHist = new Uint32Array(64);
  private outProducer: types.Producer | null = null;
  private remote: AudioDescription | null = null;
  private neg: Negotiated | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private activating: Promise<void> | null = null;
  private closed = false;
  private readonly view = createRtpView();
  private readonly log: Logger;
  // outgoing
  private readonly ssrc = (Math.random() * 0xffffffff) >>> 0;
  private seq = (Math.random() * 0xffff) | 0;
  private ts = (Math.random() * 0xffffffff) >>> 0;
  private lastSendAt = 0;
  private outPt = 0;
  private codec: LegCodec | null = null;
  private opusEnc: OpusStreamEncoder | null = null;
  private readonly pkt = new Uint8Array(12 + OPUS_MAX_PACKET);
  private held = false;
  private markNext = false;
  // incoming
  private rtpTime: RtpMediaTime | null = null;
  private readonly mediaClock = new MediaClock();
  /** Opus decodes straight to 16 kHz mono (libopus synthesises at the asked rate). */
  private opusRx: OpusStreamDecoder | null = null;
  /** Decoded PCM of one packet; valid during onAudio only (the session copies what it keeps). */
  private readonly opusPcm = new Int16Array(1920);
  private lastDtmfTs = -1;
  private readonly stats = { rtpIn: 0, rtpOut: 0, dtmf: 0, decodeErrors: 0, ssrcSource: 'none' as MediaLegStats['ssrcSource'] };
  private readonly pacing = new PacingStats();

  private constructor(
    private readonly workers: WorkerPool,
    private readonly ports: RtpPortAllocator,
    readonly listenIp: string,
    readonly port: number,
    probe: dgram.Socket,
    private readonly ev: MediaLegEvents,
    callId: string,
    /** BridgeConfig.agentAudioLeadMs: the agent's frames are made this far ahead and paced (0: sent at the tick). */
    private readonly leadMs: number,
  ) {
    this.probe = probe;
    this.log = createLogger('sip.media', { call: callId, port });
    probe.on('message', (buf, rinfo) => this.onProbePacket(buf, rinfo.address, rinfo.port));
  }

  /** Reserves the leg's RTP port (for the SDP) and starts listening for the caller's first packet. */
  static async open(workers: WorkerPool, ports: RtpPortAllocator, listenIp: string, ev: MediaLegEvents, callId: string, leadMs = DEFAULT_AUDIO_LEAD_MS): Promise<SipMediaLeg> {
    const { socket, port } = await ports.bind(listenIp);
    return new SipMediaLeg(workers, ports, listenIp, port, socket, ev, callId, leadMs);
  }

  /** Present when the agent's frames are paced (AgentOutput.paced). */
  get pacedOutput(): PacedOutput | undefined {
    return this.paced ?? undefined;
  }

  /** Sets (or, on re-INVITE, updates) the negotiated stream. */
  async start(remote: AudioDescription, neg: Negotiated): Promise<void> {
    const first = this.remote === null;
    this.remote = remote;
    this.neg = neg;
    if (this.rtpTime?.clockRate !== neg.codec.clockRate) {
      this.rtpTime = new RtpMediaTime(neg.codec.clockRate);
      this.mediaClock.reset();
    }
    if (!first) return this.update(remote);
    this.codec = new LegCodec({ encoding: neg.codec.kind === 'opus' ? 'L16' : neg.codec.kind, sampleRate: neg.codec.kind === 'opus' ? 16000 : 8000 });
    if (neg.codec.kind === 'opus') {
      this.opusEnc = createOpusEncoder({ ...AGENT_VOICE_OPUS, sampleRate: 16000, channels: 1 });
      this.opusRx = await createOpusDecoder({ sampleRate: 16000, channels: 1 });
    }
    // Even with a=ssrc the first packet is awaited: its source address is where the
    // caller really sends from (NAT, or an SDP address that is not the one in use).
    this.probeTimer = setTimeout(() => {
      if (remote.ssrc !== null) {
        this.stats.ssrcSource = 'sdp';
        this.log.info('no RTP from the caller yet; using the SDP address and a=ssrc');
        void this.activate({ ssrc: remote.ssrc, address: remote.address, port: remote.port });
      } else {
        this.log.info('no RTP from the caller yet; sending to the SDP address without a caller stream');
        void this.activate(null);
      }
    }, PROBE_TIMEOUT_MS);
  }

  private onProbePacket(buf: Buffer, address: string, port: number): void {
    // RTP only (RTCP on a muxed port has payload types 64-95 after the marker bit).
    if (!parseRtp(buf, this.view) || (this.view.payloadType >= 64 && this.view.payloadType <= 95)) return;
    if (!this.remote || this.activating) return;
    this.stats.ssrcSource = 'probe';
    void this.activate({ ssrc: this.view.ssrc, address, port });
  }

  private activate(src: Source | null): Promise<void> {
    this.activating ??= this.doActivate(src).catch((e) => {
      this.log.error('media set-up failed', { error: e });
    });
    return this.activating;
  }

  private async doActivate(src: Source | null): Promise<void> {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    const remote = this.remote!;
    const neg = this.neg!;
    this.closeProbe();
    if (this.closed) return;
    const router = await this.workers.createRouter({ kind: 'sip-call' });
    this.router = router;
    if (this.closed) return void router.close();
    const plain = await router.createPlainTransport({ listenIp: this.listenIp, port: this.port, rtcpMux: true, comedia: false });
    this.plain = plain;
    await plain.connect({ ip: src?.address ?? remote.address, port: src?.port ?? remote.port });
    const loop = await LoopbackRtp.create(router, { kind: 'sip-agent' });
    this.loop = loop;
    if (this.leadMs > 0) this.paced = await PacedRtpOut.create(router, this.leadMs, { kind: 'sip-agent', paced: true });
    const routerCodec = router.rtpCapabilities.codecs!.find((c) => c.mimeType.toLowerCase() === `audio/${neg.codec.kind.toLowerCase()}`)!;
    const te = router.rtpCapabilities.codecs!.find((c) => c.mimeType.toLowerCase() === 'audio/telephone-event' && c.clockRate === 8000);
    // Caller → agent.
    if (src) await this.produceCaller(src.ssrc, te);
    // Agent → caller: a loopback producer consumed by the PlainTransport.
    this.outPt = routerCodec.preferredPayloadType!;
    const outProducer = await (this.paced ?? loop).produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: routerCodec.mimeType, clockRate: routerCodec.clockRate, channels: routerCodec.channels, payloadType: this.outPt }],
        encodings: [{ ssrc: this.ssrc }],
      },
    });
    this.outProducer = outProducer;
    const c = await plain.consume({ producerId: outProducer.id, rtpCapabilities: router.rtpCapabilities });
    if (this.held) await c.pause();
    this.ev.onReady();
    this.log.info('media ready', { codec: neg.codec.kind, pt: neg.codec.pt, remote: `${src?.address ?? remote.address}:${src?.port ?? remote.port}`, ssrc: src?.ssrc ?? null, ssrcSource: this.stats.ssrcSource });
  }

  private async produceCaller(ssrc: number, te: types.RtpCodecCapability | undefined): Promise<void> {
    const neg = this.neg!;
    const codecs: types.RtpCodecParameters[] = [
      { mimeType: `audio/${neg.codec.kind === 'opus' ? 'opus' : neg.codec.kind}`, clockRate: neg.codec.clockRate, channels: neg.codec.kind === 'opus' ? 2 : 1, payloadType: neg.codec.pt },
    ];
    if (te && neg.dtmfPt !== null) codecs.push({ mimeType: 'audio/telephone-event', clockRate: 8000, payloadType: neg.dtmfPt });
    const producer = await this.plain!.produce({ kind: 'audio', rtpParameters: { codecs, encodings: [{ ssrc }] } });
    let pts: { audio: number; dtmf: number | undefined } | null = null;
    const consumer = await this.loop!.consume(producer.id, this.router!.rtpCapabilities, (pkt, at) => {
      if (pts) this.onRtp(pkt, at, pts.audio, pts.dtmf);
    });
    const dtmf = te ? consumer.rtpParameters.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/telephone-event')?.payloadType : undefined;
    pts = { audio: consumer.rtpParameters.codecs[0].payloadType, dtmf };
  }

  private onRtp(pkt: Buffer, arrival: number, audioPt: number, dtmfPt: number | undefined): void {
    const v = this.view;
    if (!parseRtp(pkt, v)) return;
    this.stats.rtpIn++;
    if (v.payloadType === dtmfPt) return this.onDtmfPacket(pkt, v.payloadOffset, v.payloadLength, v.timestamp);
    if (v.payloadType !== audioPt || this.held) return;
    const media = this.rtpTime ? this.mediaClock.at(this.rtpTime.ms(v.timestamp), arrival) : arrival;
    if (this.opusRx) {
      const n = this.opusRx.decode(pkt.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength), this.opusPcm);
      if (n > 0) this.ev.onAudio(this.opusPcm.subarray(0, n), arrival, media);
      else this.stats.decodeErrors++;
      return;
    }
    this.ev.onAudio(this.codec!.decode(pkt.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength)), arrival, media);
  }

  /**
   * Drops buffered output of interrupted speech (barge-in): frames queued in the pacer
   * (the stream goes on from the last packet sent, so the caller sees no sequence
   * gap), encoder and resampler state.
   */
  resetOutput(): void {
    const n = Math.min(this.paced?.flush() ?? 0, this.tsHist.length - 1);
    if (n > 0) {
      // back to the last packet sent (this.ts and lastSendAt are the last packet's)
      this.seq = (this.seq - n) & 0xffff;
      this.ts = this.tsHist[(this.seq - 1) & 63];
      this.lastSendAt -= 20 * n;
      this.markNext = true;
    }
    this.codec?.resetOutput();
  }

  /** RFC 4733: one digit per event (events are told apart by their RTP timestamp). */
  private onDtmfPacket(pkt: Buffer, off: number, len: number, ts: number): void {
    if (len < 4 || ts === this.lastDtmfTs) return;
    const event = pkt[off];
    if (event >= DTMF_DIGITS.length) return;
    this.lastDtmfTs = ts;
    this.stats.dtmf++;
    this.ev.onDtmf(DTMF_DIGITS[event]);
  }

  /**
   * One 20 ms frame of agent audio (16 kHz). `frameTimeMs` is its time on the frame
   * clock (the RTP clock follows it); paced, it leaves `leadMs` after it, and the send
   * report carries `frameId`.
   */
  sendAudio(frame: Int16Array, talkSpurtStart: boolean, frameTimeMs?: number, frameId = 0): void {
    const producer = this.outProducer;
    const codec = this.codec;
    if (!producer || !codec || producer.closed || this.held) return;
    const now = frameTimeMs ?? nowMs();
    const rate = this.neg!.codec.kind === 'opus' ? 48000 : 8000;
    const spf = rate / 50;
    if (talkSpurtStart && this.lastSendAt) {
      // Keep the RTP clock on the wall clock across the pause.
      const elapsed = Math.round((now - this.lastSendAt) / 20) * spf;
      this.ts = (this.ts + Math.max(spf, elapsed)) >>> 0;
    } else if (this.lastSendAt) this.ts = (this.ts + spf) >>> 0;
    this.lastSendAt = now;
    let payloadLen: number;
    if (this.opusEnc) {
      payloadLen = this.opusEnc.encode(frame, this.pkt.subarray(12));
    } else {
      const enc = codec.encodeFrame(frame);
      if (!enc) {
        this.markNext ||= talkSpurtStart;
        return;
      }
      this.pkt.set(enc, 12);
      payloadLen = 160;
    }
    writeRtpHeader(this.pkt, 0, this.outPt, talkSpurtStart || this.markNext, this.seq, this.ts, this.ssrc);
    this.markNext = false;
    this.tsHist[this.seq & 63] = this.ts;
    this.seq = (this.seq + 1) & 0xffff;
    if (this.paced) this.paced.send(this.pkt.subarray(0, 12 + payloadLen), now + this.leadMs, frameId);
    // a copy per packet: a datagram that cannot leave at once keeps its buffer
    else this.loop!.send(Buffer.from(this.pkt.subarray(0, 12 + payloadLen)));
    this.stats.rtpOut++;
    // paced: the time it is due on the wire (the pacer counts lateness); else when it left
    this.pacing.note(this.paced ? now + this.leadMs : nowMs());
  }

  /**
   * re-INVITE: hold (sendonly/inactive or c=0.0.0.0 from the peer) stops our audio
   * and the caller's audio reaching the agent; resume restarts both. The transport
   * stays connected to where the caller's RTP came from.
   */
  private async update(remote: AudioDescription): Promise<void> {
    this.held = remote.direction === 'sendonly' || remote.direction === 'inactive' || remote.address === '0.0.0.0';
    this.log.info(this.held ? 'call held' : 'call resumed', { direction: remote.direction });
  }

  get isHeld(): boolean {
    return this.held;
  }

  getStats(): MediaLegStats {
    return { ...this.stats, pacing: this.pacing.summary() };
  }

  /** mediasoup's counters for the leg's PlainTransport (bytes include RTCP and dropped packets). */
  async transportStats(): Promise<{ bytesReceived: number; rtpBytesReceived: number; bytesSent: number; rtpBytesSent: number } | null> {
    if (!this.plain || this.plain.closed) return null;
    const [s] = await this.plain.getStats();
    return { bytesReceived: s.bytesReceived, rtpBytesReceived: s.rtpBytesReceived, bytesSent: s.bytesSent, rtpBytesSent: s.rtpBytesSent };
  }

  private closeProbe(): void {
    if (!this.probe) return;
    const p = this.probe;
    this.probe = null;
    p.removeAllListeners('message');
    try {
      p.close();
    } catch {
      /* already closed */
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.closeProbe();
    this.opusRx?.free();
    this.opusRx = null;
    this.router?.close();
    this.router = null;
    // The port is free once the worker closed the transport; a short delay keeps late packets of this call away from the next.
    setTimeout(() => this.ports.release(this.port), 1000).unref();
  }
}
