/**
 * WebSocket media streams (`/ws/media`), the shape SIP gateways use to hand call
 * audio to a bot (FreeSWITCH audio-stream modules, jambonz `listen`, Twilio
 * Media Streams). Protocol (docs/TELEPHONY.md):
 *
 *   client → bridge  {"event":"start","callId","mediaFormat":{"encoding":"L16"|"PCMU"|"PCMA","sampleRate":8000|16000},
 *                     one of "agentInstanceId" | "agentConfig" (StartVoiceChat body) | "agent" (stored name),
 *                     "apiKey" (or the Authorization / X-Api-Key header of the upgrade) | "token" + "role":"human-agent"}
 *                    binary audio frames in that format (L16 little-endian); binary `ctrl` TLV frames;
 *                    {"event":"mark","name"} (a bridge mark played out), {"event":"hangup"} / {"event":"stop"}
 *   bridge → client  {"event":"started",...}; binary agent audio, one 20 ms frame per 20 ms of the
 *                    agent's real-time clock (never ahead; written by the addon's pacer thread
 *                    when it is built, src/transports/pacedStream.ts); {"event":"mark","name":"agent-<frames>"}
 *                    every 10 frames and at each talk-spurt start; {"event":"clear"} on barge-in;
 *                    {"event":"message","data":{subtitles / takeover / ...}}; {"event":"error","code","message"};
 *                    {"event":"hangup","reason"} then close 1000.
 *
 * A start message that cannot be honoured closes the socket with 4000 + the
 * HTTP status of the error (4400 bad field, 4401 bad key, 4404 unknown agent,
 * 4409 agent ended, 4429 session limit) after an error event naming the code.
 *
 * A human agent (after TakeoverAIAgentCall) joins with role human-agent and its
 * join token: it hears the user, and the user hears it.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createLogger } from '../log';
import { nowMs } from '../clock';
import { verifyToken } from '../auth/tokens';
import { decodeCtrlMessage } from '../control/ctrlFrame';
import { CORE_RATE, type AgentOutput, type AgentSession } from '../agent/session';
import type { AgentManager } from '../agent/agentManager';
import type { VadStream } from '../native/vadTypes';
import { InvalidParameterError, isVoxError } from '../errors';
import { LegCodec, legFormat, type LegFormat } from './legCodec';
import { startLegAgent } from './legAgent';
import { PacingStats } from './pacing';
import { OP_BINARY, OP_PONG, OP_TEXT, PacedStreamOut, pacedOutput } from './pacedStream';
import { StreamArrival } from './streamArrival';

const log = createLogger('mediaStream');
export const MEDIA_STREAM_PATH = '/ws/media';
/** A mark every this many agent frames (200 ms) tells the bridge what the gateway has played. */
export const MARK_EVERY_FRAMES = 10;
const MARK_PREFIX = 'agent-';

export interface MediaStreamOptions {
  agents: AgentManager;
  apiKey: string;
  tokenSecret: string;
  createVad(opts: { sampleRate: number; frameMs: number; interruptMs: number }): VadStream;
  /** Stored agent configs for legs that name one (`"agent"`) or none. */
  storedAgents?: Record<string, Record<string, unknown>>;
  /**
   * BridgeConfig.agentAudioLeadMs: the agent's frames are handed to the native pacer
   * this far ahead and written from its thread (0, or no addon: written at the tick).
   */
  agentAudioLeadMs?: number;
}

/** Starts with the `ctrl` magic: a control frame (malformed ones are answered with an error). */
function isCtrlFrame(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x63 && b[1] === 0x74 && b[2] === 0x72 && b[3] === 0x6c;
}

interface Legs {
  user?: Leg;
  human?: Leg;
}

/** What one leg has sent and what the gateway reported as played (marks). */
export interface MediaLegStats {
  framesSent: number;
  framesPlayed: number;
  clears: number;
  /** Frame spacing as the frames left: the pacer's send times when paced, else the tick's. */
  pacing: ReturnType<PacingStats['summary']>;
  /** The native pacer writes this leg's connection. */
  paced: boolean;
  /** Frames not queued because the pacer's queue was full (a peer that stopped reading). */
  dropped: number;
}

