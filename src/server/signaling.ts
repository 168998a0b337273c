/**
 * Room signaling over WebSocket (`/ws`) for mediasoup-client and RTP clients.
 * Binary frames, one protobuf message each (proto/signaling.proto): the client
 * sends Request{id, body}; the bridge answers Response{id, body | error} and
 * pushes Notifications. The list of requests and error codes is in docs/ROOMS.md.
 *
 * A connection is AWAIT_JOIN → JOINED → CLOSED. Join must come first (within
 * 10 s) with a signed, expiring, room-scoped token. A bad or expired token, a
 * token for another room, a text frame or an undecodable frame gets an error
 * and a closed socket; a request that fails on valid input (an unknown
 * transport id, ...) gets an error answer and the socket stays open. Requests of
 * one connection run in order.
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { types } from 'mediasoup';
import { createLogger } from '../log';
import { verifyToken } from '../auth/tokens';
import { InvalidParameterError, InvalidStateError, isVoxError } from '../errors';
import { ID_PATTERN } from '../agent/agentConfig';
import type { AgentManager } from '../agent/agentManager';
import type { RoomManager } from '../rooms/roomManager';
import type { Room, TransportDirection } from '../rooms/room';
import { Peer, type PeerRole } from '../rooms/peer';
import { roleNumber } from '../rooms/room';
import { decodeRequest, encodeServerMessage, parseJsonField, Direction, type SignalingRequest } from '../rooms/signalingCodec';

const log = createLogger('signaling');
export const SIGNALING_PATH = '/ws';
export const SIGNALING_VERSION = 1;

const JOIN_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 15_000;

/** WebSocket close codes (also in docs/ROOMS.md). */
export const CloseCode = {
  Leave: 1000,
  Unauthorized: 4001,
  BadMessage: 4002,
  Replaced: 4003,
  RoomClosed: 4004,
  JoinTimeout: 4008,
  Shutdown: 1001,
} as const;

export interface SignalingOptions {
  rooms: RoomManager;
  agents: AgentManager;
  tokenSecret: string;
}

class Connection {
  peer: Peer | null = null;
  room: Room | null = null;
  closed = false;
  alive = true;
  private queue: Promise<void> = Promise.resolve();
  private readonly joinTimer: NodeJS.Timeout;

  constructor(
    readonly ws: WebSocket,
    private readonly server: SignalingServer,
  ) {
    this.joinTimer = setTimeout(() => {
      if (!this.peer) this.fail('Signaling.JoinTimeout', 'expected a Join request within 10 s', CloseCode.JoinTimeout);
    }, JOIN_TIMEOUT_MS);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('close', () => this.onClose());
    ws.on('error', (e) => log.debug('signaling socket error', { error: e }));
  }

  send(obj: Record<string, unknown>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeServerMessage(obj));
  }

  respond(id: number, body: Record<string, unknown>): void {
    this.send({ response: { id, ...body } });
  }

  /** Sends a closing notification and closes the socket. */
  fail(code: string, message: string, wsCode: number): void {
    if (this.closed) return;
    this.send({ notification: { closing: { code, message } } });
    this.shutdown(wsCode, code);
  }

  shutdown(wsCode: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.joinTimer);
    this.leaveRoom('closed');
    this.ws.close(wsCode, reason.slice(0, 120));
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) return this.fail('Signaling.BadMessage', 'signaling frames are binary protobuf Requests', CloseCode.BadMessage);
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const r = decodeRequest(buf);
    if (!r.ok) return this.fail(r.code, r.message, CloseCode.BadMessage);
    const req = r.req;
    this.queue = this.queue.then(() => this.run(req));
  }

  private async run(req: SignalingRequest): Promise<void> {
    if (this.closed) return;
    try {
      const body = await this.server.handle(this, req);
      this.respond(req.id, body);
    } catch (e) {
      const code = isVoxError(e) ? e.code : 'InternalError';
      const message = isVoxError(e) ? e.message : 'internal error; see the bridge log';
      if (!isVoxError(e)) log.error('signaling request failed', { request: req.body, error: e, stack: (e as Error)?.stack });
      this.respond(req.id, { error: { code, message } });
      if (req.body === 'join' || code.startsWith('Unauthorized')) this.shutdown(CloseCode.Unauthorized, code);
      else if (code === 'Signaling.NotJoined') this.shutdown(CloseCode.BadMessage, code);
    }
  }

  joined(peer: Peer, room: Room): void {
    clearTimeout(this.joinTimer);
    this.peer = peer;
    this.room = room;
  }

  leaveRoom(reason: string): void {
    const { peer, room } = this;
    this.peer = null;
    this.room = null;
    if (peer && room) room.removePeer(peer, reason);
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.joinTimer);
    this.leaveRoom('disconnected');
    this.server.forget(this);
  }
}

