/**
 * A TCP audio socket in the style of Asterisk's AudioSocket: every message is a
 * TLV frame (kind u8, length u16 big-endian, payload):
 *
 *   0x01 call id  16 bytes, a UUID (first frame; it names the call)
 *   0x10 audio    signed linear 16-bit little-endian, 8 kHz mono (20 ms = 320 bytes)
 *   0x00 hangup   either side; the peer closes
 *   0xff error    either side; our payload is the error code in ASCII
 *
 * Bytes are reassembled by the native TLV codec's streaming decoder
 * (src/native/tlvStream.ts, TlvFormat.AudioSocket), so frames split across
 * reads are handled without copying whole ones. Per connection a small state
 * machine: AWAIT_ID → IN_CALL → CLOSING. Any malformed frame (unknown kind,
 * oversize, bad call id, audio before the id, odd audio length, truncated at
 * close) is answered with one 0xff error frame and a clean close (FIN), and never
 * touches another call.
 *
 * The call id picks the agent: if it is the UUID of a running agent
 * (AgentInstanceId `agent-<uuid>`), the call joins that agent; otherwise the
 * stored agent `audioSocket.agent` is started for the call. The agent's voice
 * goes back as 0x10 frames, one per 20 ms tick of the agent's clock.
 */
import net from 'node:net';
import { createLogger } from '../log';
import { nowMs } from '../clock';
import { TlvStreamDecoder } from '../native/tlvStream';
import { AudioSocketKind, AUDIOSOCKET_HEADER, TlvFormat, TlvStatus } from '../native/tlvCodes';
import type { AgentManager } from '../agent/agentManager';
import type { AgentOutput, AgentSession } from '../agent/session';
import { isVoxError } from '../errors';
import { LegCodec } from './legCodec';
import { startLegAgent } from './legAgent';
import { PacingStats } from './pacing';
import { PacedStreamOut, pacedOutput } from './pacedStream';
import { StreamArrival } from './streamArrival';

const log = createLogger('audioSocket');

/** Largest frame we accept: 1 s of 8 kHz audio (Asterisk sends 320-byte frames). */
export const AUDIOSOCKET_MAX_PAYLOAD = 16000;
export const AUDIOSOCKET_ID_TIMEOUT_MS = 5000;

export interface AudioSocketOptions {
  agents: AgentManager;
  storedAgents: Record<string, Record<string, unknown>>;
  agent: string;
  host: string;
  port: number;
  /** BridgeConfig.agentAudioLeadMs: the agent's frames are written by the native pacer this far ahead (0: at the tick). */
  agentAudioLeadMs?: number;
}

const enum State {
  AwaitId,
  InCall,
  Closing,
}

