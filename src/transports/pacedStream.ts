/**
 * A TCP connection's outgoing frames written by the native pacer thread (src/sfu/pacedRtp.ts
 * has the room path's twin): a WebSocket media stream's, an AudioSocket call's. The
 * agent's audio frames are handed in `leadMs` ahead and leave at their time from a
 * thread the event loop's stalls do not hold up; every other frame the bridge writes on
 * the connection (JSON events, pongs, hang-up and error frames) goes through the same
 * queue, "now", so the byte stream keeps the order the leg wrote it in. Once this is
 * open, nothing may write to the socket directly until close() says the stream is at a
 * frame boundary. The one writer we do not control, ws answering a peer's close frame
 * or a protocol error with its own close frame, is held back by a guard on the socket's
 * write(): what is queued leaves first, then the pacer closes and the held writes go
 * out in order (or the connection is destroyed when the pacer had to cut a frame).
 *
 * A frame is a header (the protocol's: wsHeader() for RFC 6455, server to client: FIN,
 * no mask) and a payload, cut into the pacer's slots; it is queued whole or not at all.
 */
import type { Socket } from 'node:net';
import { createLogger } from '../log';
import { nativePacer, monoOffset, queueStats, PACER_HOLD_MS, type NativePacer, type PacerStats } from '../sfu/pacedRtp';
import type { PacedOutput } from '../agent/session';
import type { PacingStats } from './pacing';

const log = createLogger('pacedStream');

export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_PONG = 0xa;

let openFailureLogged = false;
/** Frames refused by full queues, over every paced connection (a metric). */
let droppedTotal = 0;

/** Frames the paced connections could not queue because their queue was full, since start. */
export function pacedStreamDrops(): number {
  return droppedTotal;
}

type WriteFn = Socket['write'];

