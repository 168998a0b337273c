/**
 * WebSocket media streams (`/ws/media`), the shape SIP gateways use to hand call
 * audio to a bot (FreeSWITCH audio-stream modules, jambonz `listen`, Twilio
 * Media Streams):
 *
 *   client → bridge  {"event":"start","agentInstanceId","role":"user"|"human-agent",
 *                     "apiKey"|"token","mediaFormat":{"encoding":"L16"|"PCMU"|"PCMA","sampleRate":8000|16000}}
 *                    binary audio frames in that format; binary `ctrl` TLV frames;
 *                    {"event":"mark","name"}, {"event":"hangup"}
 *   bridge → client  {"event":"started",...}, binary agent audio paced at 20 ms,
 *                    {"event":"clear"} on barge-in, {"event":"mark","name"} echoes,
 *                    {"event":"message","data":{subtitles / takeover / ...}},
 *                    {"event":"error","code","message"}, {"event":"hangup","reason"}
 *
 * A human agent (after TakeoverAIAgentCall) joins with role human-agent and its
 * join token: it hears the user, and the user hears it.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createLogger } from '../log';
import { nowMs } from '../clock';
import { verifyToken } from '../auth/tokens';
import { decodeCtrlMessage } from '../control/ctrlFrame';
import { decodeG711, encodeG711, type G711Law } from '../media/g711';
import { StreamResampler } from '../providers/resample';
import { CORE_RATE, type AgentOutput, type AgentSession } from '../agent/session';
import type { AgentManager } from '../agent/agentManager';
import type { VadStream } from '../native/vadTypes';
import { InvalidParameterError, isVoxError } from '../errors';

const log = createLogger('mediaStream');
export const MEDIA_STREAM_PATH = '/ws/media';

type Encoding = 'L16' | 'PCMU' | 'PCMA';

interface MediaFormat {
  encoding: Encoding;
  sampleRate: number;
}

export interface MediaStreamOptions {
  agents: AgentManager;
  apiKey: string;
  tokenSecret: string;
  createVad(opts: { sampleRate: number; frameMs: number; interruptMs: number }): VadStream;
}

/** Converts between the leg's wire format and the core's 16 kHz PCM. */
class Codec {
  private readonly up: StreamResampler | null;
  private readonly down: StreamResampler | null;

  constructor(readonly fmt: MediaFormat) {
    this.up = fmt.sampleRate === CORE_RATE ? null : new StreamResampler(fmt.sampleRate, CORE_RATE);
    this.down = fmt.sampleRate === CORE_RATE ? null : new StreamResampler(CORE_RATE, fmt.sampleRate);
  }

  decode(data: Buffer): Int16Array {
    let pcm: Int16Array;
    if (this.fmt.encoding === 'L16') {
      const n = data.length >> 1;
      pcm = new Int16Array(n);
      for (let i = 0; i < n; i++) pcm[i] = data.readInt16LE(2 * i);
    } else pcm = decodeG711(this.fmt.encoding, data);
    return this.up ? this.up.push(pcm) : pcm;
  }

  encode(pcm16k: Int16Array): Buffer {
    const pcm = this.down ? this.down.push(pcm16k) : pcm16k;
    if (this.fmt.encoding === 'L16') {
      const b = Buffer.allocUnsafe(pcm.length * 2);
      for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i], 2 * i);
      return b;
    }
    const b = Buffer.allocUnsafe(pcm.length);
    encodeG711(this.fmt.encoding as G711Law, pcm, b);
    return b;
  }
}

/** Looks like a `ctrl` TLV frame: the magic and a length that matches the message. */
function isCtrlFrame(b: Buffer): boolean {
  return b.length >= 8 && b[0] === 0x63 && b[1] === 0x74 && b[2] === 0x72 && b[3] === 0x6c && b.readUInt32BE(4) === b.length - 8;
}

interface Legs {
  user?: Leg;
  human?: Leg;
}

class Leg {
  codec!: Codec;
  session!: AgentSession;
  role: 'user' | 'human-agent' = 'user';
  uid = '';
  output?: AgentOutput;
  /** Removes this leg's listeners from the session when it closes. */
  detach?: () => void;

  constructor(readonly ws: WebSocket) {}

  json(msg: Record<string, unknown>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  error(code: string, message: string): void {
    this.json({ event: 'error', code, message });
  }

  audio(pcm16k: Int16Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const b = this.codec.encode(pcm16k);
    if (b.length) this.ws.send(b);
  }
}

export class MediaStreamServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly legs = new Map<string, Legs>();

