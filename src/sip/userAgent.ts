/**
 * The SIP user agent of the bridge: a trunk or PBX calls it (each call runs one
 * agent), and StartAIAgentOutboundCall calls out through a configured trunk.
 * Owns the transport (UDP/TCP), the transactions, the calls, the trunks'
 * registrations and OPTIONS keep-alives.
 *
 * Every message is handled in isolation: a malformed one is answered with 400
 * (when its headers allow an answer) or dropped, logged with its code, and never
 * touches another call. Inbound INVITE answers: 404 unknown number, 415 not SDP,
 * 400 malformed SDP, 488 no common codec / no offer, 486 busy (call or session
 * limit), 503 no media port / no mediasoup worker.
 */
import { createLogger } from '../log';
import type { AgentManager } from '../agent/agentManager';
import type { AgentSession } from '../agent/session';
import type { WorkerPool } from '../sfu/workerPool';
import { routerMediaCodecs } from '../sfu/mediasoup';
import { InvalidParameterError, InvalidStateError, isVoxError } from '../errors';
import type { SipCodecName, SipSettings, SipTrunk } from '../transports/telephonyConfig';
import { startLegAgent } from '../transports/legAgent';
import { createOpusEncoder } from '../rooms/opusEncoder';
import { header, parseMessage, parseNameAddr, parseUri, randomToken, responseTo, type SipRequest, type SipResponse } from './message';
import { CODEC_DEFAULTS, negotiate, parseSdp, SdpError, type Negotiated, type SdpCodec } from './sdp';
import { SipTransport, type Peer } from './transport';
import { ClientTransactions, DEFAULT_TIMERS, newBranch, ServerResponses, type Timers } from './transactions';
import { SipCall, type SipCallHost } from './call';
import { SipMediaLeg } from './mediaLeg';
import { RtpPortAllocator } from './rtpPorts';
import { Registration } from './registration';
import { authorize, parseChallenge } from './digest';

const log = createLogger('sip');
const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO';
/** Our payload type for telephone-event in offers (when the router can carry it). */
const DTMF_PT = 101;

export interface SipUserAgentOptions {
  settings: SipSettings;
  agents: AgentManager;
  storedAgents: Record<string, Record<string, unknown>>;
  workers: WorkerPool;
  /** IP the RTP ports bind (mediasoup.listenIp). */
  mediaListenIp: string;
  /** BridgeConfig.agentAudioLeadMs (the agent's RTP made this far ahead, sent by the pacer). */
  agentAudioLeadMs?: number;
  timers?: Partial<Timers>;
}

export interface OutboundCallRequest {
  session: AgentSession;
  to: string;
  gateway?: string;
  fromUser?: string;
}

export class SipUserAgent {
  readonly transport: SipTransport;
  private readonly tx: ClientTransactions;
  private readonly responses: ServerResponses;
  private readonly calls = new Map<string, SipCall>();
  private readonly registrations: Registration[] = [];
  private readonly ports: RtpPortAllocator;
  private readonly timers: Timers;
  private readonly host: SipCallHost;
  private keepAlive: NodeJS.Timeout | null = null;
  private readonly trunkUp = new Map<string, boolean>();
  private readonly opusAvailable: boolean;
  private readonly dtmfAvailable: boolean;
  private stopped = false;

  constructor(private readonly opts: SipUserAgentOptions) {
    const s = opts.settings;
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.transport = new SipTransport({ host: s.host, port: s.port, transports: s.transports, maxMessageBytes: s.maxMessageBytes });
    this.tx = new ClientTransactions(this.transport, this.timers);
    this.responses = new ServerResponses(this.transport);
    this.ports = new RtpPortAllocator(s.rtpMinPort, s.rtpMaxPort);
    this.opusAvailable = s.codecs.includes('opus') && canEncodeOpus();
    this.dtmfAvailable = routerMediaCodecs.some((c) => c.mimeType.toLowerCase() === 'audio/telephone-event' && c.clockRate === 8000);
    this.transport.on('message', (buf: Buffer, peer: Peer) => this.onMessage(buf, peer));
    this.host = {
      send: (m, p) => this.transport.send(m, p),
      respond: (req, p, res) => this.responses.respond(req, p, res),
      request: (req, p, prov) => this.tx.request(req, p, prov),
      via: (p, branch) => this.via(p, branch),
      contact: (p) => this.contact(p),
      sdpAddress: () => this.sdpAddress(),
      callEnded: (c) => this.calls.delete(c.id),
      timers: this.timers,
    };
  }

