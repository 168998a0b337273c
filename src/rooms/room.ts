/**
 * A room: one mediasoup Router, its peers (browsers, RTP clients, a human
 * agent) and its agents. Every peer consumes every other participant's audio
 * (plain SFU forwarding); agents are participants too (see AgentParticipant).
 *
 * Consumers are created on the server as soon as a peer has told its RTP
 * capabilities and has a receive transport; they start paused and the client
 * resumes them (ResumeConsumer) once its side is ready.
 */
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { InvalidParameterError, InvalidStateError } from '../errors';
import { createLogger, type Logger } from '../log';
import type { AgentSession } from '../agent/session';
import type { VadStream } from '../native/vadTypes';
import type { Peer } from './peer';
import { AgentParticipant } from './agentParticipant';

export interface RoomOptions {
  listenIp: string;
  announcedIp: string | null;
  createVad(opts: { sampleRate: number; frameMs: number; interruptMs: number }): VadStream;
  /** BridgeConfig.agentAudioLeadMs (default DEFAULT_AUDIO_LEAD_MS). */
  agentAudioLeadMs?: number;
  /** Users' voices on the addon's receive thread (default true). */
  voiceThread?: boolean;
}

export type TransportDirection = 'send' | 'recv';

const MAX_PEERS = 50;

export class Room extends EventEmitter {
  readonly peers = new Map<string, Peer>();
  readonly agents = new Map<string, AgentParticipant>();
  private readonly log: Logger;
  closed = false;

  constructor(
    readonly id: string,
    readonly router: types.Router,
    private readonly opts: RoomOptions,
  ) {
    super();
    this.log = createLogger('room', { room: id });
    router.observer.once('close', () => this.close());
  }

  get empty(): boolean {
    return this.peers.size === 0 && this.agents.size === 0;
  }

  // ------------------------------------------------------------------ peers

  /** Adds a peer; a peer with the same user id (a reconnect) is replaced and returned. */
  addPeer(peer: Peer): Peer | undefined {
    if (this.closed) throw new InvalidStateError('Room.Closed', 'the room is closing');
    const old = this.peers.get(peer.uid);
    if (!old && this.peers.size >= MAX_PEERS) throw new InvalidStateError('LimitExceeded.RoomPeers', `a room holds at most ${MAX_PEERS} participants`);
    if (old) this.removePeer(old, 'replaced');
    this.peers.set(peer.uid, peer);
    for (const p of this.peers.values()) if (p !== peer) p.notify({ peerJoined: { peer: { userId: peer.uid, role: roleNumber(peer.role) } } });
    this.log.info('peer joined', { uid: peer.uid, role: peer.role, replaced: !!old });
    return old;
  }

  removePeer(peer: Peer, reason: string): void {
    if (this.peers.get(peer.uid) !== peer) {
      peer.close();
      return;
    }
    this.peers.delete(peer.uid);
    for (const a of this.agents.values()) a.removePeer(peer);
    peer.close();
    for (const p of this.peers.values()) p.notify({ peerLeft: { userId: peer.uid } });
    this.log.info('peer left', { uid: peer.uid, reason });
    this.emit('changed');
  }

  // ------------------------------------------------------------------ transports

  async createWebRtcTransport(peer: Peer, direction: TransportDirection, sctp?: types.SctpCapabilities): Promise<types.WebRtcTransport> {
    this.assertOpen();
    const t = await this.router.createWebRtcTransport({
      listenIps: [{ ip: this.opts.listenIp, announcedIp: this.opts.announcedIp ?? undefined }],
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      enableSctp: !!sctp,
      numSctpStreams: sctp?.numStreams ?? { OS: 1024, MIS: 1024 },
      initialAvailableOutgoingBitrate: 300_000,
      appData: { uid: peer.uid, direction, kind: 'webrtc' },
    });
    this.addTransport(peer, t, direction);
    if (sctp && direction === 'recv') peer.sctpCapabilities = sctp;
    return t;
  }

  async createPlainTransport(peer: Peer, direction: TransportDirection, rtcpMux: boolean, comedia: boolean): Promise<types.PlainTransport> {
    this.assertOpen();
    const t = await this.router.createPlainTransport({
      listenIp: { ip: this.opts.listenIp, announcedIp: this.opts.announcedIp ?? undefined },
      rtcpMux,
      comedia,
      appData: { uid: peer.uid, direction, kind: 'plain' },
    });
    this.addTransport(peer, t, direction);
    return t;
  }

  private addTransport(peer: Peer, t: types.Transport, direction: TransportDirection): void {
    if (peer.closed) {
      t.close();
      throw new InvalidStateError('Signaling.PeerClosed', 'the peer has left');
    }
    if (peer.transports.size >= 4) {
      t.close();
      throw new InvalidStateError('LimitExceeded.Transports', 'at most 4 transports per participant');
    }
    peer.transports.set(t.id, t);
    t.observer.once('close', () => {
      peer.transports.delete(t.id);
      if (peer.recvTransport === t) peer.recvTransport = undefined;
    });
    if (direction === 'recv' && !peer.recvTransport) {
      peer.recvTransport = t;
      this.syncPeer(peer);
    }
  }

