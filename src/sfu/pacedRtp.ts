/**
 * The agent's outgoing RTP, sent on time by the native pacer (native/src/pacer.h)
 * instead of by the event loop. The frame clock hands each packet in `leadMs` before
 * its send time; the pacer's own thread sends it from its own UDP socket at that
 * time, to a PlainTransport of the router that carries only the agent's producer
 * (its consumers stay on the LoopbackRtp socket). A main thread held up by garbage
 * collection, a burst of packets or a busy machine then delays production, which
 * has `leadMs` of slack, and not the wire.
 *
 * What actually left, and when, comes back from drainSent(): the echo reference and
 * the barge-in latency are built from real send times, not from the tick. flush()
 * drops what is queued, and nothing of it is sent after flush() returns.
 *
 * Needs the native addon (the TS build sends at the tick, as before).
 */
import type { types } from 'mediasoup';
import { nativeAddon } from '../native/addon';
import { createLogger } from '../log';

const log = createLogger('pacer');
let openFailureLogged = false;

const LOOPBACK = '127.0.0.1';

export interface NativePacer {
  open(): [number, number];
  connect(queue: number, port: number): void;
  /** A queue writing to a connected stream socket (a WebSocket's TCP connection), whose fd it duplicates. */
  openStream(fd: number): number;
  /** Bytes of a stream item still to write (0: at an item boundary). */
  partial(queue: number): number;
  enqueue(queue: number, packet: Uint8Array, dueMs: number, id: number): number;
  /** A stream frame, head then body, over as many packets as it needs: all queued (0) or none (-1 full, -2 too large). */
  enqueueFrame(queue: number, head: Uint8Array, body: Uint8Array, dueMs: number, id: number): number;
  flush(queue: number): number;
  /** A flush that refuses timed packets until the next flush (a barge-in decided off the loop). */
  gate(queue: number): number;
  ungate(queue: number): number;
  /** Announces a flush: no send begins until the next flush or close (or maxMs); returns the pacer's time just after. */
  hold(maxMs: number): number;
  /** Ends a hold without a flush. */
  release(): void;
  /** beganMs: when each item's first write began (a stream item written in parts; else = sentMs). */
  drain(queue: number, ids: Uint32Array, sentMs: Float64Array, beganMs?: Float64Array): number;
  pending(queue: number): number;
  stats(queue: number, out: Float64Array): boolean;
  totals(out: Float64Array): void;
  /** Closes the queue (after a send in flight); returns the bytes of a stream item left part written (0: clean), or -3. */
  close(queue: number): number;
  now(): number;
  priority(mode?: number): number;
  /** Times the sender let waiting callers have the lock first, and of those, cut short because the caller never came (it was preempted before the lock). */
  stepAsides(): [number, number];
  capacity: number;
  maxPacket: number;
  /** Upper bounds of the send-lateness histogram (ms). */
  latenessBoundsMs: number[];
}

/** Field order of the native stats arrays. */
export interface PacerStats {
  sent: number;
  /** Sent more than 10 ms after their due time. */
  late: number;
  lateSumMs: number;
  maxLateMs: number;
  flushed: number;
  overflows: number;
  sendErrors: number;
  recordsLost: number;
  /** Handed in already > 10 ms past their time: the producer (event loop) was late, not the pacer. */
  enqueuedLate: number;
  /** Stream items that took more than one write (the socket's buffer was full part way). */
  partialWrites: number;
  /** Sent packets per PACER_LATENESS_BOUNDS_MS bucket (send − due), then over the last. */
  lateness: number[];
}

/** The pacer's send-lateness histogram bounds, ms (native/src/pacer.h; a test checks they agree). */
export const PACER_LATENESS_BOUNDS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100];

/**
 * How long a hold() waits for its flush at most. It comes microseconds later; a hold
 * whose flush never came (an output closed in between) stalls every queue this long,
 * well inside the frames' lead.
 */
export const PACER_HOLD_MS = 5;

const FIELDS = ['sent', 'late', 'lateSumMs', 'maxLateMs', 'flushed', 'overflows', 'sendErrors', 'recordsLost', 'enqueuedLate', 'partialWrites'] as const;
/** The native stats array: FIELDS, then the lateness histogram (bounds + the bucket above). */
const STATS_LEN = FIELDS.length + 9;

export function nativePacer(): NativePacer | null {
  return (nativeAddon() as unknown as { pacer?: NativePacer } | null)?.pacer ?? null;
}

/** Pacer::kGated: enqueue() refused a timed packet on a gated queue. */
const PACER_GATED = -4;

let offset: number | undefined;
/**
 * Wall time (ms since epoch, the frame clock's) → the pacer's CLOCK_MONOTONIC ms. Both
 * clocks behind performance.now() and the pacer are monotonic, so one offset, taken
 * once between two readings of the pacer's clock, holds for the process's life.
 */
export function monoOffset(p: NativePacer): number {
  if (offset === undefined) {
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const a = p.now();
      const b = performance.now();
      const c = p.now();
      if (c - a < best) {
        best = c - a;
        offset = (a + c) / 2 - b - performance.timeOrigin;
      }
    }
  }
  return offset!;
}

function toStats(a: Float64Array): PacerStats {
  const s = { lateness: Array.from(a.subarray(FIELDS.length)) } as PacerStats;
  FIELDS.forEach((k, i) => (s[k] = a[i]));
  return s;
}