  constructor(private readonly opts: MediaStreamOptions) {
    this.wss.on('connection', (ws) => this.onConnection(ws));
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private onConnection(ws: WebSocket): void {
    const leg = new Leg(ws);
    let started = false;
    const startTimer = setTimeout(() => {
      if (!started) {
        leg.error('MEDIA_NO_START', 'expected a start message within 10 s');
        ws.close(1008, 'no start');
      }
    }, 10_000);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const arrival = nowMs();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      try {
        if (!isBinary) {
          let msg: Record<string, unknown>;
          try {
            msg = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
          } catch {
            leg.error('MEDIA_BAD_JSON', 'text messages must be JSON objects');
            return;
          }
          if (!started) {
            if (msg.event !== 'start') {
              leg.error('MEDIA_NO_START', 'the first message must be {"event":"start",...}');
              ws.close(1008, 'no start');
              return;
            }
            this.start(leg, msg);
            started = true;
            clearTimeout(startTimer);
            return;
          }
          this.onEvent(leg, msg);
          return;
        }
        if (!started) {
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
          if (!started) ws.close(1008, e.code.slice(0, 100));
        } else {
          log.error('media stream failure', { error: e });
          leg.error('InternalError', 'internal error');
        }
      }
    });
    ws.on('close', () => {
      clearTimeout(startTimer);
      this.onClose(leg);
    });
    ws.on('error', (e) => log.warn('media socket error', { error: e }));
  }

  private start(leg: Leg, msg: Record<string, unknown>): void {
    const fmt = (msg.mediaFormat ?? {}) as Partial<MediaFormat>;
    const encoding = (fmt.encoding ?? 'L16') as Encoding;
    const sampleRate = fmt.sampleRate ?? (encoding === 'L16' ? 16000 : 8000);
    if (!['L16', 'PCMU', 'PCMA'].includes(encoding)) throw new InvalidParameterError('InvalidParameter.Encoding', `unsupported encoding ${encoding}; use L16, PCMU or PCMA`);
    if (![8000, 16000].includes(sampleRate)) throw new InvalidParameterError('InvalidParameter.SampleRate', 'sampleRate must be 8000 or 16000');
    const session = this.opts.agents.find({ AgentInstanceId: msg.agentInstanceId });
    const role = msg.role === 'human-agent' ? 'human-agent' : 'user';
    if (role === 'human-agent') {
      const claims = verifyToken(this.opts.tokenSecret, msg.token, session.config.roomId);
      if (claims.role !== 'human-agent' || claims.agent !== session.id) throw new InvalidParameterError('Unauthorized.Token', 'token is not a takeover token for this agent', 403);
      leg.uid = claims.uid;
    } else if (msg.apiKey !== this.opts.apiKey) {
      throw new InvalidParameterError('Unauthorized.ApiKey', 'wrong or missing apiKey', 401);
    }
    leg.role = role;
    leg.session = session;
    leg.codec = new Codec({ encoding, sampleRate });
    const legs = this.legs.get(session.id) ?? {};
    this.legs.set(session.id, legs);
    if (role === 'user') {
      legs.user = leg;
      leg.output = {
        sendAudio: (frame) => leg.audio(frame),
        sendMessage: (m) => leg.json({ event: 'message', data: m }),
        clear: () => leg.json({ event: 'clear' }),
        end: (reason) => {
          leg.json({ event: 'hangup', reason });
          setTimeout(() => leg.ws.close(1000, 'hangup'), 50).unref();
        },
      };
      leg.json({ event: 'started', agentInstanceId: session.id, mediaFormat: { encoding, sampleRate } });
      session.attach(leg.output);
    } else {
      legs.human = leg;
      leg.json({ event: 'started', agentInstanceId: session.id, mediaFormat: { encoding, sampleRate }, role });
      const relay = (m: Record<string, unknown>): void => leg.json({ event: 'message', data: m });
      session.on('message', relay);
      leg.detach = () => session.off('message', relay);
      for (const h of session.history.all()) leg.json({ event: 'message', data: { type: h.role === 'user' ? 1003 : 1002, data: { text: h.content, sentenceId: 0, end: true, history: true } } });
      session.humanConnected(leg.uid, this.opts.createVad({ sampleRate: CORE_RATE, frameMs: 20, interruptMs: 0 }));
    }
  }

  private onEvent(leg: Leg, msg: Record<string, unknown>): void {
    switch (msg.event) {
      case 'mark':
        leg.json({ event: 'mark', name: msg.name ?? null });
        return;
      case 'hangup':
      case 'stop':
        if (leg.role === 'user') leg.session.end('userHangup', 'The caller hung up.');
        leg.ws.close(1000, 'bye');
        return;
      default:
        leg.error('MEDIA_UNKNOWN_EVENT', `unknown event ${JSON.stringify(msg.event)}`);
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
    } else if (legs?.human === leg) delete legs.human;
    if (legs && !legs.user && !legs.human) this.legs.delete(leg.session.id);
  }

  close(): void {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }
}