  async connectWebRtcTransport(peer: Peer, transportId: string, dtlsParameters: types.DtlsParameters): Promise<void> {
    const t = this.transportOf(peer, transportId) as types.WebRtcTransport;
    if (t.appData.kind !== 'webrtc') throw new InvalidParameterError('Signaling.TransportType', 'not a WebRTC transport');
    await t.connect({ dtlsParameters });
    this.onTransportUp(peer);
  }

  async connectPlainTransport(peer: Peer, transportId: string, ip: string, port: number): Promise<void> {
    const t = this.transportOf(peer, transportId) as types.PlainTransport;
    if (t.appData.kind !== 'plain') throw new InvalidParameterError('Signaling.TransportType', 'not a plain transport');
    if (!/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(ip) || !(port > 0 && port < 65536)) throw new InvalidParameterError('Signaling.BadAddress', 'ip and port must name a UDP endpoint');
    await t.connect({ ip, port });
    this.onTransportUp(peer);
  }

  async restartIce(peer: Peer, transportId: string): Promise<types.IceParameters> {
    const t = this.transportOf(peer, transportId) as types.WebRtcTransport;
    if (t.appData.kind !== 'webrtc') throw new InvalidParameterError('Signaling.TransportType', 'not a WebRTC transport');
    return t.restartIce();
  }

  private onTransportUp(peer: Peer): void {
    peer.sendConnected = true;
    for (const a of this.agents.values()) a.onPeerTransportUp(peer);
  }

  transportOf(peer: Peer, id: unknown): types.Transport {
    const t = peer.transport(id);
    if (!t) throw new InvalidParameterError('Signaling.UnknownTransport', `no transport ${String(id).slice(0, 64)} for this participant`);
    return t;
  }

  // ------------------------------------------------------------------ media

  setCapabilities(peer: Peer, rtp: types.RtpCapabilities, sctp?: types.SctpCapabilities): void {
    peer.rtpCapabilities = rtp;
    if (sctp) peer.sctpCapabilities = sctp;
    this.syncPeer(peer);
  }

  async produce(peer: Peer, transportId: string, kind: string, rtpParameters: types.RtpParameters, appData: Record<string, unknown>): Promise<types.Producer> {
    if (kind !== 'audio') throw new InvalidParameterError('Signaling.Kind', 'rooms carry audio only');
    if (peer.producers.size >= 2) throw new InvalidStateError('LimitExceeded.Producers', 'at most 2 audio producers per participant');
    const t = this.transportOf(peer, transportId);
    const producer = await t.produce({ kind: 'audio', rtpParameters, appData: { ...appData, uid: peer.uid } });
    peer.producers.set(producer.id, producer);
    producer.observer.once('close', () => peer.producers.delete(producer.id));
    for (const p of this.peers.values()) if (p !== peer) void this.consume(p, producer, peer.uid, false);
    for (const a of this.agents.values()) a.onPeerProducer(peer, producer);
    return producer;
  }

  closeProducer(peer: Peer, producerId: string): void {
    const p = peer.producers.get(producerId);
    if (!p) throw new InvalidParameterError('Signaling.UnknownProducer', 'no such producer');
    p.close();
  }

  async produceData(peer: Peer, transportId: string, sctpStreamParameters: types.SctpStreamParameters, label: string, protocol: string): Promise<types.DataProducer> {
    if (peer.dataProducers.size >= 2) throw new InvalidStateError('LimitExceeded.DataProducers', 'at most 2 data producers per participant');
    const t = this.transportOf(peer, transportId);
    const dp = await t.produceData({ sctpStreamParameters, label: label.slice(0, 64), protocol: protocol.slice(0, 64), appData: { uid: peer.uid } });
    peer.dataProducers.set(dp.id, dp);
    dp.observer.once('close', () => peer.dataProducers.delete(dp.id));
    for (const a of this.agents.values()) a.onPeerDataProducer(peer, dp);
    return dp;
  }

  async resumeConsumer(peer: Peer, consumerId: string): Promise<void> {
    const c = peer.consumers.get(consumerId);
    if (!c) throw new InvalidParameterError('Signaling.UnknownConsumer', 'no such consumer');
    await c.resume();
    const agentId = c.appData.agentId as string | undefined;
    if (agentId) this.agents.get(agentId)?.onAudioConsumerResumed(peer);
  }

  dataConsumerReady(peer: Peer, dataConsumerId: string): void {
    const dc = peer.dataConsumers.get(dataConsumerId);
    if (!dc) throw new InvalidParameterError('Signaling.UnknownDataConsumer', 'no such data consumer');
    const agentId = dc.appData.agentId as string | undefined;
    if (agentId) this.agents.get(agentId)?.onDataReady(peer);
  }

