/**
 * The agents' voice input on the addon's receive thread (native/src/voice_rx.h): each
 * agent's loopback RTP socket is read there, the participants' Opus decoded, the
 * agent's VAD run and the barge-in decided the moment the deciding packet arrives;
 * the agent's pacer queue is gated in the same step, so the agent's voice stops
 * whatever the event loop is doing. The event loop gets 20 ms frames (PCM with the
 * VAD's results, and the decision when one was taken) after a wake-up from that
 * thread, and does the rest as for its own decision.
 *
 * One receiver per process (one thread for every agent), started on first use. Frames
 * are read through two reused typed arrays, no object per frame: a handler's frame
 * (RxFrame) is valid only during its call.
 */
import { nativeAddon } from '../native/addon';
import { createLogger } from '../log';
import { monoOffset, nativePacer } from './pacedRtp';
import type { LoopbackUdpSocket, UdpSocketStats } from './udpSocket';
import type { WireAbortLease } from '../providers/wireAbort';

const log = createLogger('voiceRx');

/** Frame flags above the VAD's own (VadFlag: bits 0-4); native/src/voice_rx.h. */
export const RxFlag = {
  VadRan: 1 << 8,
  Fired: 1 << 9,
  Concealed: 1 << 10,
} as const;

export type ArmMode = 'off' | 'onset' | 'duration';
const ARM: Record<ArmMode, number> = { off: 0, onset: 1, duration: 2 };

interface Binding {
  start(offsetMs: number, onReady: () => void, highPriority: boolean): void;
  open(): [number, number];
  connect(sock: number, port: number): number;
  send(sock: number, pkt: Uint8Array): number;
  close(sock: number): number;
  addVoice(sock: number, ssrc: number, payloadType: number, human: boolean, mayLead: boolean): number;
  removeVoice(voice: number): number;
  setVad(sock: number, interruptMs: number, hangoverMs: number): number;
  setInterruptMs(sock: number, ms: number): number;
  farEnd(sock: number, atMs: number, frame: Int16Array | null): number;
  farEndCut(sock: number, atMs: number, reissueFromMs: number): number;
  arm(sock: number, mode: number, pacerQueue: number): number;
  addAbortFd(sock: number, fd: number): number;
  removeAbortFd(sock: number, token: number): number;
  wireAborted(sock: number, token: number): number;
  drain(meta: Float64Array, pcm: Int16Array): number;
  stats(sock: number, out: Float64Array): void;
  queued(): number;
  metaStride: number;
  frameSamples: number;
}

/** One 20 ms frame of a voice, valid only during the handler's call. */
export interface RxFrame {
  voice: number;
  flags: number;
  /** Fired: packets of the agent the gate dropped (-1: no pacer queue was armed). */
  flushed: number;
  /** When the packet carrying the frame's last sample reached the socket (ms since epoch). */
  arrivalMs: number;
  /** That packet's time by its RTP timestamp (src/media/mediaClock.ts): what the far end was paired by. */
  mediaMs: number;
  /** Fired: when the barge-in was decided; no agent packet left after it. */
  decisionMs: number;
  /** Fired: when the stopped speech's requests' connections were shut down (0: none were lent). */
  wireAbortMs: number;
  /** The VAD's numbers (VadFlag/kOut* order of native/src/vad.h) when VadRan. */
  out: Float64Array;
  pcm: Int16Array;
}

export interface VoiceRxStats {
  datagrams: number;
  rtcp: number;
  dropped: number;
  malformed: number;
  late: number;
  lost: number;
  decodeErrors: number;
  frames: number;
  overflows: number;
  fired: number;
  recvErrors: number;
}
const STAT_KEYS: (keyof VoiceRxStats)[] = ['datagrams', 'rtcp', 'dropped', 'malformed', 'late', 'lost', 'decodeErrors', 'frames', 'overflows', 'fired', 'recvErrors'];

export function voiceRxBinding(): Binding | null {
  return (nativeAddon() as unknown as { voiceRx?: Binding } | null)?.voiceRx ?? null;
}

const BATCH = 64;

