/**
 * The loopback UDP socket that agent media arrives on (LoopbackRtp), with each
 * datagram dated by when it reached the socket.
 *
 * Native (native/src/udp_rx.h): the kernel stamps every datagram as it is queued
 * (SO_TIMESTAMPNS), and the waiting ones are read in one recvmmsg() into a buffer
 * reused for every batch. A packet that waited 40 ms for a busy event loop is dated
 * 40 ms earlier than its read, so the barge-in latency counts that wait (DESIGN.md:
 * t_onset is when the onset's packet reaches the bridge's socket).
 *
 * Fallback (no addon): node:dgram, dated when the event loop reads it.
 *
 * Either way a handler gets a view that is valid only during its call (the native
 * buffer is reused by the next batch): a handler that keeps a packet must copy it.
 */
import dgram from 'node:dgram';
import { nowMs } from '../clock';
import { nativeAddon } from '../native/addon';

const LOOPBACK = '127.0.0.1';
/** Batches (of up to 32 datagrams) read per wake-up of the native socket. */
const MAX_BATCHES = 8;
/** Socket receive buffer asked for (native/src/recv_time.cpp asks for the same). */
const RECV_BUFFER_BYTES = 1 << 20;

export type DatagramHandler = (pkt: Buffer, arrivalMs: number) => void;

export interface UdpSocketStats {
  /** Datagrams longer than a native slot (2 KiB), dropped. */
  truncated: number;
  /** Receive errors (ECONNREFUSED after the peer closed) and send errors. */
  errors: number;
}

export interface LoopbackUdpSocket {
  /** 'kernel': dated by the kernel's receive time; 'read': by the event loop's read. */
  readonly dating: 'kernel' | 'read';
  readonly stats: UdpSocketStats;
  port(): number;
  connect(port: number): Promise<void>;
  /** Sends one datagram to the connected peer (errors are counted, not thrown). */
  send(pkt: Uint8Array): void;
  close(): void;
}

interface NativeUdpObject {
  port(): number;
  connect(port: number): void;
  send(pkt: Uint8Array): number;
  start(onReadable: () => void): void;
  recv(buf: Uint8Array, meta: Float64Array): number;
  close(): void;
}

interface NativeUdpCtor {
  new (): NativeUdpObject;
  maxBatch: number;
  slotBytes: number;
}

class NativeLoopbackSocket implements LoopbackUdpSocket {
  readonly dating = 'kernel' as const;
  readonly stats: UdpSocketStats = { truncated: 0, errors: 0 };
  private readonly sock: NativeUdpObject;
  private readonly buf: Buffer;
  private readonly meta: Float64Array;
  private closed = false;

  constructor(
    private readonly Ctor: NativeUdpCtor,
    private readonly onPacket: DatagramHandler,
    private readonly onError: (code: number) => void,
  ) {
    this.sock = new Ctor();
    this.buf = Buffer.alloc(Ctor.maxBatch * Ctor.slotBytes);
    this.meta = new Float64Array(2 * Ctor.maxBatch);
    this.sock.start(() => this.drain());
  }

  private drain(): void {
    const { maxBatch, slotBytes } = this.Ctor;
    // At most MAX_BATCHES per wake-up: a socket that refills as fast as it is read must
    // not hold the event loop (the poll is level-triggered: the rest comes next turn).
    for (let b = 0; b < MAX_BATCHES; b++) {
      if (this.closed) return;
      const n = this.sock.recv(this.buf, this.meta);
      if (n < 0) {
        // ECONNREFUSED from a peer that went away: counted, and reading goes on
        this.stats.errors++;
        this.onError(n);
        continue;
      }
      // one clock read for the batch; each datagram is dated back by its age
      const now = nowMs();
      for (let i = 0; i < n && !this.closed; i++) {
        const len = this.meta[2 * i];
        if (len < 0) {
          this.stats.truncated++;
          continue;
        }
        this.onPacket(this.buf.subarray(i * slotBytes, i * slotBytes + len), now - this.meta[2 * i + 1]);
      }
      if (n < maxBatch) return;
    }
  }

  port(): number {
    return this.sock.port();
  }

  async connect(port: number): Promise<void> {
    this.sock.connect(port);
  }

  send(pkt: Uint8Array): void {
    if (this.closed) return;
    const r = this.sock.send(pkt);
    if (r < 0) {
      this.stats.errors++;
      this.onError(r);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}

class DgramLoopbackSocket implements LoopbackUdpSocket {
  readonly dating = 'read' as const;
  readonly stats: UdpSocketStats = { truncated: 0, errors: 0 };
  private closed = false;

  constructor(
    private readonly socket: dgram.Socket,
    onPacket: DatagramHandler,
    private readonly onError: (code: number) => void,
  ) {
    socket.on('message', (pkt) => onPacket(pkt, nowMs()));
    // send errors without a callback arrive here (ECONNREFUSED after the peer closed)
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.stats.errors++;
      this.onError(typeof e.errno === 'number' ? e.errno : -1);
    });
  }

  static async open(onPacket: DatagramHandler, onError: (code: number) => void): Promise<DgramLoopbackSocket> {
    // the same receive buffer as the native socket's (room for a burst)
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: RECV_BUFFER_BYTES });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, LOOPBACK, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new DgramLoopbackSocket(socket, onPacket, onError);
  }

  port(): number {
    return this.socket.address().port;
  }

  connect(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.connect(port, LOOPBACK, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
  }

  send(pkt: Uint8Array): void {
    if (!this.closed) this.socket.send(pkt);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

/**
 * A socket on 127.0.0.1 (any port): the native one when the addon has it (`prefer`
 * 'dgram' forces node:dgram, for tests), else node:dgram. `onError` gets -errno
 * (native) or the errno of node's error.
 */
export async function openLoopbackSocket(
  onPacket: DatagramHandler,
  onError: (code: number) => void,
  prefer: 'native' | 'dgram' = 'native',
): Promise<LoopbackUdpSocket> {
  const Ctor = prefer === 'native' ? (nativeAddon() as unknown as { NativeUdp?: NativeUdpCtor } | null)?.NativeUdp : undefined;
  if (Ctor) return new NativeLoopbackSocket(Ctor, onPacket, onError);
  return DgramLoopbackSocket.open(onPacket, onError);
}
