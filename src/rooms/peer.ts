/**
 * One participant's signaling session in a room: its transports, producers,
 * consumers and data channels. Closing a peer closes its transports, which
 * closes everything created on them (mediasoup cascades), and the other peers'
 * consumers of its producers (they get ConsumerClosed).
 */
import type { types } from 'mediasoup';

export type PeerRole = 'user' | 'human-agent';

export interface PeerLink {
  /** Pushes a Notification (its oneof body as a plain object). */
  notify(body: Record<string, unknown>): void;
  /** Sends `closing` and closes the socket. */
  close(code: string, message: string, wsCode: number): void;
}

export class Peer {
  readonly transports = new Map<string, types.Transport>();
  readonly producers = new Map<string, types.Producer>();
  readonly consumers = new Map<string, types.Consumer>();
  readonly dataProducers = new Map<string, types.DataProducer>();
  readonly dataConsumers = new Map<string, types.DataConsumer>();
  /** Producers (by id) this peer already consumes, so a producer is consumed once. */
  readonly consumed = new Set<string>();
  rtpCapabilities?: types.RtpCapabilities;
  /** Set when the client can do data channels (WebRTC with SCTP). */
  sctpCapabilities?: types.SctpCapabilities;
  recvTransport?: types.Transport;
  sendConnected = false;
  closed = false;
  readonly joinedAt = Date.now();

  constructor(
    readonly sessionId: string,
    readonly uid: string,
    readonly role: PeerRole,
    /** For a human agent: the AgentInstanceId its token takes over. */
    readonly agentId: string | undefined,
    readonly link: PeerLink,
  ) {}

  notify(body: Record<string, unknown>): void {
    if (!this.closed) this.link.notify(body);
  }

  transport(id: unknown): types.Transport | undefined {
    return typeof id === 'string' ? this.transports.get(id) : undefined;
  }

  /** Idempotent; closes every transport (and so every producer/consumer on it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
    this.dataProducers.clear();
    this.dataConsumers.clear();
  }
}