/** The fd under a net.Socket (libuv's TCP handle), or -1 where there is none. */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** RFC 6455 header of an unmasked final frame: 2, 4 or 10 bytes. */
export function wsHeader(opcode: number, len: number): Buffer {
  if (len < 126) return Buffer.from([0x80 | opcode, len]);
  if (len < 65536) return Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
  const h = Buffer.alloc(10);
  h[0] = 0x80 | opcode;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

export class PacedStreamOut {
  private readonly ids = new Uint32Array(64);
  private readonly at = new Float64Array(64);
  private readonly began = new Float64Array(64);
  private readonly off: number;
  private closed = false;
  /** What close() found: the byte stream ended at a frame boundary. */
  private endedClean = true;
  private unguard: (() => void) | null = null;
  /** Frames that could not be queued (the peer stopped reading and the queue filled). */
  dropped = 0;

  private constructor(
    private readonly pacer: NativePacer,
    private readonly queue: number,
    readonly leadMs: number,
  ) {
    this.off = monoOffset(pacer);
  }

  /**
   * Holds back any write to `socket` that does not come through this queue: ws writes
   * its own close frame (answering the peer's, or after a protocol error) straight to
   * the socket, and that write must not land inside a frame the pacer is part way
   * through. The first such write drains and closes the pacer; then the held writes go
   * out in order, or, if a frame was cut, the socket is destroyed.
   */
  private guard(socket: Socket): void {
    const own = Object.prototype.hasOwnProperty.call(socket, 'write');
    const write = socket.write;
    this.unguard = () => {
      if (own) socket.write = write;
      else delete (socket as { write?: WriteFn }).write;
    };
    // writes by others while the pacer owns the socket, held until it has closed
    let held: Parameters<WriteFn>[] | null = null;
    socket.write = ((...args: Parameters<WriteFn>) => {
      if (held === null) {
        const batch: Parameters<WriteFn>[] = (held = []);
        void this.drainAndClose().then((clean) => {
          held = null;
          if (!clean) {
            socket.destroy();
            return;
          }
          for (const a of batch) write.apply(socket, a);
        });
      }
      held.push(args);
      return true;
    }) as WriteFn;
  }

  /**
   * A paced writer for `socket`'s connection, or null without the native addon, for a
   * socket with no fd of its own (TLS, a test double) or when the pacer cannot open
   * (logged once): the caller then writes through the socket as before.
   */
  static create(socket: Socket, leadMs: number): PacedStreamOut | null {
    const p = nativePacer();
    const fd = socketFd(socket);
    if (!p || fd < 0 || leadMs <= 0) return null;
    try {
      const out = new PacedStreamOut(p, p.openStream(fd), leadMs);
      out.guard(socket);
      return out;
    } catch (e) {
      if (!openFailureLogged) log.warn('pacer unavailable: telephony audio is sent at the clock tick', { error: e });
      openFailureLogged = true;
      return null;
    }
  }

  /**
   * Queues one frame, `header` then `payload`, to leave at `atMs` (ms since epoch; 0 =
   * after what is queued, at once), its send record tagged `id`. False when it was not
   * queued: closed, or no room for all of it (then none of it is queued).
   */
  send(header: Uint8Array, payload: Uint8Array, atMs = 0, id = 0): boolean {
    if (this.closed) return false;
    // the header and the payload, cut into slots natively, all of it or none (one lock)
    const r = this.pacer.enqueueFrame(this.queue, header, payload, atMs > 0 ? atMs + this.off : 0, id >>> 0);
    if (r === 0) return true;
    if (r !== -1) throw new Error(`pacer refused a frame (${r}: larger than its queue)`);
    // the peer stopped reading (or the event loop handed in far ahead): a real-time
    // stream drops rather than buffering without bound
    droppedTotal++;
    if (this.dropped++ === 0) log.warn('paced connection full: frames dropped', { queued: this.pacer.pending(this.queue) });
    return false;
  }

  /** A WebSocket frame (RFC 6455 header built here); see send(). */
  sendWs(opcode: number, payload: Uint8Array, atMs = 0, id = 0): boolean {
    return this.send(wsHeader(opcode, payload.length), payload, atMs, id);
  }

  /** Drops every queued frame (an item already partly written is finished); returns how many slots. */
  flush(): number {
    return this.closed ? 0 : Math.max(0, this.pacer.flush(this.queue));
  }

  /** See PacedOutput.hold (the next flush() ends it). */
  hold(): number {
    return this.pacer.hold(PACER_HOLD_MS) - this.off;
  }

  release(): void {
    this.pacer.release();
  }

  pending(): number {
    return this.closed ? 0 : Math.max(0, this.pacer.pending(this.queue));
  }

  /** This connection's counts: frames sent, late, handed in late, written in parts. */
  stats(): PacerStats {
    return queueStats(this.pacer, this.queue, this.closed);
  }

  /**
   * Frames sent since the last call whose id is not 0, oldest first (ms since epoch):
   * when the write that finished each began, and when its first write began (earlier
   * only for a frame written in parts, the socket's buffer having filled part way).
   */
  drainSent(visit: (id: number, sentAtMs: number, beganAtMs: number) => void): void {
    if (this.closed) return;
    for (;;) {
      const n = this.pacer.drain(this.queue, this.ids, this.at, this.began);
      for (let i = 0; i < n; i++) if (this.ids[i] !== 0) visit(this.ids[i], this.at[i] - this.off, this.began[i] - this.off);
      if (n < this.ids.length) return;
    }
  }

  /**
   * Stops writing. Returns true when the connection's byte stream is at a frame
   * boundary (the socket may be written or closed normally), false when a frame was
   * cut short: the caller must then destroy the connection rather than write a close.
   */
  close(): boolean {
    if (this.closed) return this.endedClean;
    this.closed = true;
    // (decided by close() itself: the sender may be part way into an item until then)
    this.endedClean = this.pacer.close(this.queue) <= 0;
    this.unguard?.();
    this.unguard = null;
    return this.endedClean;
  }

  /**
   * Resolves once everything queued has left (or after `timeoutMs`), then closes;
   * true when the stream ended at a frame boundary (see close()).
   */
  async drainAndClose(timeoutMs = 500): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && this.pacer.pending(this.queue) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    return this.close();
  }
}

/** The session's view of a paced leg: its lead, and the send reports (also noted in the leg's pacing stats). */
export function pacedOutput(out: PacedStreamOut, pacing: PacingStats): PacedOutput {
  return {
    leadMs: out.leadMs,
    hold: () => out.hold(),
    release: () => out.release(),
    stats: () => out.stats(),
    drainSent: (visit) =>
      out.drainSent((id, at, began) => {
        pacing.note(at);
        visit(id, at, began);
      }),
  };
}
