/**
 * When the data a TCP socket's reader is handling reached the socket.
 *
 * A telephony WebSocket or AudioSocket frame is handled in Node's 'data' event, which
 * on a busy event loop comes tens of ms after the bytes arrived; dating the user's
 * audio by it would leave that wait out of the barge-in latency (DESIGN.md: t_onset is
 * when the onset's packet reaches the bridge's socket). At each read, the kernel says
 * how long ago the socket's last data segment arrived (TCP_INFO, native/src/recv_time.h;
 * jiffies: 4 ms steps at HZ = 250), and the read's data is dated by that segment.
 * Bytes that came in an earlier segment of the same read arrived earlier still: the
 * date is the latest it can be, never later than the read.
 *
 * Without the addon (or an fd: TLS, a test double) the read time is used, as before.
 */
import type { Socket } from 'node:net';
import { nowMs } from '../clock';
import { nativeAddon } from '../native/addon';
import { socketFd } from './pacedStream';

type AgeFn = (fd: number) => number;

export class StreamArrival {
  /** Arrival of the read being handled; 0 outside a read. */
  private at = 0;
  /** Reads dated by the kernel, and reads it could not date (the read time is used). */
  dated = 0;
  undated = 0;

  private constructor(
    socket: Socket,
    private readonly fd: number,
    private readonly age: AgeFn,
  ) {
    // before the reader's own 'data' listener (ws, the TLV decoder), and cleared after
    // it: what the reader emits synchronously for this chunk gets this read's date
    socket.prependListener('data', () => this.onRead());
    socket.on('data', () => {
      this.at = 0;
    });
  }

  /** Dating for `socket`, or null when the kernel's time cannot be had (read time then). */
  static attach(socket: Socket): StreamArrival | null {
    const age = (nativeAddon() as unknown as { tcpDataAgeMs?: AgeFn } | null)?.tcpDataAgeMs;
    const fd = socketFd(socket);
    if (!age || fd < 0) return null;
    return new StreamArrival(socket, fd, age);
  }

  private onRead(): void {
    const now = nowMs();
    const a = this.age(this.fd);
    if (a < 0) {
      this.undated++;
      this.at = now;
      return;
    }
    this.dated++;
    this.at = now - a;
  }

  /** When the data now being handled reached the socket (the current time outside a read). */
  arrival(): number {
    return this.at || nowMs();
  }
}