export function formatUuid(b: Uint8Array): string {
  const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

class AudioSocketCall {
  private state = State.AwaitId;
  private readonly decoder = new TlvStreamDecoder(TlvFormat.AudioSocket, { maxPayload: AUDIOSOCKET_MAX_PAYLOAD });
  private readonly codec = new LegCodec({ encoding: 'L16', sampleRate: 8000 });
  private session: AgentSession | null = null;
  private output: AgentOutput | null = null;
  private ownsAgent = false;
  private readonly idTimer: NodeJS.Timeout;
  callId = '';
  readonly pacing = new PacingStats();
  framesSent = 0;
  /** The native pacer writes this connection (every frame the bridge sends on it), when set. */
  private paced: PacedStreamOut | null = null;
  /** Dates the caller's audio by its arrival at the socket (the read time when null). */
  private readonly arrival: StreamArrival | null;

  constructor(
    private readonly sock: net.Socket,
    private readonly opts: AudioSocketOptions,
    private readonly onDone: (c: AudioSocketCall) => void,
  ) {
    sock.setNoDelay(true);
    if ((opts.agentAudioLeadMs ?? 0) > 0) this.paced = PacedStreamOut.create(sock, opts.agentAudioLeadMs!);
    this.idTimer = setTimeout(() => this.fail('AUDIOSOCKET_NO_ID', 'no call id frame within 5 s'), AUDIOSOCKET_ID_TIMEOUT_MS);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    // (after the listener above: it dates each read from the kernel's arrival time)
    this.arrival = StreamArrival.attach(sock);
    sock.on('end', () => {
      if (this.state !== State.Closing && this.decoder.end() !== TlvStatus.Ok) this.fail('TLV_TRUNCATED', 'the stream ended inside a frame');
      else this.finish('userHangup', 'The caller hung up.');
    });
    sock.on('error', (e) => {
      log.debug('audio socket error', { callId: this.callId, error: e });
      this.finish('userHangup', 'The call was disconnected.');
    });
    sock.on('close', () => {
      this.paced?.close();
      this.paced = null;
      this.finish('userHangup', 'The call was disconnected.');
    });
  }

  private onData(chunk: Buffer): void {
    if (this.state === State.Closing) return;
    const arrival = this.arrival ? this.arrival.arrival() : nowMs();
    const status = this.decoder.push(chunk, (kind, buf, off, len) => this.onFrame(kind, buf, off, len, arrival));
    // (onFrame may have moved the call to CLOSING meanwhile.)
    if (status < 0 && (this.state as State) !== State.Closing) {
      const err = this.decoder.error!;
      this.fail(err.code, `malformed frame at byte ${err.streamOffset}`);
    }
  }

  private onFrame(kind: number, buf: Uint8Array, off: number, len: number, arrival: number): void {
    if (this.state === State.Closing) return;
    switch (kind) {
      case AudioSocketKind.Id:
        if (this.state !== State.AwaitId) return this.fail('AUDIOSOCKET_DUPLICATE_ID', 'a second call id frame');
        if (len !== 16) return this.fail('AUDIOSOCKET_BAD_ID', `call id must be 16 bytes (got ${len})`);
        this.startCall(formatUuid(buf.subarray(off, off + 16)));
        return;
      case AudioSocketKind.Audio:
        if (this.state !== State.InCall || !this.session) return this.fail('AUDIOSOCKET_NO_ID', 'audio before the call id frame');
        if (len & 1) return this.fail('AUDIOSOCKET_BAD_AUDIO', `audio payload must be whole 16-bit samples (got ${len} bytes)`);
        if (len) this.session.pushUserAudio(this.codec.decode(buf.subarray(off, off + len)), arrival);
        return;
      case AudioSocketKind.Hangup:
        log.info('audio socket hangup from peer', { callId: this.callId });
        this.close();
        this.finish('userHangup', 'The caller hung up.');
        return;
      case AudioSocketKind.Error:
        log.warn('audio socket error frame from peer', { callId: this.callId, payload: Buffer.from(buf.subarray(off, off + Math.min(len, 64))).toString('latin1') });
        this.close();
        this.finish('userHangup', 'The gateway reported an error.');
        return;
    }
  }

  private startCall(uuid: string): void {
    clearTimeout(this.idTimer);
    this.callId = uuid;
    try {
      const existing = this.opts.agents.get(`agent-${uuid}`);
      const a = startLegAgent(this.opts.agents, this.opts.storedAgents, {
        callId: uuid,
        agentInstanceId: existing && !existing.ended ? existing.id : undefined,
        agent: this.opts.agent,
        transport: 'audiosocket',
      });
      this.session = a.session;
      this.ownsAgent = a.started;
    } catch (e) {
      const code = isVoxError(e) ? e.code : 'InternalError';
      if (!isVoxError(e)) log.error('audio socket call failed', { error: e });
      return this.fail(code, (e as Error).message);
    }
    this.state = State.InCall;
    const paced = this.paced;
    this.output = {
      sendAudio: (frame, _start, frameTimeMs, frameId) => this.sendAudio(frame, frameTimeMs, frameId),
      paced: paced ? pacedOutput(paced, this.pacing) : undefined,
      sendMessage: () => {},
      // Nothing to tell the peer (AudioSocket has no clear), but our own buffers (and the
      // pacer's queue) must drop the old speech.
      clear: () => {
        paced?.flush();
        this.codec.resetOutput();
      },
      end: () => {
        // The agent hung up (after its closing words): hang-up frame, then FIN.
        this.writeFrame(AudioSocketKind.Hangup, Buffer.alloc(0));
        this.close();
      },
    };
    log.info('audio socket call', { callId: uuid, agent: this.session.id, startedAgent: this.ownsAgent });
    this.session.attach(this.output);
  }

  private sendAudio(frame: Int16Array, frameTimeMs?: number, frameId = 0): void {
    if (this.state !== State.InCall) return;
    const b = this.codec.encodeFrame(frame);
    if (!b) return;
    this.writeFrame(AudioSocketKind.Audio, b, frameTimeMs, frameId);
    this.framesSent++;
    if (!this.paced) this.pacing.note(nowMs());
  }

  /**
   * One TLV frame: with a pacer, queued (a timed audio frame at its frame time + lead,
   * anything else after what is queued); else header and payload written separately
   * (no concatenation per frame).
   */
  private writeFrame(kind: number, payload: Uint8Array, frameTimeMs?: number, frameId = 0): void {
    if (this.sock.destroyed || !this.sock.writable) return;
    const h = Buffer.allocUnsafe(AUDIOSOCKET_HEADER);
    h[0] = kind;
    h.writeUInt16BE(payload.length, 1);
    if (this.paced) {
      this.paced.send(h, payload, frameTimeMs === undefined ? 0 : frameTimeMs + this.paced.leadMs, frameId);
      return;
    }
    this.sock.cork();
    this.sock.write(h);
    if (payload.length) this.sock.write(payload);
    process.nextTick(() => this.sock.uncork());
  }

  private fail(code: string, message: string): void {
    if (this.state === State.Closing) return;
    log.info('audio socket protocol error', { callId: this.callId || null, code, message });
    this.writeFrame(AudioSocketKind.Error, Buffer.from(code, 'ascii'));
    this.close();
    this.finish('error', `AudioSocket error ${code}`);
  }

  private close(): void {
    this.state = State.Closing;
    clearTimeout(this.idTimer);
    const p = this.paced;
    if (p) {
      // what the pacer holds (the hang-up or error frame) leaves first; a frame it
      // could not finish means a reset, not a FIN after half a frame
      this.paced = null;
      void p.drainAndClose().then((clean) => {
        if (!clean) this.sock.destroy();
        else if (!this.sock.destroyed) this.sock.end();
      });
    } else if (!this.sock.destroyed) this.sock.end();
    // A peer that never closes its side does not keep the socket.
    setTimeout(() => this.sock.destroy(), 2000).unref();
  }

  private finished = false;
  finish(reason: string, message: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.idTimer);
    this.state = State.Closing;
    const s = this.session;
    if (s && this.output) {
      s.detach(this.output);
      if (this.ownsAgent && !s.ended) s.end(reason, message);
    }
    this.onDone(this);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

export class AudioSocketServer {
  private readonly server: net.Server;
  private readonly calls = new Set<AudioSocketCall>();

  constructor(private readonly opts: AudioSocketOptions) {
    this.server = net.createServer((sock) => {
      const c = new AudioSocketCall(sock, this.opts, (x) => this.calls.delete(x));
      this.calls.add(c);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    log.info('audio socket listening', { host: this.opts.host, port: this.port });
  }

  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  async close(): Promise<void> {
    for (const c of this.calls) c.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