class Receiver {
  private readonly meta: Float64Array;
  private readonly pcm: Int16Array;
  private readonly frame: RxFrame;
  private readonly outView: Float64Array[];
  private readonly pcmView: Int16Array[];
  private readonly handlers = new Map<number, (f: RxFrame) => void>();
  private pumping = false;
  private readonly statsBuf = new Float64Array(STAT_KEYS.length);

  constructor(readonly b: Binding) {
    const stride = b.metaStride;
    this.meta = new Float64Array(BATCH * stride);
    this.pcm = new Int16Array(BATCH * b.frameSamples);
    this.outView = Array.from({ length: BATCH }, (_, i) => this.meta.subarray(i * stride + 6, i * stride + 15));
    this.pcmView = Array.from({ length: BATCH }, (_, i) => this.pcm.subarray(i * b.frameSamples, (i + 1) * b.frameSamples));
    this.frame = { voice: 0, flags: 0, flushed: 0, arrivalMs: 0, mediaMs: 0, decisionMs: 0, wireAbortMs: 0, out: this.outView[0], pcm: this.pcmView[0] };
    const p = nativePacer();
    if (!p) throw new Error('voiceRx needs the pacer (native addon)');
    // the caller's clock (ms since epoch) minus CLOCK_MONOTONIC: the pacer's offset negated
    b.start(-monoOffset(p), () => this.pump(), wantHigh);
  }

  register(sock: number, h: (f: RxFrame) => void): void {
    this.handlers.set(sock, h);
  }

  unregister(sock: number): void {
    this.handlers.delete(sock);
  }

  /**
   * Hands every waiting frame to its socket's handler, in order. Not re-entrant: a
   * handler that gets here again (a session's tick run from inside it) returns at once,
   * and the outer call goes on with the rest.
   */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const stride = this.b.metaStride;
      for (;;) {
        const n = this.b.drain(this.meta, this.pcm);
        const m = this.meta;
        const f = this.frame;
        for (let i = 0; i < n; i++) {
          const o = i * stride;
          const h = this.handlers.get(m[o]);
          if (!h) continue;
          f.voice = m[o + 1];
          f.flags = m[o + 2];
          f.flushed = m[o + 3];
          f.arrivalMs = m[o + 4];
          f.decisionMs = m[o + 5];
          f.wireAbortMs = m[o + 15];
          f.mediaMs = m[o + 16];
          f.out = this.outView[i];
          f.pcm = this.pcmView[i];
          try {
            h(f);
          } catch (e) {
            log.error('voice frame handler failed', { error: e });
          }
        }
        if (n < BATCH) return;
      }
    } finally {
      this.pumping = false;
    }
  }

  stats(sock: number): VoiceRxStats {
    this.b.stats(sock, this.statsBuf);
    const s = {} as VoiceRxStats;
    STAT_KEYS.forEach((k, i) => (s[k] = this.statsBuf[i]));
    return s;
  }
}

let receiver: Receiver | null | undefined;
let wantHigh = true;

/** The thread's scheduling when it starts (BridgeConfig.voiceThreadPriority): nice -10 where permitted, or as created. */
export function requestVoiceRxPriority(p: 'high' | 'normal'): void {
  wantHigh = p === 'high';
}

/** The process's receiver, or null without the addon (the event-loop path is used then). */
function theReceiver(): Receiver | null {
  if (receiver === undefined) {
    const b = voiceRxBinding();
    try {
      receiver = b && nativePacer() ? new Receiver(b) : null;
    } catch (e) {
      // one receiver per process: another Node environment (a worker thread) started it
      log.warn('voice receive thread unavailable: room voices are read on the event loop', { error: e });
      receiver = null;
    }
  }
  return receiver;
}

export function voiceRxAvailable(): boolean {
  return voiceRxBinding() !== null && nativePacer() !== null;
}

/** Totals over every socket the receiver has had (for metrics). */
export function voiceRxTotals(): VoiceRxStats | null {
  return receiver ? receiver.stats(-1) : null;
}

/**
 * One agent's loopback socket on the receive thread. As a LoopbackUdpSocket it sends
 * (the agent's unpaced packets); what arrives is handled there, by voice.
 */