export class SignalingServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });
  private readonly conns = new Set<Connection>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly opts: SignalingOptions) {
    this.wss.on('connection', (ws) => this.conns.add(new Connection(ws, this)));
    this.heartbeat = setInterval(() => {
      for (const c of this.conns) {
        if (!c.alive) {
          c.ws.terminate();
          continue;
        }
        c.alive = false;
        c.ws.ping();
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  forget(c: Connection): void {
    this.conns.delete(c);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Runs one request; returns the Response body (its oneof case) or throws a VoxError. */
  async handle(c: Connection, req: SignalingRequest): Promise<Record<string, unknown>> {
    const m = req[req.body] as Record<string, any>;
    if (req.body === 'ping') return { pong: { serverTimeMs: Date.now() } };
    if (req.body === 'join') {
      if (c.peer) throw new InvalidStateError('Signaling.AlreadyJoined', 'this connection has joined already');
      return this.join(c, m);
    }
    const peer = c.peer;
    const room = c.room;
    if (!peer || !room) throw new InvalidStateError('Signaling.NotJoined', `${req.body} before Join`);
    switch (req.body) {
      case 'getRouterRtpCapabilities':
        return { routerRtpCapabilities: { rtpCapabilitiesJson: JSON.stringify(room.router.rtpCapabilities) } };
      case 'setRtpCapabilities': {
        const rtp = parseJsonField(m.rtpCapabilitiesJson, 'rtp_capabilities_json') as types.RtpCapabilities;
        const sctp = parseJsonField(m.sctpCapabilitiesJson, 'sctp_capabilities_json', false) as types.SctpCapabilities | undefined;
        room.setCapabilities(peer, rtp, sctp);
        return { ok: {} };
      }
      case 'createWebrtcTransport': {
        const sctp = parseJsonField(m.sctpCapabilitiesJson, 'sctp_capabilities_json', false) as types.SctpCapabilities | undefined;
        const t = await room.createWebRtcTransport(peer, direction(m.direction), sctp);
        return {
          transportCreated: {
            transportId: t.id,
            iceParametersJson: JSON.stringify(t.iceParameters),
            iceCandidatesJson: JSON.stringify(t.iceCandidates),
            dtlsParametersJson: JSON.stringify(t.dtlsParameters),
            sctpParametersJson: t.sctpParameters ? JSON.stringify(t.sctpParameters) : '',
          },
        };
      }
      case 'connectTransport':
        await room.connectWebRtcTransport(peer, str(m.transportId, 'transport_id'), parseJsonField(m.dtlsParametersJson, 'dtls_parameters_json'));
        return { ok: {} };
      case 'createPlainTransport': {
        const t = await room.createPlainTransport(peer, direction(m.direction), m.rtcpMux !== false, !!m.comedia);
        return { plainTransportCreated: { transportId: t.id, ip: t.tuple.localIp, port: t.tuple.localPort, rtcpPort: t.rtcpTuple?.localPort ?? 0 } };
      }
      case 'connectPlainTransport':
        await room.connectPlainTransport(peer, str(m.transportId, 'transport_id'), str(m.ip, 'ip'), Number(m.port));
        return { ok: {} };
      case 'restartIce': {
        const ice = await room.restartIce(peer, str(m.transportId, 'transport_id'));
        return { iceRestarted: { iceParametersJson: JSON.stringify(ice) } };
      }
      case 'produce': {
        const appData = (parseJsonField(m.appDataJson, 'app_data_json', false) ?? {}) as Record<string, unknown>;
        const p = await room.produce(peer, str(m.transportId, 'transport_id'), String(m.kind), parseJsonField(m.rtpParametersJson, 'rtp_parameters_json'), appData);
        return { produced: { producerId: p.id } };
      }
      case 'produceData': {
        const dp = await room.produceData(peer, str(m.transportId, 'transport_id'), parseJsonField(m.sctpStreamParametersJson, 'sctp_stream_parameters_json'), String(m.label ?? ''), String(m.protocol ?? ''));
        return { dataProduced: { dataProducerId: dp.id } };
      }
      case 'resumeConsumer':
        await room.resumeConsumer(peer, str(m.consumerId, 'consumer_id'));
        return { ok: {} };
      case 'dataConsumerReady':
        room.dataConsumerReady(peer, str(m.dataConsumerId, 'data_consumer_id'));
        return { ok: {} };
      case 'closeProducer':
        room.closeProducer(peer, str(m.producerId, 'producer_id'));
        return { ok: {} };
      case 'leave':
        setImmediate(() => c.shutdown(CloseCode.Leave, 'leave'));
        c.leaveRoom('leave');
        return { ok: {} };
      default:
        throw new InvalidParameterError('Signaling.UnknownRequest', `unknown request ${req.body}`);
    }
  }

  private async join(c: Connection, m: Record<string, any>): Promise<Record<string, unknown>> {
    const roomId = m.roomId;
    if (typeof roomId !== 'string' || !roomId || roomId.length > 128 || !ID_PATTERN.test(roomId)) {
      throw new InvalidParameterError('InvalidParameter.RoomId', 'room_id must be 1-128 characters of A-Z a-z 0-9 _ . @ : -');
    }
    const claims = verifyToken(this.opts.tokenSecret, m.token, roomId);
    if (claims.role !== 'user' && claims.role !== 'human-agent') throw new InvalidParameterError('Unauthorized.Role', `a ${claims.role} token cannot join a room`, 403);
    if (typeof claims.uid !== 'string' || !ID_PATTERN.test(claims.uid)) throw new InvalidParameterError('Unauthorized.Token', 'token has no valid user id', 401);
    let agentId: string | undefined;
    if (claims.role === 'human-agent') {
      const s = claims.agent ? this.opts.agents.get(claims.agent) : undefined;
      if (!s || s.config.roomId !== roomId) throw new InvalidParameterError('Unauthorized.Agent', 'the token names no agent of this room', 403);
      if (!s.isTakenOver || s.describe().TakenOverBy !== claims.uid) {
        throw new InvalidParameterError('Unauthorized.NotTakenOver', 'this agent has not been taken over by this user (TakeoverAIAgentCall)', 403);
      }
      agentId = s.id;
    }
    const room = await this.opts.rooms.get(roomId);
    if (c.closed) throw new InvalidStateError('Signaling.Closed', 'the connection closed during Join');
    const sessionId = crypto.randomUUID();
    const peer = new Peer(sessionId, claims.uid, claims.role as PeerRole, agentId, {
      notify: (body) => c.send({ notification: body }),
      close: (code, message, wsCode) => c.fail(code, message, wsCode),
    });
    const old = room.addPeer(peer);
    if (old) old.link.close('Signaling.Replaced', 'the same user joined again on another connection', CloseCode.Replaced);
    c.joined(peer, room);
    return {
      joined: {
        roomId,
        userId: peer.uid,
        role: roleNumber(peer.role),
        sessionId,
        peers: [...room.peers.values()].filter((p) => p !== peer).map((p) => ({ userId: p.uid, role: roleNumber(p.role) })),
        agents: [...room.agents.values()].map((a) => a.info()),
      },
    };
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.conns) c.fail('Signaling.Shutdown', 'the bridge is shutting down', CloseCode.Shutdown);
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || !v) throw new InvalidParameterError('Signaling.MissingField', `${field} is required`);
  return v;
}

function direction(v: unknown): TransportDirection {
  if (v === Direction.SEND) return 'send';
  if (v === Direction.RECV) return 'recv';
  throw new InvalidParameterError('Signaling.Direction', 'direction must be DIRECTION_SEND or DIRECTION_RECV');
}