class Leg {
  codec!: LegCodec;
  session!: AgentSession;
  role: 'user' | 'human-agent' = 'user';
  uid = '';
  callId = '';
  output?: AgentOutput;
  /** This leg started the agent: closing the leg ends it. */
  ownsAgent = false;
  hungUp = false;
  framesSent = 0;
  framesPlayed = 0;
  clears = 0;
  readonly pacing = new PacingStats();
  /** Removes this leg's listeners from the session when it closes. */
  detach?: () => void;

  /** The native pacer writes this connection (every frame the bridge sends on it), when set. */
  paced: PacedStreamOut | null = null;
  /** Dates the user's audio by its arrival at the socket (the read time when null). */
  arrival: StreamArrival | null = null;
  private closing = false;

  constructor(
    readonly ws: WebSocket,
    readonly headerKey: string | undefined,
  ) {}

  json(msg: Record<string, unknown>): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.paced) this.paced.sendWs(OP_TEXT, Buffer.from(JSON.stringify(msg)));
    else this.ws.send(JSON.stringify(msg));
  }

  pong(data: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.paced) this.paced.sendWs(OP_PONG, data);
    else this.ws.pong(data);
  }

  /**
   * Closes the connection. With a pacer, what it has queued (the hang-up event, the
   * last frames) leaves first; a frame it could not finish means a destroy, not a close.
   */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    const p = this.paced;
    if (!p) return this.ws.close(code, reason);
    void p.drainAndClose().then((clean) => {
      this.paced = null;
      if (clean) this.ws.close(code, reason);
      else this.ws.terminate();
    });
  }

  /** The socket closed: the pacer stops writing to it. */
  closed(): void {
    this.paced?.close();
    this.paced = null;
  }

  error(code: string, message: string): void {
    this.json({ event: 'error', code, message });
  }

  /**
   * One 20 ms frame of 16 kHz audio to the gateway: at once, or with a pacer and a
   * frame time, at `frameTimeMs` + its lead (the send record tagged `frameId`).
   */
  audio(pcm16k: Int16Array, talkSpurtStart = false, frameTimeMs?: number, frameId = 0): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (talkSpurtStart) this.mark();
    const b = this.codec.encodeFrame(pcm16k);
    if (b) {
      if (this.paced) this.paced.sendWs(OP_BINARY, b, frameTimeMs === undefined ? 0 : frameTimeMs + this.paced.leadMs, frameId);
      else this.ws.send(b);
    }
    this.framesSent++;
    if (!this.paced) this.pacing.note(nowMs());
    if (this.framesSent % MARK_EVERY_FRAMES === 0) this.mark();
  }

  private mark(): void {
    this.json({ event: 'mark', name: `${MARK_PREFIX}${this.framesSent}` });
  }

  stats(): MediaLegStats {
    return { framesSent: this.framesSent, framesPlayed: this.framesPlayed, clears: this.clears, pacing: this.pacing.summary(), paced: this.paced !== null, dropped: this.paced?.dropped ?? 0 };
  }
}