  /** Consumes whatever this peer is not consuming yet (it just became able to). */
  private syncPeer(peer: Peer): void {
    if (!peer.recvTransport || !peer.rtpCapabilities) return;
    for (const other of this.peers.values()) {
      if (other === peer) continue;
      for (const p of other.producers.values()) void this.consume(peer, p, other.uid, false);
    }
    for (const a of this.agents.values()) a.onPeerReady(peer);
  }

  /** Creates `peer`'s (paused) consumer of `producer` and tells the client. */
  async consume(peer: Peer, producer: types.Producer, ownerUid: string, agentId: string | false): Promise<void> {
    const t = peer.recvTransport;
    const caps = peer.rtpCapabilities;
    if (!t || !caps || peer.closed || producer.closed || peer.consumed.has(producer.id)) return;
    if (!this.router.canConsume({ producerId: producer.id, rtpCapabilities: caps })) {
      this.log.warn('peer cannot consume', { uid: peer.uid, producer: producer.id });
      return;
    }
    peer.consumed.add(producer.id);
    let c: types.Consumer;
    try {
      c = await t.consume({ producerId: producer.id, rtpCapabilities: caps, paused: true, appData: { ownerUid, agentId: agentId || undefined } });
    } catch (e) {
      peer.consumed.delete(producer.id);
      if (!peer.closed && !producer.closed) this.log.warn('consume failed', { uid: peer.uid, error: e });
      return;
    }
    peer.consumers.set(c.id, c);
    const gone = (): void => {
      peer.consumers.delete(c.id);
      peer.consumed.delete(producer.id);
    };
    c.on('transportclose', gone);
    c.on('producerclose', () => {
      gone();
      peer.notify({ consumerClosed: { consumerId: c.id } });
    });
    peer.notify({
      newConsumer: {
        consumerId: c.id,
        producerId: producer.id,
        userId: ownerUid,
        kind: c.kind,
        rtpParametersJson: JSON.stringify(c.rtpParameters),
        fromAgent: !!agentId,
        transportId: t.id,
      },
    });
  }

  /** Creates `peer`'s data consumer of an agent's data producer and tells the client. */
  async consumeData(peer: Peer, dp: types.DataProducer, ownerUid: string, agentId: string): Promise<types.DataConsumer | null> {
    const t = peer.recvTransport;
    if (!t || peer.closed || dp.closed || !peer.sctpCapabilities || !(t as types.WebRtcTransport).sctpParameters) return null;
    const dc = await t.consumeData({ dataProducerId: dp.id, appData: { agentId } });
    peer.dataConsumers.set(dc.id, dc);
    const gone = (): void => void peer.dataConsumers.delete(dc.id);
    dc.on('transportclose', gone);
    dc.on('dataproducerclose', () => {
      gone();
      peer.notify({ dataConsumerClosed: { dataConsumerId: dc.id } });
    });
    peer.notify({
      newDataConsumer: {
        dataConsumerId: dc.id,
        dataProducerId: dp.id,
        userId: ownerUid,
        label: dc.label,
        protocol: dc.protocol,
        sctpStreamParametersJson: JSON.stringify(dc.sctpStreamParameters),
        transportId: t.id,
      },
    });
    return dc;
  }

  // ------------------------------------------------------------------ agents

  async addAgent(session: AgentSession): Promise<AgentParticipant> {
    this.assertOpen();
    const a = await AgentParticipant.create(this, session, { createVad: this.opts.createVad, audioLeadMs: this.opts.agentAudioLeadMs, voiceThread: this.opts.voiceThread });
    this.agents.set(session.id, a);
    a.once('closed', (reason: string) => {
      this.agents.delete(session.id);
      for (const p of this.peers.values()) p.notify({ agentLeft: { agentInstanceId: session.id, reason } });
      this.emit('changed');
    });
    for (const p of this.peers.values()) {
      p.notify({ agentJoined: { agent: a.info() } });
      a.onPeerReady(p);
      for (const prod of p.producers.values()) a.onPeerProducer(p, prod);
      for (const dp of p.dataProducers.values()) a.onPeerDataProducer(p, dp);
      if (p.sendConnected) a.onPeerTransportUp(p);
    }
    return a;
  }

  private assertOpen(): void {
    if (this.closed) throw new InvalidStateError('Room.Closed', 'the room is closing');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.agents.values()) a.close('roomClosed');
    for (const p of [...this.peers.values()]) {
      p.link.close('Room.Closed', 'the room was closed', 4004);
      p.close();
    }
    this.peers.clear();
    this.router.close();
    this.emit('closed');
  }
}

export function roleNumber(role: string): number {
  return role === 'human-agent' ? 2 : 1;
}