  get port(): number {
    return this.transport.port;
  }

  get storedAgents(): Record<string, Record<string, unknown>> {
    return this.opts.storedAgents;
  }

  /** Codecs we offer/accept, in preference order. */
  get codecs(): SipCodecName[] {
    return this.opts.settings.codecs.filter((c) => c !== 'opus' || this.opusAvailable);
  }

  async start(): Promise<void> {
    await this.transport.start();
    const s = this.opts.settings;
    for (const t of s.trunks) {
      if (!t.register) continue;
      const r = new Registration({ request: (req, p) => this.tx.request(req, p), via: (p, b) => this.via(p, b), contact: (p) => this.contact(p) }, t);
      this.registrations.push(r);
      r.start();
    }
    if (s.optionsIntervalSec > 0 && s.trunks.length) {
      this.keepAlive = setInterval(() => this.pingTrunks(), s.optionsIntervalSec * 1000);
      this.keepAlive.unref();
    }
    log.info('SIP user agent listening', { host: s.host, port: this.port, transports: s.transports, codecs: this.codecs, dtmf: this.dtmfAvailable ? 'rfc4733+info' : 'info', trunks: s.trunks.map((t) => t.name) });
  }

  // ---------------------------------------------------------------- addressing

  private publicAddress(): string {
    const s = this.opts.settings;
    return s.publicAddress ?? (s.host === '0.0.0.0' || s.host === '::' ? this.opts.mediaListenIp : s.host);
  }

  private sdpAddress(): string {
    return this.opts.settings.publicAddress ?? this.opts.mediaListenIp;
  }

  private hostPort(): string {
    const a = this.publicAddress();
    return `${a.includes(':') ? `[${a}]` : a}:${this.port}`;
  }

  via(peer: Peer, branch: string): string {
    return `SIP/2.0/${peer.transport.toUpperCase()} ${this.hostPort()};branch=${branch};rport`;
  }

  contact(peer: Peer): string {
    return `<sip:voxbridge@${this.hostPort()}${peer.transport === 'tcp' ? ';transport=tcp' : ''}>`;
  }

  // ---------------------------------------------------------------- receiving

  private onMessage(buf: Buffer, peer: Peer): void {
    // Keep-alive CRLFs over UDP.
    if (buf.length <= 4 && buf.toString('latin1').trim() === '') return;
    try {
      const r = parseMessage(buf, { maxBytes: this.opts.settings.maxMessageBytes, maxHeaders: 100, maxLine: 4096 });
      if ('error' in r) {
        log.info('malformed SIP message', { code: r.error, message: r.message, from: `${peer.address}:${peer.port}` });
        if (r.partial?.kind === 'request' && r.partial.method !== 'ACK' && header(r.partial, 'Via') && header(r.partial, 'CSeq')) {
          this.transport.send(responseTo(r.partial, 400, { reason: `Bad Request (${r.error})` }), peer);
        }
        return;
      }
      const msg = r.ok;
      if (msg.kind === 'response') this.onResponse(msg);
      else this.onRequest(msg, peer);
    } catch (e) {
      log.error('SIP message handling failed', { error: e, from: `${peer.address}:${peer.port}` });
    }
  }

  private onResponse(res: SipResponse): void {
    if (this.tx.onResponse(res)) return;
    // A retransmitted 2xx for an INVITE whose transaction is over: ACK again.
    const call = this.calls.get(header(res, 'Call-ID') ?? '');
    if (call && res.status >= 200 && res.status < 300 && /INVITE$/i.test(header(res, 'CSeq') ?? '')) call.sendAck();
  }

