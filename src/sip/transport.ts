/**
 * SIP over UDP and TCP (RFC 3261 §18). UDP: one datagram, one message. TCP: a
 * byte stream cut into messages by SipStreamParser, an explicit state machine
 * (HEADERS → BODY) with the size limit checked as soon as the headers end, and
 * CRLF keep-alives (RFC 5626 §3.5.1) answered. Connections we open to a peer
 * are reused by address; accepted ones are kept for sending responses back.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { createLogger } from '../log';
import { serialize, type SipMessage } from './message';

const log = createLogger('sip');

export type SipTransportName = 'udp' | 'tcp';

export interface Peer {
  transport: SipTransportName;
  address: string;
  port: number;
  /** The TCP connection a message came in on (responses go back on it). */
  conn?: net.Socket;
}

const enum StreamState {
  Headers,
  Body,
  Failed,
}

/** Cuts a TCP byte stream into whole SIP messages. */
export class SipStreamParser {
  private state = StreamState.Headers;
  private chunks: Buffer[] = [];
  private have = 0;
  private headEnd = -1;
  private need = 0;
  /** Set when the stream cannot continue (an oversize message or a bad Content-Length). */
  error: string | null = null;

  constructor(private readonly maxBytes: number) {}

  /** Feeds bytes; returns whole messages (as buffers) and keep-alive pings seen. */
  push(chunk: Buffer): { messages: Buffer[]; pings: number } {
    const out: Buffer[] = [];
    let pings = 0;
    if (this.state === StreamState.Failed) return { messages: out, pings };
    this.chunks.push(chunk);
    this.have += chunk.length;
    for (;;) {
      let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.have);
      this.chunks = [buf];
      if (this.state === StreamState.Headers) {
        // Leading CRLFs between messages are keep-alives ("\r\n\r\n" ping).
        let skip = 0;
        while (skip + 1 < buf.length && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
        if (skip) {
          pings += skip >= 4 ? 1 : 0;
          buf = buf.subarray(skip);
          this.chunks = [buf];
          this.have = buf.length;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > this.maxBytes) return this.fail(`headers exceed ${this.maxBytes} bytes`, out, pings);
          return { messages: out, pings };
        }
        if (end + 4 > this.maxBytes) return this.fail(`headers exceed ${this.maxBytes} bytes`, out, pings);
        const head = buf.toString('latin1', 0, end);
        const m = /\r\n(?:content-length|l)[ \t]*:[ \t]*(\d{1,7})[ \t]*(?=\r\n|$)/i.exec('\r\n' + head.split('\r\n').slice(1).join('\r\n'));
        // On a stream Content-Length is mandatory (RFC 3261 §18.3); absent means 0.
        if (!m && /\r\n(?:content-length|l)[ \t]*:/i.test('\r\n' + head)) return this.fail('bad Content-Length', out, pings);
        const len = m ? Number(m[1]) : 0;
        if (end + 4 + len > this.maxBytes) return this.fail(`message of ${end + 4 + len} bytes exceeds ${this.maxBytes}`, out, pings);
        this.headEnd = end + 4;
        this.need = this.headEnd + len;
        this.state = StreamState.Body;
      }
      if (this.have < this.need) return { messages: out, pings };
      out.push(Buffer.from(buf.subarray(0, this.need)));
      const rest = buf.subarray(this.need);
      this.chunks = rest.length ? [rest] : [];
      this.have = rest.length;
      this.state = StreamState.Headers;
      if (!this.have) return { messages: out, pings };
    }
  }

  private fail(why: string, out: Buffer[], pings: number): { messages: Buffer[]; pings: number } {
    this.state = StreamState.Failed;
    this.error = why;
    this.chunks = [];
    return { messages: out, pings };
  }
}

export interface SipTransportOptions {
  host: string;
  port: number;
  transports: SipTransportName[];
  maxMessageBytes: number;
}

/** Emits 'message' (buf: Buffer, peer: Peer). */
export class SipTransport extends EventEmitter {
  private udp: dgram.Socket | null = null;
  private tcp: net.Server | null = null;
  private readonly conns = new Map<string, net.Socket>();
  private readonly accepted = new Set<net.Socket>();
  port = 0;

  constructor(private readonly opts: SipTransportOptions) {
    super();
  }

  async start(): Promise<void> {
    // Port 0: UDP takes an ephemeral port and TCP must listen on the same number, which a
    // TCP socket elsewhere may hold; then both are tried again on another port.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.open(this.opts.port);
      } catch (e) {
        const again = this.opts.port === 0 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10;
        this.udp?.close();
        this.udp = null;
        if (!again) throw e;
        log.debug('SIP port taken for TCP; trying another', { attempt });
      }
    }
  }

  private async open(configured: number): Promise<void> {
    const { host } = this.opts;
    let port = configured;
    if (this.opts.transports.includes('udp')) {
      const udp = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      udp.on('message', (buf, rinfo) => this.emit('message', buf, { transport: 'udp', address: rinfo.address, port: rinfo.port } satisfies Peer));
      udp.on('error', (e) => log.warn('SIP UDP socket error', { error: e }));
      this.udp = udp;
      port = udp.address().port;
    }
    if (this.opts.transports.includes('tcp')) {
      const tcp = net.createServer((sock) => this.onConnection(sock, false));
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      this.tcp = tcp;
      port = (tcp.address() as net.AddressInfo).port;
    }
    this.port = port;
  }

  private onConnection(sock: net.Socket, outgoing: boolean): void {
    const parser = new SipStreamParser(this.opts.maxMessageBytes);
    if (!outgoing) this.accepted.add(sock);
    sock.setNoDelay(true);
    const peer: Peer = { transport: 'tcp', address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0, conn: sock };
    sock.on('data', (chunk: Buffer) => {
      const r = parser.push(chunk);
      if (r.pings) sock.write('\r\n');
      for (const m of r.messages) this.emit('message', m, peer);
      if (parser.error) {
        log.info('SIP TCP stream error; closing', { peer: `${peer.address}:${peer.port}`, error: parser.error });
        sock.end();
      }
    });
    sock.on('error', (e) => log.debug('SIP TCP connection error', { error: e }));
    sock.on('close', () => {
      this.accepted.delete(sock);
      for (const [k, s] of this.conns) if (s === sock) this.conns.delete(k);
    });
    sock.setTimeout(10 * 60_000, () => sock.destroy());
  }

  /** Sends to a peer; over TCP on its connection, opening one if needed. */
  send(msg: SipMessage | Buffer, to: Peer): void {
    const buf = Buffer.isBuffer(msg) ? msg : serialize(msg);
    if (to.transport === 'udp') {
      if (!this.udp) throw new Error('SIP UDP transport is not enabled');
      this.udp.send(buf, to.port, to.address);
      return;
    }
    let sock = to.conn && !to.conn.destroyed ? to.conn : this.conns.get(`${to.address}:${to.port}`);
    if (!sock || sock.destroyed) {
      sock = net.connect({ host: to.address, port: to.port });
      this.conns.set(`${to.address}:${to.port}`, sock);
      this.onConnection(sock, true);
      sock.on('error', (e) => this.emit('sendError', to, e));
    }
    sock.write(buf);
  }

  get udpEnabled(): boolean {
    return this.udp !== null;
  }

  async close(): Promise<void> {
    this.udp?.close();
    this.udp = null;
    for (const s of [...this.accepted, ...this.conns.values()]) s.destroy();
    this.conns.clear();
    if (this.tcp) {
      const t = this.tcp;
      this.tcp = null;
      await new Promise<void>((r) => t.close(() => r()));
    }
  }
}