export type PacerPriority = 'realtime' | 'high' | 'normal';
const PRIORITIES: PacerPriority[] = ['normal', 'high', 'realtime'];

/**
 * The scheduling the pacer's thread asks for when it starts (BridgeConfig.pacerPriority):
 * 'realtime' = SCHED_FIFO at the lowest real-time priority, 'high' = nice -10, each
 * falling back to the next where not permitted.
 */
export function requestPacerPriority(p: PacerPriority): void {
  nativePacer()?.priority(PRIORITIES.indexOf(p));
}

/** One queue's counts (zeros once it is closed). */
export function queueStats(p: NativePacer, queue: number, closed: boolean): PacerStats {
  const a = new Float64Array(STATS_LEN);
  if (!closed) p.stats(queue, a);
  return toStats(a);
}

/** Every pacer queue's totals in this process (zeros without the addon). */
export function pacerTotals(): PacerStats {
  const a = new Float64Array(STATS_LEN);
  nativePacer()?.totals(a);
  return toStats(a);
}

export class PacedRtpOut {
  private readonly ids = new Uint32Array(64);
  private readonly at = new Float64Array(64);
  private readonly off: number;
  private closed = false;
  /**
   * Packets of this sender that will not leave since a gate (voice_rx.h's off-loop
   * barge-in): those the gate dropped and those refused after it. The sender's stream
   * is rewound by them at the next flush, like the packets a flush drops itself.
   */
  private unsentSinceGate = 0;
  /** Gated by an off-loop barge-in that no flush has followed yet. */
  gated = false;

  private constructor(
    private readonly pacer: NativePacer,
    private readonly queue: number,
    readonly transport: types.PlainTransport,
    readonly leadMs: number,
  ) {
    this.off = monoOffset(pacer);
    transport.observer.once('close', () => this.close());
  }

  /**
   * A paced sender on `router`, or null without the native addon or when the pacer
   * cannot open a socket or start its thread (logged once): the caller then sends at
   * the tick.
   */
  static async create(router: types.Router, leadMs: number, appData: Record<string, unknown> = {}): Promise<PacedRtpOut | null> {
    const p = nativePacer();
    if (!p) return null;
    let queue: number;
    let port: number;
    try {
      [queue, port] = p.open();
    } catch (e) {
      if (!openFailureLogged) log.warn('pacer unavailable: agent audio is sent at the clock tick', { error: e });
      openFailureLogged = true;
      return null;
    }
    let transport: types.PlainTransport | null = null;
    try {
      transport = await router.createPlainTransport({ listenIp: { ip: LOOPBACK }, rtcpMux: true, comedia: false, appData });
      await transport.connect({ ip: LOOPBACK, port });
      p.connect(queue, transport.tuple.localPort);
      return new PacedRtpOut(p, queue, transport, leadMs);
    } catch (e) {
      transport?.close();
      p.close(queue);
      throw e;
    }
  }

  produce(options: types.ProducerOptions): Promise<types.Producer> {
    return this.transport.produce(options);
  }

  /**
   * Queues `pkt` (copied) to leave at `atMs` (ms since epoch; past = at once) and tags
   * its send record with `id`. False when it was not queued (closed, full, too large).
   */
  send(pkt: Uint8Array, atMs: number, id = 0): boolean {
    if (this.closed) return false;
    const r = this.pacer.enqueue(this.queue, pkt, atMs + this.off, id >>> 0);
    if (r === PACER_GATED) this.unsentSinceGate++;
    return r === 0;
  }

  /** The pacer queue (for a gate set off the loop). */
  get queueId(): number {
    return this.closed ? -1 : this.queue;
  }

  /** The receive thread gated this queue, dropping `dropped` packets (voiceRx.ts). */
  noteGate(dropped: number): void {
    this.gated = true;
    this.unsentSinceGate += Math.max(0, dropped);
  }

  /**
   * Drops every queued packet and lifts a gate; returns how many packets will not leave
   * (with those a gate dropped or refused since). None of them leaves after this.
   */
  flush(): number {
    const gatedOut = this.unsentSinceGate;
    this.unsentSinceGate = 0;
    this.gated = false;
    return this.closed ? 0 : Math.max(0, this.pacer.flush(this.queue)) + gatedOut;
  }

  /** See PacedOutput.hold (the next flush() ends it). */
  hold(): number {
    return this.pacer.hold(PACER_HOLD_MS) - this.off;
  }

  release(): void {
    this.pacer.release();
  }

  /** Packets sent since the last call, oldest first (ms since epoch; a datagram's send began once). */
  drainSent(visit: (id: number, sentAtMs: number, beganAtMs: number) => void): void {
    if (this.closed) return;
    for (;;) {
      const n = this.pacer.drain(this.queue, this.ids, this.at);
      for (let i = 0; i < n; i++) visit(this.ids[i], this.at[i] - this.off, this.at[i] - this.off);
      if (n < this.ids.length) return;
    }
  }

  stats(): PacerStats {
    return queueStats(this.pacer, this.queue, this.closed);
  }

  /** Idempotent; also runs when the transport closes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pacer.close(this.queue);
    if (!this.transport.closed) this.transport.close();
  }
}
