/**
 * One SIP call leg with its agent: the dialog (RFC 3261 §12) and an explicit
 * state machine.
 *
 *   inbound:  RINGING (INVITE, 100 sent) → ANSWERED (200 sent, retransmitted over
 *             UDP until ACK) → CONFIRMED → ENDING (BYE sent) → ENDED
 *   outbound: CALLING (INVITE sent; CANCEL possible) → CONFIRMED (2xx, ACK sent)
 *             → ENDING → ENDED; a non-2xx final answer → ENDED (the agent is told why)
 *
 * The agent is attached once the media is ready (the caller's first RTP packet,
 * see mediaLeg.ts), so its welcome message is heard from the first word. The
 * agent's hang-up (AgentOutput.end, after its closing words have been sent)
 * sends BYE; the caller's BYE ends the agent. re-INVITE: hold / resume; INFO
 * and RFC 4733 digits are emitted on the session as 'dtmf' events.
 */
import { createLogger, type Logger } from '../log';
import type { AgentOutput, AgentSession } from '../agent/session';
import { header, headerValues, parseCSeq, parseNameAddr, parseUri, randomToken, responseTo, type SipRequest, type SipResponse } from './message';
import { answerDirection, buildSdp, negotiate, parseSdp, SdpError, type AudioDescription, type Negotiated, type SdpCodec } from './sdp';
import type { SipMediaLeg } from './mediaLeg';
import type { Peer } from './transport';
import { newBranch } from './transactions';

export type CallState = 'ringing' | 'answered' | 'calling' | 'confirmed' | 'ending' | 'ended';

/** What a call needs from its user agent. */
export interface SipCallHost {
  send(msg: SipRequest | SipResponse, peer: Peer): void;
  respond(req: SipRequest, peer: Peer, res: SipResponse): void;
  request(req: SipRequest, peer: Peer, provisional?: (r: SipResponse) => void): Promise<SipResponse>;
  /** Via value (without branch) and Contact for messages to `peer`. */
  via(peer: Peer, branch: string): string;
  contact(peer: Peer): string;
  sdpAddress(): string;
  callEnded(call: SipCall): void;
  timers: { t1: number; t2: number; timeout: number };
}

export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** From/To values without tags. */
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  routeSet: string[];
  localSeq: number;
  remoteSeq: number;
}