  private onRequest(req: SipRequest, peer: Peer): void {
    const callId = header(req, 'Call-ID')!;
    if (req.method === 'ACK') {
      this.calls.get(callId)?.onAck();
      return;
    }
    if (this.responses.absorb(req, peer)) return;
    const call = this.calls.get(callId);
    const toTag = parseNameAddr(header(req, 'To') ?? '')?.params.tag;
    const require = header(req, 'Require');
    if (require && req.method !== 'CANCEL') {
      this.responses.respond(req, peer, responseTo(req, 420, { headers: [['Unsupported', require]] }));
      return;
    }
    switch (req.method) {
      case 'INVITE':
        if (toTag) {
          if (call) call.onRequest(req, peer);
          else this.responses.respond(req, peer, responseTo(req, 481));
        } else if (call) this.responses.respond(req, peer, responseTo(req, 482, { reason: 'Loop Detected' }));
        else void this.onInvite(req, peer);
        return;
      case 'CANCEL':
        if (call) {
          call.onCancel();
          this.responses.respond(req, peer, responseTo(req, 200));
        } else this.responses.respond(req, peer, responseTo(req, 481));
        return;
      case 'OPTIONS':
        if (call && toTag) call.onRequest(req, peer);
        else this.responses.respond(req, peer, responseTo(req, 200, { headers: [['Allow', ALLOW], ['Accept', 'application/sdp'], ['Supported', '']] }));
        return;
      case 'BYE':
      case 'INFO':
        if (call) call.onRequest(req, peer);
        else this.responses.respond(req, peer, responseTo(req, 481));
        return;
      case 'REGISTER':
      case 'SUBSCRIBE':
      case 'NOTIFY':
      case 'UPDATE':
      case 'REFER':
      case 'MESSAGE':
      case 'PRACK':
        this.responses.respond(req, peer, responseTo(req, 405, { headers: [['Allow', ALLOW]] }));
        return;
      default:
        this.responses.respond(req, peer, responseTo(req, 501, { headers: [['Allow', ALLOW]] }));
    }
  }

  // ---------------------------------------------------------------- inbound calls