export class RxSocket implements LoopbackUdpSocket {
  readonly dating = 'kernel' as const;
  readonly stats: UdpSocketStats = { truncated: 0, errors: 0 };
  private readonly id: number;
  private readonly localPort: number;
  private readonly voices = new Map<number, (f: RxFrame) => void>();
  private closed = false;

  private constructor(private readonly r: Receiver) {
    [this.id, this.localPort] = r.b.open();
    r.register(this.id, (f) => this.voices.get(f.voice)?.(f));
  }

  /** Null without the addon. */
  static open(): RxSocket | null {
    const r = theReceiver();
    return r ? new RxSocket(r) : null;
  }

  port(): number {
    return this.localPort;
  }

  async connect(port: number): Promise<void> {
    const r = this.r.b.connect(this.id, port);
    if (r < 0) throw new Error(`voice receiver connect: status ${r}`);
  }

  send(pkt: Uint8Array): void {
    if (this.closed) return;
    if (this.r.b.send(this.id, pkt) < 0) this.stats.errors++;
  }

  /**
   * A voice (an SSRC of a consumer on this socket): its frames go to `onFrame`.
   * `human`: delivered without the VAD; `mayLead`: may become the agent's user voice
   * (the first such voice heard is; the next one heard after it is removed).
   */
  addVoice(ssrc: number, payloadType: number | undefined, human: boolean, mayLead: boolean, onFrame: (f: RxFrame) => void): number {
    const v = this.r.b.addVoice(this.id, ssrc >>> 0, payloadType ?? -1, human, mayLead);
    if (v < 0) throw new Error(`voice receiver addVoice: status ${v}`);
    this.voices.set(v, onFrame);
    return v;
  }

  removeVoice(voice: number): void {
    if (!this.voices.delete(voice) || this.closed) return;
    this.r.b.removeVoice(voice);
  }

  /** The user pipeline: the agent's VAD (16 kHz, 20 ms frames) and its far-end reference. */
  setVad(interruptMs: number, hangoverMs = 200): void {
    const r = this.r.b.setVad(this.id, interruptMs, hangoverMs);
    if (r !== 0) throw new Error(`voice receiver setVad: status ${r}`);
  }

  setInterruptMs(ms: number): number {
    return this.closed ? 0 : this.r.b.setInterruptMs(this.id, ms);
  }

  farEnd(atMs: number, frame: Int16Array | null): void {
    if (!this.closed) this.r.b.farEnd(this.id, atMs, frame);
  }

  /** Far-end frames given for after `atMs` did not sound (the agent's queue was flushed); those from `reissueFromMs` on will be given again. */
  farEndCut(atMs: number, reissueFromMs: number): void {
    if (!this.closed) this.r.b.farEndCut(this.id, atMs, reissueFromMs);
  }

  /** See VoiceRx::arm: true when a barge-in fired since the last call (its frame may still be waiting). */
  arm(mode: ArmMode, pacerQueue: number): boolean {
    return !this.closed && this.r.b.arm(this.id, ARM[mode], pacerQueue) === 1;
  }

  /**
   * Lends a provider request's connection (its socket's fd, duplicated) to this
   * socket's barge-in, which shuts it down with the agent's voice (wireAbort.ts).
   */
  trackRequestFd(fd: number): WireAbortLease | null {
    if (this.closed) return null;
    const token = this.r.b.addAbortFd(this.id, fd);
    if (token <= 0) return null;
    const b = this.r.b;
    const id = this.id;
    let released = false;
    return {
      get aborted() {
        return !released && b.wireAborted(id, token) === 1;
      },
      release: () => {
        if (released) return;
        released = true;
        if (!this.closed) b.removeAbortFd(id, token);
      },
    };
  }

  /** Hands every waiting frame (of every socket) to its handler now. */
  pump(): void {
    this.r.pump();
  }

  rxStats(): VoiceRxStats {
    return this.r.stats(this.id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // frames already waiting are still delivered to the voices' handlers until the next pump
    this.r.b.close(this.id);
    this.r.pump();
    this.r.unregister(this.id);
    this.voices.clear();
  }
}