export class SipCall {
  state: CallState;
  readonly dialog: Dialog;
  readonly log: Logger;
  session: AgentSession | null = null;
  media: SipMediaLeg | null = null;
  negotiated: Negotiated | null = null;
  readonly createdAt = Date.now();
  endReason: string | null = null;
  private output: AgentOutput | null = null;
  private okRetransmit: NodeJS.Timeout | null = null;
  private ackTimeout: NodeJS.Timeout | null = null;
  private okResponse: SipResponse | null = null;
  private invite: SipRequest | null = null;
  private sdpVersion = 1;
  private readonly sdpSession = String(Date.now());
  /** Pending outbound INVITE: its request (for CANCEL) and whether it was answered. */
  private outInvite: SipRequest | null = null;
  private byeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly host: SipCallHost,
    readonly direction: 'inbound' | 'outbound',
    dialog: Dialog,
    readonly peer: Peer,
  ) {
    this.dialog = dialog;
    this.state = direction === 'inbound' ? 'ringing' : 'calling';
    this.log = createLogger('sip.call', { call: dialog.callId, direction });
  }

  get id(): string {
    return this.dialog.callId;
  }

  // ---------------------------------------------------------------- inbound

  static fromInvite(host: SipCallHost, req: SipRequest, peer: Peer): SipCall {
    const from = parseNameAddr(header(req, 'From')!)!;
    const contact = parseNameAddr(header(req, 'Contact') ?? '') ?? from;
    const dialog: Dialog = {
      callId: header(req, 'Call-ID')!,
      localTag: randomToken(6),
      remoteTag: from.params.tag ?? '',
      localUri: header(req, 'To')!.replace(/;\s*tag=[^;]*/i, ''),
      remoteUri: header(req, 'From')!.replace(/;\s*tag=[^;]*/i, ''),
      remoteTarget: contact.uri,
      routeSet: headerValues(req, 'Record-Route'),
      localSeq: Math.floor(Math.random() * 10000) + 1,
      remoteSeq: parseCSeq(header(req, 'CSeq')!)!.seq,
    };
    const call = new SipCall(host, 'inbound', dialog, peer);
    call.invite = req;
    return call;
  }

  /** Answers the INVITE: 200 OK with our SDP, retransmitted over UDP until the ACK. */
  answer(neg: Negotiated, offer: AudioDescription, media: SipMediaLeg): void {
    const req = this.invite!;
    this.negotiated = neg;
    this.media = media;
    const body = Buffer.from(this.sdp(neg, answerDirection(offer.direction), offer.rtcpMux), 'latin1');
    const res = responseTo(req, 200, {
      toTag: this.dialog.localTag,
      headers: [
        ['Contact', this.host.contact(this.peer)],
        ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO'],
        ['Supported', 'replaces'],
        ['Content-Type', 'application/sdp'],
      ],
      body,
    });
    this.okResponse = res;
    this.state = 'answered';
    this.host.respond(req, this.peer, res);
    if (this.peer.transport === 'udp') {
      let interval = this.host.timers.t1;
      const again = (): void => {
        this.okRetransmit = setTimeout(() => {
          if (this.state !== 'answered') return;
          this.host.send(res, this.peer);
          interval = Math.min(interval * 2, this.host.timers.t2);
          again();
        }, interval);
      };
      again();
    }
    this.ackTimeout = setTimeout(() => {
      if (this.state !== 'answered') return;
      this.log.warn('no ACK for our 200 OK; ending the call');
      this.state = 'confirmed';
      this.hangup('noAck');
    }, this.host.timers.timeout);
  }

  private sdp(neg: Negotiated, direction: ReturnType<typeof answerDirection>, rtcpMux: boolean): string {
    return buildSdp({
      sessionId: this.sdpSession,
      version: this.sdpVersion++,
      address: this.host.sdpAddress(),
      port: this.media!.port,
      codecs: [neg.codec],
      dtmfPt: neg.dtmfPt,
      direction,
      rtcpMux,
    });
  }

  onAck(): void {
    if (this.state !== 'answered') return;
    this.state = 'confirmed';
    this.clearOkTimers();
    this.log.info('call confirmed');
  }

  private clearOkTimers(): void {
    if (this.okRetransmit) clearTimeout(this.okRetransmit);
    if (this.ackTimeout) clearTimeout(this.ackTimeout);
    this.okRetransmit = this.ackTimeout = null;
  }

  /** CANCEL before we answered: 487 to the INVITE. True when it cancelled. */
  onCancel(): boolean {
    if (this.state !== 'ringing' || !this.invite) return false;
    this.host.respond(this.invite, this.peer, responseTo(this.invite, 487, { toTag: this.dialog.localTag }));
    this.log.info('call cancelled by the caller');
    this.finish('cancelled', 'The caller cancelled the call.');
    return true;
  }

  /** Rejects the INVITE (before answering). */
  reject(status: number, reason?: string, headers: [string, string][] = []): void {
    if (!this.invite) return;
    this.host.respond(this.invite, this.peer, responseTo(this.invite, status, { toTag: this.dialog.localTag, headers, reason }));
    this.finish('rejected', `SIP ${status}`);
  }

  // ---------------------------------------------------------------- agent

  /** Connects the agent: its voice goes to the media leg, its hang-up to BYE. */
  attach(session: AgentSession): void {
    this.session = session;
    session.once('ended', (reason: string) => {
      // StopVoiceChat, shutdown, or hang-up: end the call too (BYE, or CANCEL while calling).
      if (this.state !== 'ended' && this.state !== 'ending') this.hangup(reason);
    });
  }

  /** Media ready: the agent starts hearing and speaking. */
  connectAgent(): void {
    const s = this.session;
    if (!s || s.ended || this.state === 'ended' || this.output) return;
    this.output = {
      sendAudio: (frame, talkSpurtStart, frameTimeMs, frameId) => this.media?.sendAudio(frame, talkSpurtStart, frameTimeMs, frameId),
      sendMessage: (m) => {
        if (m.type === 1003 || m.type === 1002) this.log.debug('subtitle', { type: m.type, text: (m.data as { text?: string })?.text });
      },
      // RTP leaves at once through mediasoup; only the leg's own encoder buffers hold old speech.
      clear: () => this.media?.resetOutput(),
      end: (reason) => this.hangup(reason),
      paced: this.media?.pacedOutput,
    };
    s.attach(this.output);
  }

  userAudio(pcm: Int16Array, arrivalMs: number, mediaMs = arrivalMs): void {
    const s = this.session;
    if (s && !s.ended && this.output) s.pushUserAudio(pcm, arrivalMs, mediaMs);
  }

  dtmf(digit: string, source: 'rfc4733' | 'info'): void {
    this.log.info('dtmf', { digit, source });
    this.session?.emit('dtmf', { digit, source });
  }

  // ---------------------------------------------------------------- in-dialog requests from the peer

  onRequest(req: SipRequest, peer: Peer): void {
    const cseq = parseCSeq(header(req, 'CSeq')!)!;
    if (cseq.seq < this.dialog.remoteSeq && req.method !== 'ACK') {
      this.host.respond(req, peer, responseTo(req, 500, { reason: 'CSeq out of order' }));
      return;
    }
    this.dialog.remoteSeq = Math.max(this.dialog.remoteSeq, cseq.seq);
    switch (req.method) {
      case 'BYE':
        this.host.respond(req, peer, responseTo(req, 200));
        this.log.info('caller hung up (BYE)');
        this.finish('userHangup', 'The caller hung up.');
        return;
      case 'INVITE':
        this.onReinvite(req, peer);
        return;
      case 'INFO':
        this.onInfo(req, peer);
        return;
      case 'OPTIONS':
        this.host.respond(req, peer, responseTo(req, 200, { headers: [['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO']] }));
        return;
      default:
        this.host.respond(req, peer, responseTo(req, 405, { headers: [['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO']] }));
    }
  }

  private onReinvite(req: SipRequest, peer: Peer): void {
    if (this.state !== 'confirmed' || !this.negotiated || !this.media) {
      this.host.respond(req, peer, responseTo(req, 491));
      return;
    }
    let offer: AudioDescription;
    if (!req.body.length) {
      // No offer: answer with our current description (the ACK would carry the answer; we keep ours).
      offer = { address: this.host.sdpAddress(), port: 0, codecs: [this.negotiated.codec], direction: 'sendrecv', ssrc: null, rtcpMux: false, ptime: null };
    } else {
      try {
        offer = parseSdp(req.body.toString('latin1')).audio;
        // Keep the codec of the call; the peer must still offer it.
        negotiate(offer, [this.negotiated.codec.kind], false, (c) => c.pt === this.negotiated!.codec.pt || this.negotiated!.codec.pt < 96);
      } catch (e) {
        const code = e instanceof SdpError ? e.code : 'SDP_MALFORMED';
        this.log.info('re-INVITE refused', { code, message: (e as Error).message });
        this.host.respond(req, peer, responseTo(req, code === 'SDP_NO_COMMON_CODEC' ? 488 : 400, { reason: code === 'SDP_NO_COMMON_CODEC' ? undefined : 'Bad SDP' }));
        return;
      }
      void this.media.start(offer, this.negotiated);
    }
    const contact = parseNameAddr(header(req, 'Contact') ?? '');
    if (contact) this.dialog.remoteTarget = contact.uri;
    const body = Buffer.from(this.sdp(this.negotiated, answerDirection(offer.direction), offer.rtcpMux), 'latin1');
    this.host.respond(
      req,
      peer,
      responseTo(req, 200, { toTag: this.dialog.localTag, headers: [['Contact', this.host.contact(this.peer)], ['Content-Type', 'application/sdp']], body }),
    );
  }

  private onInfo(req: SipRequest, peer: Peer): void {
    const type = (header(req, 'Content-Type') ?? '').toLowerCase();
    const text = req.body.toString('latin1');
    let digit: string | undefined;
    if (type.startsWith('application/dtmf-relay')) digit = /Signal\s*=\s*([0-9*#A-Da-d])/.exec(text)?.[1];
    else if (type.startsWith('application/dtmf')) digit = /^\s*([0-9*#A-Da-d])/.exec(text)?.[1];
    this.host.respond(req, peer, responseTo(req, 200));
    if (digit) this.dtmf(digit.toUpperCase(), 'info');
  }

  // ---------------------------------------------------------------- outbound

  static outbound(host: SipCallHost, peer: Peer, o: { requestUri: string; fromUri: string; toUri: string }): SipCall {
    const dialog: Dialog = {
      callId: `${randomToken(12)}@voxbridge`,
      localTag: randomToken(6),
      remoteTag: '',
      localUri: `<${o.fromUri}>`,
      remoteUri: `<${o.toUri}>`,
      remoteTarget: o.requestUri,
      routeSet: [],
      localSeq: 1,
      remoteSeq: 0,
    };
    return new SipCall(host, 'outbound', dialog, peer);
  }

  /** Builds the INVITE (with `authorization` after a challenge). */
  buildInvite(offer: string, authorization?: [string, string]): SipRequest {
    const headers: [string, string][] = [
      ['Via', this.host.via(this.peer, newBranch())],
      ['Max-Forwards', '70'],
      ['From', `${this.dialog.localUri};tag=${this.dialog.localTag}`],
      ['To', this.dialog.remoteUri],
      ['Call-ID', this.dialog.callId],
      ['CSeq', `${this.dialog.localSeq} INVITE`],
      ['Contact', this.host.contact(this.peer)],
      ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO'],
      ['User-Agent', 'voxbridge'],
      ['Content-Type', 'application/sdp'],
    ];
    if (authorization) headers.push(authorization);
    const req: SipRequest = { kind: 'request', method: 'INVITE', uri: this.dialog.remoteTarget, headers, body: Buffer.from(offer, 'latin1') };
    this.outInvite = req;
    return req;
  }

  /** Our SDP offer for an outbound call. */
  offer(codecs: SdpCodec[], dtmfPt: number | null): string {
    return buildSdp({ sessionId: this.sdpSession, version: this.sdpVersion++, address: this.host.sdpAddress(), port: this.media!.port, codecs, dtmfPt, direction: 'sendrecv' });
  }

  /** 2xx to our INVITE: the dialog is established; ACK it. */
  established(res: SipResponse): void {
    const to = parseNameAddr(header(res, 'To') ?? '');
    this.dialog.remoteTag = to?.params.tag ?? '';
    const contact = parseNameAddr(header(res, 'Contact') ?? '');
    if (contact) this.dialog.remoteTarget = contact.uri;
    this.dialog.routeSet = headerValues(res, 'Record-Route').reverse();
    this.state = 'confirmed';
    this.okResponse = res;
    this.sendAck();
  }

  /** ACK for our 2xx (also re-sent when the 2xx is retransmitted). */
  sendAck(): void {
    if (!this.okResponse || this.direction !== 'outbound') return;
    const req = this.inDialog('ACK', this.dialog.localSeq);
    this.host.send(req, this.peer);
  }

  /** CANCEL the pending outbound INVITE (same branch, RFC 3261 §9.1). */
  private cancel(): void {
    const inv = this.outInvite;
    if (!inv) return;
    const headers: [string, string][] = [
      ['Via', header(inv, 'Via')!],
      ['Max-Forwards', '70'],
      ['From', header(inv, 'From')!],
      ['To', header(inv, 'To')!],
      ['Call-ID', this.dialog.callId],
      ['CSeq', `${this.dialog.localSeq} CANCEL`],
    ];
    void this.host.request({ kind: 'request', method: 'CANCEL', uri: inv.uri, headers, body: Buffer.alloc(0) }, this.peer);
  }

  // ---------------------------------------------------------------- ending

  private inDialog(method: string, seq: number): SipRequest {
    const headers: [string, string][] = [
      ['Via', this.host.via(this.peer, newBranch())],
      ['Max-Forwards', '70'],
      ['From', `${this.dialog.localUri};tag=${this.dialog.localTag}`],
      ['To', `${this.dialog.remoteUri}${this.dialog.remoteTag ? `;tag=${this.dialog.remoteTag}` : ''}`],
      ['Call-ID', this.dialog.callId],
      ['CSeq', `${seq} ${method}`],
    ];
    for (const r of this.dialog.routeSet) headers.push(['Route', r]);
    if (method !== 'ACK') headers.push(['Contact', this.host.contact(this.peer)]);
    return { kind: 'request', method, uri: this.dialog.remoteTarget, headers, body: Buffer.alloc(0) };
  }

  /**
   * Our side ends the call: BYE when established (after a short grace so the
   * last RTP packets of the closing words are played), CANCEL while calling.
   */
  hangup(reason: string, graceMs = 200): void {
    if (this.state === 'ended' || this.state === 'ending') return;
    if (this.state === 'calling') {
      this.log.info('cancelling the outbound call', { reason });
      this.cancel();
      this.finish(reason, `The call was cancelled (${reason}).`);
      return;
    }
    if (this.state === 'ringing') {
      this.reject(reason === 'shutdown' ? 503 : 480);
      return;
    }
    this.state = 'ending';
    this.clearOkTimers();
    this.byeTimer = setTimeout(() => {
      this.log.info('sending BYE', { reason });
      const bye = this.inDialog('BYE', ++this.dialog.localSeq);
      void this.host.request(bye, this.peer).then((r) => {
        if (r.status >= 300) this.log.info('BYE answered with an error', { status: r.status });
        this.finish(reason, 'The agent ended the call.');
      });
    }, graceMs);
  }

  /** Final clean-up (idempotent): media closed, agent ended, host told. */
  finish(reason: string, message: string): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endReason = reason;
    this.clearOkTimers();
    if (this.byeTimer) clearTimeout(this.byeTimer);
    this.media?.close();
    const s = this.session;
    if (s) {
      if (this.output) s.detach(this.output);
      if (!s.ended) s.end(reason, message);
    }
    this.log.info('call ended', { reason, durationMs: Date.now() - this.createdAt, media: this.media?.getStats() });
    this.host.callEnded(this);
  }

  describe(): Record<string, unknown> {
    const uri = parseUri(this.dialog.remoteUri.replace(/^.*<|>.*$/g, ''));
    return {
      CallId: this.id,
      Direction: this.direction,
      State: this.state,
      Remote: uri ? `${uri.user}@${uri.host}` : this.dialog.remoteUri,
      Codec: this.negotiated?.codec.kind ?? null,
      AgentInstanceId: this.session?.id ?? null,
      EndReason: this.endReason,
      Media: this.media?.getStats() ?? null,
    };
  }
}
