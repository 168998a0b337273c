/**
 * REGISTER to a trunk (RFC 3261 §10) with digest authentication: registers the
 * bridge's contact, refreshes at 80 % of the granted expiry, retries after a
 * failure, and unregisters (Expires: 0) on stop. States: IDLE → REGISTERING →
 * REGISTERED (→ REGISTERING on refresh) / FAILED (retry timer) → STOPPED.
 */
import { createLogger, type Logger } from '../log';
import type { SipTrunk } from '../transports/telephonyConfig';
import { authorize, DigestError, parseChallenge } from './digest';
import { header, parseNameAddr, randomToken, type SipRequest, type SipResponse } from './message';
import type { Peer } from './transport';
import { newBranch } from './transactions';

export type RegistrationState = 'idle' | 'registering' | 'registered' | 'failed' | 'stopped';

export interface RegistrationHost {
  request(req: SipRequest, peer: Peer): Promise<SipResponse>;
  via(peer: Peer, branch: string): string;
  contact(peer: Peer): string;
}

export const REGISTER_RETRY_MS = 30_000;

export class Registration {
  state: RegistrationState = 'idle';
  expiresAt = 0;
  lastStatus = 0;
  private readonly callId = `${randomToken(10)}@voxbridge`;
  private seq = 1;
  private timer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  private readonly peer: Peer;

  constructor(
    private readonly host: RegistrationHost,
    readonly trunk: SipTrunk,
  ) {
    this.peer = { transport: trunk.transport, address: trunk.host, port: trunk.port };
    this.log = createLogger('sip.register', { trunk: trunk.name });
  }

  start(): void {
    void this.register(this.trunk.registerExpires);
  }

  private build(expires: number, auth?: [string, string]): SipRequest {
    const t = this.trunk;
    const aor = `<sip:${t.username}@${t.domain}>`;
    const headers: [string, string][] = [
      ['Via', this.host.via(this.peer, newBranch())],
      ['Max-Forwards', '70'],
      ['From', `${aor};tag=${randomToken(4)}`],
      ['To', aor],
      ['Call-ID', this.callId],
      ['CSeq', `${this.seq++} REGISTER`],
      ['Contact', this.host.contact(this.peer)],
      ['Expires', String(expires)],
      ['User-Agent', 'voxbridge'],
    ];
    if (auth) headers.push(auth);
    return { kind: 'request', method: 'REGISTER', uri: `sip:${t.domain}`, headers, body: Buffer.alloc(0) };
  }

  /** One REGISTER round (with one answer to a digest challenge). */
  async register(expires: number): Promise<boolean> {
    if (this.state === 'stopped' && expires > 0) return false;
    if (expires > 0) this.state = 'registering';
    let req = this.build(expires);
    let res = await this.host.request(req, this.peer);
    for (let round = 0; (res.status === 401 || res.status === 407) && round < 2; round++) {
      const chHeader = header(res, res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate');
      try {
        const ch = parseChallenge(chHeader ?? '');
        const cred = { username: this.trunk.authUsername ?? this.trunk.username!, password: this.trunk.password ?? '' };
        req = this.build(expires, [res.status === 401 ? 'Authorization' : 'Proxy-Authorization', authorize(ch, cred, 'REGISTER', req.uri)]);
      } catch (e) {
        this.log.warn('cannot answer the registrar challenge', { code: e instanceof DigestError ? e.code : 'SIP_AUTH_MALFORMED', message: (e as Error).message });
        break;
      }
      res = await this.host.request(req, this.peer);
    }
    this.lastStatus = res.status;
    if (expires === 0) return res.status < 300;
    if (this.state === 'stopped') return false;
    if (res.status >= 200 && res.status < 300) {
      const granted = this.grantedExpiry(res) ?? expires;
      this.state = 'registered';
      this.expiresAt = Date.now() + granted * 1000;
      this.log.info('registered', { expires: granted });
      this.schedule(Math.max(5, granted * 0.8) * 1000);
      return true;
    }
    this.state = 'failed';
    this.log.warn('registration failed', { status: res.status, reason: res.reason });
    this.schedule(REGISTER_RETRY_MS);
    return false;
  }

  private grantedExpiry(res: SipResponse): number | null {
    for (const [n, v] of res.headers) {
      if (n !== 'Contact') continue;
      const c = parseNameAddr(v);
      if (c?.params.expires && /^\d+$/.test(c.params.expires)) return Number(c.params.expires);
    }
    const e = header(res, 'Expires');
    return e && /^\d+$/.test(e) ? Number(e) : null;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.register(this.trunk.registerExpires), ms);
    this.timer.unref();
  }

  /** Unregisters when registered; no more refreshes. */
  async stop(): Promise<void> {
    const was = this.state;
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    if (was === 'registered') await this.register(0).catch(() => false);
  }
}
