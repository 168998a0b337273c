/**
 * Agent media in and out of a mediasoup router over loopback UDP: one PlainTransport
 * (127.0.0.1, RTCP muxed) per agent, and one UDP socket of this process connected to
 * it; the transport is connected back to the socket, so each side accepts only the
 * other. The agent's producer is on the transport (RTP sent from the socket), and so
 * are its consumers of other participants (their RTP arrives at the socket and is
 * handed to the consumer's handler by SSRC).
 *
 * Why not a DirectTransport: its per-packet path is the worker's payload channel, a
 * pipe carrying a notification string and the payload for every packet, read back in
 * 64 KiB stream chunks that packet Buffers are sliced from. At 100 agents in rooms
 * that was the process's largest allocator, and the garbage it left drove a major GC
 * about every second (5-18 ms pauses: most of the late 20 ms ticks). A datagram costs
 * one syscall and one small Buffer either way, and keeps the agent a participant like
 * any RTP endpoint (the worker also sends RTCP here, which is counted and dropped).
 *
 * The socket (udpSocket.ts) dates each packet by the kernel's receive time when the
 * addon is built, so a packet that waited for a busy event loop is not dated late.
 * With socket 'voice' it is read by the addon's receive thread instead (voiceRx.ts):
 * consumers are then added with consumeVoice() and their audio arrives as decoded
 * 20 ms frames, with the agent's VAD and barge-in decision already taken there.
 */
import type { types } from 'mediasoup';
import { createLogger } from '../log';
import { openLoopbackSocket, type LoopbackUdpSocket } from './udpSocket';
import { RxSocket, type RxFrame } from './voiceRx';

const log = createLogger('loopbackRtp');
const LOOPBACK = '127.0.0.1';

/**
 * An RTP packet of a consumer, with the time it reached the socket. The buffer is
 * valid only during the call (the socket reuses it): copy what must be kept.
 */
export type RtpHandler = (pkt: Buffer, arrivalMs: number) => void;

export interface LoopbackRtpStats {
  /** RTP packets handed to a consumer's handler. */
  received: number;
  /** RTCP packets from the worker (receiver/sender reports), dropped. */
  rtcp: number;
  /** Packets that were not RTP/RTCP or whose SSRC matched no consumer. */
  dropped: number;
  sent: number;
  /** Send and receive errors (ECONNREFUSED once the transport has gone). */
  sendErrors: number;
}

export class LoopbackRtp {
  readonly stats: LoopbackRtpStats = { received: 0, rtcp: 0, dropped: 0, sent: 0, sendErrors: 0 };
  private readonly handlers = new Map<number, RtpHandler>();
  private closed = false;

  private socket!: LoopbackUdpSocket;
  /** The receive thread's socket (socket 'voice'), else null. */
  voiceRx: RxSocket | null = null;

  private constructor(readonly transport: types.PlainTransport) {
    transport.observer.once('close', () => this.close());
  }

  /**
   * A transport on `router` and a socket connected to it (`socket`: 'dgram' forces
   * node:dgram, dated at read, for tests; 'voice' puts the socket on the addon's
   * receive thread, falling back to 'native' without the addon).
   */
  static async create(router: types.Router, appData: Record<string, unknown> = {}, socket: 'voice' | 'native' | 'dgram' = 'native'): Promise<LoopbackRtp> {
    let self: LoopbackRtp | null = null;
    const rx = socket === 'voice' ? RxSocket.open() : null;
    // packets can only come once the transport is connected to the socket, after `self` exists
    const sock = rx ?? await openLoopbackSocket(
      (pkt, at) => self?.onPacket(pkt, at),
      (code: number) => {
        // count errors, log the first (ECONNREFUSED after the transport closed is expected)
        if (!self) return;
        if (self.stats.sendErrors++ === 0) log.warn('loopback RTP socket error', { errno: code });
      },
      socket === 'dgram' ? 'dgram' : 'native',
    );
    let transport: types.PlainTransport | null = null;
    try {
      transport = await router.createPlainTransport({ listenIp: { ip: LOOPBACK }, rtcpMux: true, comedia: false, appData });
      self = new LoopbackRtp(transport);
      self.socket = sock;
      self.voiceRx = rx;
      await transport.connect({ ip: LOOPBACK, port: sock.port() });
      await sock.connect(transport.tuple.localPort);
      return self;
    } catch (e) {
      transport?.close();
      sock.close();
      throw e;
    }
  }

  /** 'kernel' when packets are dated by the kernel's receive time, 'read' by the event loop's read. */
  get arrivalDating(): 'kernel' | 'read' {
    return this.socket.dating;
  }

  /** A producer on the transport; its packets go out with send(). */
  produce(options: types.ProducerOptions): Promise<types.Producer> {
    return this.transport.produce(options);
  }

  /** Sends one RTP packet to the worker. The buffer must not be reused afterwards. */
  send(pkt: Uint8Array): void {
    if (this.closed) return;
    this.socket.send(pkt);
    this.stats.sent++;
  }

  /** A consumer of `producerId` on the transport, its RTP delivered to `onRtp`. */
  async consume(producerId: string, rtpCapabilities: types.RtpCapabilities, onRtp: RtpHandler): Promise<types.Consumer> {
    const consumer = await this.transport.consume({ producerId, rtpCapabilities, paused: false });
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    if (ssrc === undefined) {
      consumer.close();
      throw new Error('consumer without an SSRC');
    }
    this.handlers.set(ssrc, onRtp);
    consumer.observer.once('close', () => {
      if (this.handlers.get(ssrc) === onRtp) this.handlers.delete(ssrc);
    });
    return consumer;
  }

  /**
   * A consumer of `producerId` whose audio the receive thread decodes (socket 'voice'):
   * 20 ms frames of it go to `onFrame` (see RxSocket.addVoice for `human`/`mayLead`).
   */
  async consumeVoice(
    producerId: string,
    rtpCapabilities: types.RtpCapabilities,
    o: { human: boolean; mayLead: boolean },
    onFrame: (f: RxFrame) => void,
  ): Promise<types.Consumer> {
    const rx = this.voiceRx;
    if (!rx) throw new Error('consumeVoice needs the voice socket');
    const consumer = await this.transport.consume({ producerId, rtpCapabilities, paused: false });
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    if (ssrc === undefined || this.closed) {
      consumer.close();
      throw new Error(this.closed ? 'loopback closed' : 'consumer without an SSRC');
    }
    const voice = rx.addVoice(ssrc, consumer.rtpParameters.codecs[0]?.payloadType, o.human, o.mayLead, onFrame);
    consumer.observer.once('close', () => rx.removeVoice(voice));
    return consumer;
  }

  private onPacket(pkt: Buffer, at: number): void {
    if (pkt.length < 12 || pkt[0] >> 6 !== 2) {
      this.stats.dropped++;
      return;
    }
    // RFC 5761 demultiplexing: RTCP packet types 192-223 sit where RTP's marker bit
    // and payload types 64-95 would be.
    const pt = pkt[1];
    if (pt >= 192 && pt <= 223) {
      this.stats.rtcp++;
      return;
    }
    const h = this.handlers.get(pkt.readUInt32BE(8));
    if (!h) {
      this.stats.dropped++;
      return;
    }
    this.stats.received++;
    h(pkt, at);
  }

  /** Idempotent; also runs when the transport closes (router or worker gone). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    this.socket.close();
    if (!this.transport.closed) this.transport.close();
  }
}