export class MediaStreamServer {
  // pongs are written by the leg: with a pacer, nothing else may write to the socket
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, autoPong: false });
  private readonly legs = new Map<string, Legs>();

  constructor(private readonly opts: MediaStreamOptions) {
    this.wss.on('connection', (ws, req: http.IncomingMessage, socket?: Duplex) => this.onConnection(ws, req, socket));
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req, socket));
  }

  /** Stats of the user leg of an agent (tests, DescribeVoiceChat-style diagnostics). */
  legStats(agentInstanceId: string): MediaLegStats | null {
    return this.legs.get(agentInstanceId)?.user?.stats() ?? null;
  }

  private onConnection(ws: WebSocket, req: http.IncomingMessage, socket?: Duplex): void {
    const auth = req.headers.authorization;
    const headerKey = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : (req.headers['x-api-key'] as string | undefined);
    const leg = new Leg(ws, headerKey);
    const lead = this.opts.agentAudioLeadMs ?? 0;
    if (socket && lead > 0) leg.paced = PacedStreamOut.create(socket as Socket, lead);
    if (socket) leg.arrival = StreamArrival.attach(socket as Socket);
    ws.on('ping', (data: Buffer) => leg.pong(data));
    let started = false;
    const startTimer = setTimeout(() => {
      if (!started) {
        leg.error('MEDIA_NO_START', 'expected a start message within 10 s');
        leg.close(4408, 'no start');
      }
    }, 10_000);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const arrival = leg.arrival ? leg.arrival.arrival() : nowMs();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      try {
        if (!isBinary) {
          let msg: Record<string, unknown>;
          try {
            const v: unknown = JSON.parse(buf.toString('utf8'));
            if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
            msg = v as Record<string, unknown>;
          } catch {
            leg.error('MEDIA_BAD_JSON', 'text messages must be JSON objects');
            return;
          }
          if (!started) {
            if (msg.event !== 'start') {
              leg.error('MEDIA_NO_START', 'the first message must be {"event":"start",...}');
              leg.close(4400, 'no start');
              return;
            }
            started = true;
            clearTimeout(startTimer);
            this.start(leg, msg);
            return;
          }
          this.onEvent(leg, msg);
          return;
        }
        if (!started || !leg.session) {
          leg.error('MEDIA_NO_START', 'audio before the start message');
          return;
        }
        if (isCtrlFrame(buf)) {
          this.onCtrl(leg, buf);
          return;
        }
        this.onAudio(leg, buf, arrival);
      } catch (e) {
        if (isVoxError(e)) {
          leg.error(e.code, e.message);
          if (!leg.session) {
            const status = 'httpStatus' in e ? e.httpStatus : 400;
            log.info('media stream refused', { code: e.code, callId: leg.callId });
            leg.close(4000 + status, e.code.slice(0, 100));
          }
        } else {
          log.error('media stream failure', { error: e });
          leg.error('InternalError', 'internal error');
        }
      }
    });
    ws.on('close', () => {
      clearTimeout(startTimer);
      leg.closed();
      this.onClose(leg);
    });
    ws.on('error', (e) => log.warn('media socket error', { error: e }));
  }

  private start(leg: Leg, msg: Record<string, unknown>): void {
    const fmt = (msg.mediaFormat ?? {}) as Record<string, unknown>;
    if (typeof fmt !== 'object') throw new InvalidParameterError('InvalidParameter.MediaFormat', 'mediaFormat must be an object');
    const format: LegFormat = legFormat(fmt.encoding, fmt.sampleRate);
    const callId = typeof msg.callId === 'string' && msg.callId ? msg.callId.slice(0, 200) : `ws-${Date.now().toString(36)}`;
    leg.callId = callId;
    const role = msg.role === 'human-agent' ? 'human-agent' : 'user';
    let session: AgentSession;
    if (role === 'human-agent') {
      session = this.opts.agents.find({ AgentInstanceId: msg.agentInstanceId });
      const claims = verifyToken(this.opts.tokenSecret, msg.token, session.config.roomId);
      if (claims.role !== 'human-agent' || claims.agent !== session.id) throw new InvalidParameterError('Unauthorized.Token', 'token is not a takeover token for this agent', 403);
      leg.uid = claims.uid;
    } else {
      const key = msg.apiKey ?? leg.headerKey;
      if (key !== this.opts.apiKey) throw new InvalidParameterError('Unauthorized.ApiKey', 'wrong or missing apiKey', 401);
      const a = startLegAgent(this.opts.agents, this.opts.storedAgents ?? {}, {
        callId,
        agentInstanceId: msg.agentInstanceId,
        agentConfig: msg.agentConfig,
        agent: msg.agent,
        transport: 'ws',
      });
      session = a.session;
      leg.ownsAgent = a.started;
    }
    leg.role = role;
    leg.session = session;
    leg.codec = new LegCodec(format);
    const legs = this.legs.get(session.id) ?? {};
    this.legs.set(session.id, legs);
    const mediaFormat = { encoding: format.encoding, sampleRate: format.sampleRate };
    if (role === 'user') {
      legs.user?.error('MEDIA_REPLACED', 'another user leg attached to this agent');
      legs.user = leg;
      const paced = leg.paced;
      leg.output = {
        sendAudio: (frame, talkSpurtStart, frameTimeMs, frameId) => leg.audio(frame, talkSpurtStart, frameTimeMs, frameId),
        paced: paced ? pacedOutput(paced, leg.pacing) : undefined,
        sendMessage: (m) => leg.json({ event: 'message', data: m }),
        clear: () => {
          leg.clears++;
          // frames handed in ahead never leave; the gateway drops what it buffered
          paced?.flush();
          leg.codec.resetOutput();
          leg.json({ event: 'clear' });
        },
        end: (reason) => {
          if (leg.hungUp) return;
          leg.hungUp = true;
          leg.json({ event: 'hangup', reason });
          setTimeout(() => leg.close(1000, 'hangup'), 50).unref();
        },
      };
      leg.json({ event: 'started', callId, agentInstanceId: session.id, mediaFormat });
      log.info('media stream started', { callId, agent: session.id, ...mediaFormat, startedAgent: leg.ownsAgent });
      session.attach(leg.output);
    } else {
      legs.human = leg;
      leg.json({ event: 'started', callId, agentInstanceId: session.id, mediaFormat, role });
      const relay = (m: Record<string, unknown>): void => leg.json({ event: 'message', data: m });
      session.on('message', relay);
      leg.detach = () => session.off('message', relay);
      for (const h of session.history.all()) leg.json({ event: 'message', data: { type: h.role === 'user' ? 1003 : 1002, data: { text: h.content, sentenceId: 0, end: true, history: true } } });
      session.humanConnected(leg.uid, this.opts.createVad({ sampleRate: CORE_RATE, frameMs: 20, interruptMs: 0 }));
    }
  }

  private onEvent(leg: Leg, msg: Record<string, unknown>): void {
    switch (msg.event) {
      case 'mark': {
        const name = typeof msg.name === 'string' ? msg.name : '';
        if (name.startsWith(MARK_PREFIX)) {
          const n = Number(name.slice(MARK_PREFIX.length));
          if (Number.isInteger(n) && n <= leg.framesSent && n > leg.framesPlayed) leg.framesPlayed = n;
        }
        return;
      }
      case 'hangup':
      case 'stop':
        if (leg.role === 'user') {
          leg.hungUp = true;
          if (!leg.session.ended) leg.session.end('userHangup', 'The caller hung up.');
        }
        leg.close(1000, 'bye');
        return;
      case 'dtmf': {
        const digit = typeof msg.digit === 'string' ? msg.digit.slice(0, 1) : '';
        if (/^[0-9*#A-D]$/.test(digit)) leg.session.emit('dtmf', { digit, source: 'ws' });
        return;
      }
      default:
        leg.error('MEDIA_UNKNOWN_EVENT', `unknown event ${JSON.stringify(msg.event)?.slice(0, 64)}`);
    }
  }

  private onCtrl(leg: Leg, buf: Buffer): void {
    const r = decodeCtrlMessage(buf);
    for (const c of r.commands) if (c.Command === 'interrupt' && !leg.session.ended) leg.session.interrupt('ctrl');
    if (r.error) leg.error(r.error.code, r.error.message);
  }

  private onAudio(leg: Leg, buf: Buffer, arrival: number): void {
    const pcm = leg.codec.decode(buf);
    const legs = this.legs.get(leg.session.id);
    if (leg.role === 'user') {
      leg.session.pushUserAudio(pcm, arrival);
      legs?.human?.audio(pcm);
    } else {
      leg.session.pushHumanAudio(pcm, arrival);
      legs?.user?.audio(pcm);
    }
  }

  private onClose(leg: Leg): void {
    if (!leg.session) return;
    leg.detach?.();
    const legs = this.legs.get(leg.session.id);
    if (leg.role === 'user' && leg.output) {
      leg.session.detach(leg.output);
      if (legs?.user === leg) delete legs.user;
      // The gateway dropped the call without a hangup event: a leg that started its agent ends it.
      if (leg.ownsAgent && !leg.hungUp && !leg.session.ended) leg.session.end('userHangup', 'The call was disconnected.');
    } else if (legs?.human === leg) delete legs.human;
    if (legs && !legs.user && !legs.human) this.legs.delete(leg.session.id);
  }

  close(): void {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }
}
