/**
 * RTP ports for call legs, from their own range (`sip.rtpMinPort..rtpMaxPort`),
 * apart from the ports mediasoup's workers pick for rooms. A port is taken by
 * binding a UDP socket on it (the leg's SSRC probe, see mediaLeg.ts), so a port
 * used by anything else on the machine is skipped; round-robin so a port just
 * released is not reused at once (late packets of the last call).
 */
import dgram from 'node:dgram';
import { InvalidStateError } from '../errors';

export class RtpPortAllocator {
  private next: number;
  private readonly inUse = new Set<number>();

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    // Even ports (RTP convention; the odd one above stays free for peers' RTCP habits).
    this.next = min + (min & 1);
  }

  /** Binds a UDP socket on a free even port of the range. */
  async bind(ip: string): Promise<{ socket: dgram.Socket; port: number }> {
    const span = Math.floor((this.max - this.min) / 2) + 1;
    for (let i = 0; i < span; i++) {
      const port = this.next;
      this.next += 2;
      if (this.next > this.max) this.next = this.min + (this.min & 1);
      if (this.inUse.has(port)) continue;
      const socket = dgram.createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4' });
      const ok = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, ip, () => resolve(true));
      });
      if (ok) {
        this.inUse.add(port);
        return { socket, port };
      }
      try {
        socket.close();
      } catch {
        /* a socket whose bind failed may already be closed */
      }
    }
    throw new InvalidStateError('SIP_NO_RTP_PORT', `no free RTP port in ${this.min}-${this.max}`, 503);
  }

  release(port: number): void {
    this.inUse.delete(port);
  }

  get used(): number {
    return this.inUse.size;
  }
}