  private async onInvite(req: SipRequest, peer: Peer): Promise<void> {
    const call = SipCall.fromInvite(this.host, req, peer);
    this.calls.set(call.id, call);
    this.responses.respond(req, peer, responseTo(req, 100));
    const refuse = (status: number, code: string, message: string, headers: [string, string][] = []): void => {
      call.log.info('call refused', { status, code, message });
      call.reject(status, undefined, headers);
    };
    if (this.stopped) return refuse(503, 'SIP_SHUTTING_DOWN', 'the bridge is stopping');
    const uri = parseUri(req.uri);
    const number = uri?.user ?? '';
    const agentName = this.agentFor(number, peer);
    if (!agentName) return refuse(404, 'SIP_UNKNOWN_NUMBER', `no agent for number ${JSON.stringify(number)}`);
    if (this.calls.size > this.opts.settings.maxCalls) return refuse(486, 'SIP_TOO_MANY_CALLS', `${this.calls.size} calls in progress`);
    const ctype = (header(req, 'Content-Type') ?? '').toLowerCase();
    if (!req.body.length) return refuse(488, 'SIP_NO_OFFER', 'INVITE without an SDP offer (delayed offer) is not supported', [['Warning', '399 voxbridge "SDP offer required"']]);
    if (!ctype.startsWith('application/sdp')) return refuse(415, 'SIP_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${ctype}`, [['Accept', 'application/sdp']]);
    let neg: Negotiated;
    let offer;
    try {
      offer = parseSdp(req.body.toString('latin1')).audio;
      neg = negotiate(offer, this.codecs, this.dtmfAvailable, (c, kind) => kind !== 'opus' || c.pt === CODEC_DEFAULTS.opus.pt);
    } catch (e) {
      if (e instanceof SdpError) {
        if (e.code === 'SDP_NO_COMMON_CODEC') return refuse(488, e.code, e.message, [['Warning', '305 voxbridge "Incompatible media format"']]);
        return refuse(e.code === 'SDP_NO_AUDIO' ? 488 : 400, e.code, e.message);
      }
      throw e;
    }
    let media: SipMediaLeg;
    try {
      media = await SipMediaLeg.open(this.opts.workers, this.ports, this.opts.mediaListenIp, {
        onAudio: (pcm, at, media) => call.userAudio(pcm, at, media),
        onDtmf: (d) => call.dtmf(d, 'rfc4733'),
        onReady: () => call.connectAgent(),
      }, call.id, this.opts.agentAudioLeadMs);
    } catch (e) {
      return refuse(503, isVoxError(e) ? e.code : 'SIP_MEDIA_FAILED', (e as Error).message);
    }
    if (call.state !== 'ringing') {
      media.close();
      return;
    }
    try {
      const a = startLegAgent(this.opts.agents, this.opts.storedAgents, { callId: call.id, agent: agentName, transport: 'sip' });
      call.attach(a.session);
    } catch (e) {
      media.close();
      const code = isVoxError(e) ? e.code : 'InternalError';
      return refuse(code === 'LimitExceeded.Sessions' ? 486 : 500, code, (e as Error).message);
    }
    call.log.info('answering', { number, agent: agentName, agentInstanceId: call.session!.id, codec: neg.codec.kind, from: `${peer.address}:${peer.port}` });
    call.answer(neg, offer, media);
    await media.start(offer, neg);
  }

  private agentFor(number: string, peer: Peer): string | null {
    const s = this.opts.settings;
    const byNumber = s.numbers[number] ?? s.numbers['*'];
    if (byNumber) return byNumber;
    const trunk = s.trunks.find((t) => t.host === peer.address && t.agent);
    return trunk?.agent ?? null;
  }

  // ---------------------------------------------------------------- outbound calls

  trunk(name?: string): SipTrunk {
    const trunks = this.opts.settings.trunks;
    const t = name ? trunks.find((x) => x.name === name) : trunks[0];
    if (!t) {
      throw new InvalidParameterError('InvalidParameter.Gateway', name ? `no SIP gateway named ${JSON.stringify(name)}; configured: ${trunks.map((x) => x.name).join(', ') || 'none'}` : 'no SIP gateway is configured (sip.trunks)', name ? 404 : 400);
    }
    return t;
  }

  /** Places a call through a trunk; the session is attached when the callee answers. */
  async placeCall(o: OutboundCallRequest): Promise<SipCall> {
    if (this.stopped) throw new InvalidStateError('SIP_SHUTTING_DOWN', 'the bridge is stopping', 503);
    const t = this.trunk(o.gateway);
    if (this.calls.size >= this.opts.settings.maxCalls) throw new InvalidStateError('LimitExceeded.Calls', `${this.calls.size} calls in progress`, 429);
    const peer: Peer = { transport: t.transport, address: t.host, port: t.port };
    const fromUser = o.fromUser ?? t.fromUser;
    const call = SipCall.outbound(this.host, peer, { requestUri: `sip:${o.to}@${t.domain}`, fromUri: `sip:${fromUser}@${t.domain}`, toUri: `sip:${o.to}@${t.domain}` });
    call.media = await SipMediaLeg.open(this.opts.workers, this.ports, this.opts.mediaListenIp, {
      onAudio: (pcm, at, media) => call.userAudio(pcm, at, media),
      onDtmf: (d) => call.dtmf(d, 'rfc4733'),
      onReady: () => call.connectAgent(),
    }, call.id, this.opts.agentAudioLeadMs);
    this.calls.set(call.id, call);
    call.attach(o.session);
    const codecs: SdpCodec[] = this.codecs.map((c) => CODEC_DEFAULTS[c]);
    const offer = call.offer(codecs, this.dtmfAvailable ? DTMF_PT : null);
    call.log.info('calling', { to: o.to, gateway: t.name, agentInstanceId: o.session.id });
    void this.runOutbound(call, t, offer, codecs).catch((e) => {
      call.log.error('outbound call failed', { error: e });
      call.finish('callFailed', 'The call could not be placed.');
    });
    return call;
  }

  private async runOutbound(call: SipCall, t: SipTrunk, offer: string, codecs: SdpCodec[]): Promise<void> {
    let inv = call.buildInvite(offer);
    const onProvisional = (r: SipResponse): void => call.log.debug('provisional', { status: r.status });
    let res = await this.tx.request(inv, call.peer, onProvisional);
    for (let round = 0; (res.status === 401 || res.status === 407) && round < 2 && t.username && call.state === 'calling'; round++) {
      const which = res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
      const ch = parseChallenge(header(res, which) ?? '');
      call.dialog.localSeq++;
      const cred = { username: t.authUsername ?? t.username, password: t.password ?? '' };
      inv = call.buildInvite(offer, [res.status === 401 ? 'Authorization' : 'Proxy-Authorization', authorize(ch, cred, 'INVITE', inv.uri)]);
      res = await this.tx.request(inv, call.peer, onProvisional);
    }
    if (res.status >= 300 || res.status < 200) {
      if (call.state !== 'ended') {
        call.log.info('outbound call not answered', { status: res.status, reason: res.reason });
        call.finish('callFailed', `The call failed: SIP ${res.status} ${res.reason}.`);
      }
      return;
    }
    // Answered.
    const lateAnswer = call.state === 'ended';
    call.established(res);
    if (lateAnswer) {
      call.state = 'confirmed';
      call.hangup('cancelled', 0);
      return;
    }
    let neg: Negotiated;
    let answer;
    try {
      answer = parseSdp(res.body.toString('latin1')).audio;
      neg = negotiate(answer, codecs.map((c) => (c.name === 'opus' ? 'opus' : (c.name as SipCodecName))), this.dtmfAvailable, (c, kind) => kind !== 'opus' || c.pt === CODEC_DEFAULTS.opus.pt);
    } catch (e) {
      call.log.warn('answer SDP refused; hanging up', { code: e instanceof SdpError ? e.code : 'SDP_MALFORMED', message: (e as Error).message });
      call.hangup('badAnswer', 0);
      return;
    }
    call.negotiated = neg;
    call.log.info('outbound call answered', { codec: neg.codec.kind });
    await call.media!.start(answer, neg);
  }

  // ---------------------------------------------------------------- trunks

  private pingTrunks(): void {
    for (const t of this.opts.settings.trunks) {
      const peer: Peer = { transport: t.transport, address: t.host, port: t.port };
      const req: SipRequest = {
        kind: 'request',
        method: 'OPTIONS',
        uri: `sip:${t.domain}`,
        headers: [
          ['Via', this.via(peer, newBranch())],
          ['Max-Forwards', '70'],
          ['From', `<sip:voxbridge@${this.hostPort()}>;tag=${randomToken(4)}`],
          ['To', `<sip:${t.domain}>`],
          ['Call-ID', `${randomToken(10)}@voxbridge`],
          ['CSeq', '1 OPTIONS'],
          ['Contact', this.contact(peer)],
        ],
        body: Buffer.alloc(0),
      };
      void this.tx.request(req, peer).then((r) => {
        const up = r.status !== 408 && r.status < 500;
        if (this.trunkUp.get(t.name) !== up) log.info(up ? 'trunk reachable' : 'trunk unreachable', { trunk: t.name, status: r.status });
        this.trunkUp.set(t.name, up);
      });
    }
  }

  registrationState(trunk: string): string | null {
    return this.registrations.find((r) => r.trunk.name === trunk)?.state ?? null;
  }

  findCall(idOrAgent: string): SipCall | undefined {
    return this.calls.get(idOrAgent) ?? [...this.calls.values()].find((c) => c.session?.id === idOrAgent);
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  /** Hangs up every call (BYE), unregisters, closes the sockets. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    const calls = [...this.calls.values()];
    for (const c of calls) c.hangup('shutdown', 0);
    const deadline = Date.now() + 1500;
    while (this.calls.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.calls.values()) c.finish('shutdown', 'The bridge is shutting down.');
    await Promise.race([Promise.all(this.registrations.map((r) => r.stop())), new Promise((r) => setTimeout(r, 1500))]);
    this.tx.close();
    this.responses.close();
    await this.transport.close();
  }
}

function canEncodeOpus(): boolean {
  try {
    createOpusEncoder({ sampleRate: 16000, channels: 1 });
    return true;
  } catch {
    return false;
  }
}
