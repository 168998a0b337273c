/**
 * SIP transactions (RFC 3261 §17), reduced to what a user agent needs:
 *
 * Client: a request is sent, retransmitted over UDP (Timer A/E: T1 doubling, capped
 * at T2 for non-INVITE, stopped by a provisional for INVITE) and completed by a
 * final response or Timer B/F (64·T1) → a synthetic 408. A non-2xx final answer to
 * an INVITE is acknowledged here (same branch). Matching is by the top Via branch.
 *
 * Server: the last response sent for a (branch, method) is kept for 32 s so a
 * retransmitted request is answered again without reaching the call; a
 * retransmitted INVITE after a final answer gets the same answer.
 */
import { createLogger } from '../log';
import { BRANCH_MAGIC, header, parseVia, randomToken, responseTo, serialize, type SipRequest, type SipResponse } from './message';
import type { Peer, SipTransport } from './transport';

const log = createLogger('sip.tx');

export interface Timers {
  t1: number;
  t2: number;
  /** Timer B/F (64·T1 by default). */
  timeout: number;
}

export const DEFAULT_TIMERS: Timers = { t1: 500, t2: 4000, timeout: 32_000 };

interface ClientTx {
  req: SipRequest;
  buf: Buffer;
  peer: Peer;
  interval: number;
  retransmit: NodeJS.Timeout | null;
  deadline: NodeJS.Timeout;
  provisional?: (r: SipResponse) => void;
  resolve: (r: SipResponse) => void;
  done: boolean;
}

export function newBranch(): string {
  return `${BRANCH_MAGIC}${randomToken(10)}`;
}

export function topBranch(msg: { headers: [string, string][] }): string {
  const v = header(msg, 'Via');
  return (v && parseVia(v)?.params.branch) || '';
}

export class ClientTransactions {
  private readonly txs = new Map<string, ClientTx>();

  constructor(
    private readonly transport: SipTransport,
    private readonly timers: Timers = DEFAULT_TIMERS,
  ) {}

  /** Sends `req` (its top Via carries the branch) and resolves with the final response. */
  request(req: SipRequest, peer: Peer, provisional?: (r: SipResponse) => void): Promise<SipResponse> {
    const branch = topBranch(req);
    const buf = serialize(req);
    return new Promise<SipResponse>((resolve) => {
      const tx: ClientTx = {
        req,
        buf,
        peer,
        interval: this.timers.t1,
        retransmit: null,
        deadline: setTimeout(() => this.timeout(branch), this.timers.timeout),
        provisional,
        resolve,
        done: false,
      };
      tx.deadline.unref();
      this.txs.set(`${branch}/${req.method}`, tx);
      this.transmit(tx, branch);
    });
  }

  private transmit(tx: ClientTx, branch: string): void {
    try {
      this.transport.send(tx.buf, tx.peer);
    } catch (e) {
      log.warn('send failed', { error: e, method: tx.req.method });
    }
    if (tx.peer.transport !== 'udp' || tx.done) return;
    tx.retransmit = setTimeout(() => {
      tx.interval = tx.req.method === 'INVITE' ? tx.interval * 2 : Math.min(tx.interval * 2, this.timers.t2);
      this.transmit(tx, branch);
    }, tx.interval);
    tx.retransmit.unref();
  }

  private timeout(branch: string): void {
    for (const [k, tx] of this.txs) {
      if (!k.startsWith(`${branch}/`)) continue;
      this.finish(k, tx);
      log.info('transaction timed out', { method: tx.req.method, to: `${tx.peer.address}:${tx.peer.port}` });
      tx.resolve({ ...responseTo(tx.req, 408), reason: 'Request Timeout (no answer)' });
    }
  }

  private finish(key: string, tx: ClientTx): void {
    tx.done = true;
    if (tx.retransmit) clearTimeout(tx.retransmit);
    clearTimeout(tx.deadline);
    this.txs.delete(key);
  }

  /** A response arrived: true when it belonged to a transaction. */
  onResponse(res: SipResponse): boolean {
    const branch = topBranch(res);
    const method = (header(res, 'CSeq') ?? '').split(/\s+/)[1]?.toUpperCase() ?? '';
    const key = `${branch}/${method}`;
    const tx = this.txs.get(key);
    if (!tx) return false;
    if (res.status < 200) {
      // A provisional stops INVITE retransmissions (Timer A); non-INVITE keeps T2 pacing.
      if (tx.req.method === 'INVITE' && tx.retransmit) {
        clearTimeout(tx.retransmit);
        tx.retransmit = null;
        tx.done = true;
      }
      tx.provisional?.(res);
      return true;
    }
    this.finish(key, tx);
    if (tx.req.method === 'INVITE' && res.status >= 300) this.ackNon2xx(tx, res);
    tx.resolve(res);
    return true;
  }

  /** ACK for a non-2xx final response: same branch, Request-URI, From, Call-ID; To from the response. */
  private ackNon2xx(tx: ClientTx, res: SipResponse): void {
    const cseq = (header(tx.req, 'CSeq') ?? '1').split(/\s+/)[0];
    const headers: [string, string][] = [
      ['Via', header(tx.req, 'Via')!],
      ['Max-Forwards', '70'],
      ['From', header(tx.req, 'From')!],
      ['To', header(res, 'To')!],
      ['Call-ID', header(tx.req, 'Call-ID')!],
      ['CSeq', `${cseq} ACK`],
    ];
    for (const [n, v] of tx.req.headers) if (n === 'Route') headers.push([n, v]);
    this.transport.send({ kind: 'request', method: 'ACK', uri: tx.req.uri, headers, body: Buffer.alloc(0) }, tx.peer);
  }

  /** Cancels nothing on the wire; drops pending transactions (shutdown). */
  close(): void {
    for (const [k, tx] of this.txs) {
      this.finish(k, tx);
      tx.resolve({ ...responseTo(tx.req, 408), reason: 'Shutting down' });
    }
  }
}

interface Cached {
  buf: Buffer | null;
  peer: Peer;
  at: number;
}

export class ServerResponses {
  private readonly cache = new Map<string, Cached>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly transport: SipTransport) {
    this.sweeper = setInterval(() => {
      const old = Date.now() - 32_000;
      for (const [k, c] of this.cache) if (c.at < old) this.cache.delete(k);
    }, 5000);
    this.sweeper.unref();
  }

  private key(req: SipRequest): string {
    return `${topBranch(req)}/${req.method}/${header(req, 'Call-ID')}`;
  }

  /** A retransmission of a request we have seen: answered again here (true), or new (false). */
  absorb(req: SipRequest, peer: Peer): boolean {
    const c = this.cache.get(this.key(req));
    if (!c) {
      this.cache.set(this.key(req), { buf: null, peer, at: Date.now() });
      return false;
    }
    if (c.buf) this.transport.send(c.buf, peer);
    return true;
  }

  /** Sends a response to `req` and keeps it for retransmissions. */
  respond(req: SipRequest, peer: Peer, res: SipResponse): void {
    // RFC 3581: fill rport/received in the top Via so the peer sees where we answered.
    const i = res.headers.findIndex(([n]) => n === 'Via');
    if (i >= 0 && peer.transport === 'udp') {
      const v = res.headers[i][1];
      let nv = v.replace(/;rport(?=;|$)/i, `;rport=${peer.port}`);
      const sentBy = parseVia(v);
      if (sentBy && sentBy.host !== peer.address && !/;received=/i.test(nv)) nv += `;received=${peer.address}`;
      res.headers[i] = ['Via', nv];
    }
    const buf = serialize(res);
    this.transport.send(buf, peer);
    const k = this.key(req);
    const c = this.cache.get(k);
    if (c) {
      c.buf = buf;
      c.at = Date.now();
    } else this.cache.set(k, { buf, peer, at: Date.now() });
  }

  /** The original INVITE's pending state for a CANCEL (same branch). */
  has(req: SipRequest, method: string): boolean {
    return this.cache.has(`${topBranch(req)}/${method}/${header(req, 'Call-ID')}`);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.cache.clear();
  }
}
