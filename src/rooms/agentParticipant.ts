/**
 * An agent as a room participant: its audio on a loopback PlainTransport (RTP over
 * UDP on 127.0.0.1, see ../sfu/loopbackRtp.ts), its data channels on a DirectTransport.
 *  - listens: a consumer of each target user's audio (TargetUserIds, or every
 *    user). With the addon, the loopback socket is read by its receive thread
 *    (../sfu/voiceRx.ts), which decodes, runs the agent's VAD and takes the barge-in
 *    decision there (stopping the agent's voice at once) → session.pushUserFrame;
 *    without it, OpusRtpReceiver → session.pushUserAudio(pcm16k, arrivalMs). After a
 *    takeover, the human's audio → session.pushHumanAudio (agent-side subtitles);
 *  - speaks: the session's AgentOutput → OpusRtpSender → an audio Producer
 *    (each RTP packet sent at the core clock's pace, unbuffered);
 *  - talks: one DataProducer per peer ("agent", JSON text) for subtitles and
 *    events, so an error can go back to the one peer that caused it;
 *  - obeys: a DataConsumer of each peer's "ctrl" data channel; ctrl TLV frames
 *    → session.interrupt('ctrl'); malformed frames → an error to that peer.
 *
 * The output is attached (and so the welcome message starts) when the first
 * target user is ready to hear it: its consumer of the agent's audio is resumed
 * and its data channel is open (or it has none).
 */
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { createLogger, type Logger } from '../log';
import { nowMs } from '../clock';
import { decodeCtrlMessage } from '../control/ctrlFrame';
import { CORE_RATE, FRAME_MS, type AgentOutput, type AgentSession } from '../agent/session';
import type { VadStream } from '../native/vadTypes';
import type { Peer } from './peer';
import type { Room } from './room';
import { LoopbackRtp } from '../sfu/loopbackRtp';
import { PacedRtpOut } from '../sfu/pacedRtp';
import { DEFAULT_AUDIO_LEAD_MS } from '../config';
import { OpusRtpSender, OPUS_PAYLOAD_TYPE } from './opusRtpSender';
import { OpusRtpReceiver } from './opusRtpReceiver';
import { RxFlag, type RxFrame } from '../sfu/voiceRx';
import { vadInterruptDuration } from '../agent/interruptPolicy';

/** Messages held for a peer whose data channel is not open yet. */
const MAX_HELD = 500;
/** A ready user without an open data channel still gets the agent after this. */
const DATA_WAIT_MS = 2000;
/** The last data message (agentEnded) gets this long to leave before the transport closes. */
const END_LINGER_MS = 300;

interface Listener {
  uid: string;
  human: boolean;
  consumer: types.Consumer;
  /** The event-loop path's decoder (null on the receive thread). */
  receiver: OpusRtpReceiver | null;
}

interface Outlet {
  peer: Peer;
  dataProducer: types.DataProducer;
  ready: boolean;
  held: string[];
}

export interface AgentParticipantDeps {
  createVad(opts: { sampleRate: number; frameMs: number; interruptMs: number }): VadStream;
  /** The agent's audio is made this far ahead and sent by the native pacer (0: at the tick). */
  audioLeadMs?: number;
  /** Users' voices read, decoded and judged on the addon's receive thread (default true; false: on the event loop). */
  voiceThread?: boolean;
}

export class AgentParticipant extends EventEmitter {
  audioProducer: types.Producer | null = null;
  private sender: OpusRtpSender | null = null;
  private readonly voices = new Map<string, Listener>();
  private readonly outlets = new Map<string, Outlet>();
  private readonly ctrl = new Map<string, types.DataConsumer>();
  private activeUid: string | null = null;
  private attached = false;
  private closed = false;
  private attachTimer: NodeJS.Timeout | null = null;
  private readonly resumed = new Set<Peer>();
  private readonly log: Logger;
  readonly output: AgentOutput;
  framesSent = 0;
  /** The id of the frame being sent (the session's, for the pacer's send report). */
  private frameId = 0;
  sendErrors = 0;

  static async create(room: Room, session: AgentSession, deps: AgentParticipantDeps): Promise<AgentParticipant> {
    const transport = await room.router.createDirectTransport({ maxMessageSize: 262144 });
    let media: LoopbackRtp | null = null;
    let paced: PacedRtpOut | null = null;
    try {
      media = await LoopbackRtp.create(room.router, { agentId: session.id }, deps.voiceThread === false ? 'native' : 'voice');
      const lead = deps.audioLeadMs ?? DEFAULT_AUDIO_LEAD_MS;
      // Without the native addon (or with lead 0) the frames leave at the tick.
      if (lead > 0) paced = await PacedRtpOut.create(room.router, lead, { agentId: session.id, paced: true });
      const a = new AgentParticipant(room, session, transport, media, paced, deps);
      a.useVoiceThread();
      await a.startAudio();
      return a;
    } catch (e) {
      paced?.close();
      media?.close();
      transport.close();
      throw e;
    }
  }

  private constructor(
    private readonly room: Room,
    readonly session: AgentSession,
    readonly transport: types.DirectTransport,
    readonly media: LoopbackRtp,
    readonly paced: PacedRtpOut | null,
    private readonly deps: AgentParticipantDeps,
  ) {
    super();
    this.log = createLogger('room.agent', { room: room.id, agent: session.id });
    this.output = {
      sendAudio: (frame, talkSpurtStart, frameTimeMs, frameId) => this.sendAudio(frame, talkSpurtStart, frameTimeMs, frameId),
      sendMessage: (msg) => this.broadcast(JSON.stringify(msg)),
      // The pacer's queue (at most the lead) is dropped; the talk-spurt is closed
      // with silence so receivers stop at once.
      clear: () => this.endTalkSpurt(),
      paced: paced ?? undefined,
      end: (reason) => void setTimeout(() => this.close(reason), END_LINGER_MS).unref(),
    };
    session.on('message', this.onSessionMessage);
    session.once('ended', this.onSessionEnded);
  }

  /** With the receive thread: the session's user voice is decided there (before any audio arrives). */
  private useVoiceThread(): void {
    const rx = this.media.voiceRx;
    if (!rx) return;
    rx.setVad(Math.max(0, vadInterruptDuration(this.session.config.interrupt)));
    this.session.useOffLoopVoice({
      setInterruptMs: (ms) => rx.setInterruptMs(ms),
      farEnd: (atMs, frame) => rx.farEnd(atMs, frame),
      farEndCut: (atMs, reissueFromMs) => rx.farEndCut(atMs, reissueFromMs),
      trackRequestFd: (fd) => rx.trackRequestFd(fd),
      arm: (mode) => rx.arm(mode, this.paced?.queueId ?? -1),
      pump: () => rx.pump(),
      // a decision the session did not act on: lift the gate (and close the spurt it cut)
      settle: () => {
        if (this.paced?.gated) this.endTalkSpurt();
      },
    });
  }

  get userId(): string {
    return this.session.config.agentUserId;
  }

  info(): Record<string, unknown> {
    return { agentInstanceId: this.session.id, userId: this.userId, state: this.session.state };
  }

  private async startAudio(): Promise<void> {
    const paced = this.paced;
    const sender = new OpusRtpSender({
      sinkCopies: paced !== null,
      send: paced
        ? // an audio frame leaves `lead` after its frame time; the spurt-ending silence at once
          (pkt, frameTimeMs) => void paced.send(pkt, frameTimeMs === undefined ? nowMs() : frameTimeMs + paced.leadMs, frameTimeMs === undefined ? 0 : this.frameId)
        : (pkt) => this.media.send(pkt),
    });
    this.sender = sender;
    this.audioProducer = await (paced ?? this.media).produce({
      kind: 'audio',
      rtpParameters: {
        mid: 'agent-audio',
        codecs: [
          {
            mimeType: 'audio/opus',
            payloadType: OPUS_PAYLOAD_TYPE,
            clockRate: 48000,
            channels: 2,
            parameters: { useinbandfec: 0, 'sprop-stereo': 0 },
            rtcpFeedback: [],
          },
        ],
        encodings: [{ ssrc: sender.ssrc }],
      },
      appData: { agentId: this.session.id, uid: this.userId },
    });
  }

  private sendAudio(frame: Int16Array, talkSpurtStart: boolean, frameTimeMs?: number, frameId = 0): void {
    const p = this.audioProducer;
    if (!p || p.closed || !this.sender) return;
    this.frameId = frameId;
    try {
      this.sender.sendFrame(frame, talkSpurtStart, frameTimeMs);
      this.framesSent++;
    } catch (e) {
      // The frame clock swallows ticker errors: report the first one of a run here.
      if (this.sendErrors++ === 0) this.log.error('agent audio frame not sent', { error: e });
    }
  }

  private endTalkSpurt(): void {
    const p = this.audioProducer;
    if (!p || p.closed || !this.sender) {
      // nothing to send on, but a barge-in's hold() on the pacer ends with a flush
      this.paced?.flush();
      return;
    }
    try {
      // Frames handed in ahead and not yet sent never leave: the stream goes on from
      // the last one that did, so receivers see no gap to conceal.
      if (this.paced) this.sender.rewind(this.paced.flush());
      this.sender.endTalkSpurt();
    } catch (e) {
      this.log.warn('talk-spurt end not sent', { error: e });
    }
  }

  // ------------------------------------------------------------------ peers

  private isTarget(peer: Peer): boolean {
    if (peer.role !== 'user') return false;
    const t = this.session.config.targetUserIds;
    return t.length === 0 || t.includes(peer.uid);
  }

  private isHuman(peer: Peer): boolean {
    return peer.role === 'human-agent' && peer.agentId === this.session.id;
  }

  /** The peer can receive now (RTP capabilities + receive transport). */
  onPeerReady(peer: Peer): void {
    if (this.closed || !peer.recvTransport || !peer.rtpCapabilities) return;
    if (this.audioProducer && !this.audioProducer.closed) void this.room.consume(peer, this.audioProducer, this.userId, this.session.id);
    void this.openOutlet(peer);
  }

  private async openOutlet(peer: Peer): Promise<void> {
    if (this.outlets.has(peer.sessionId) || !peer.sctpCapabilities) return;
    const dataProducer = await this.transport.produceData({ label: 'agent', protocol: 'json', appData: { peer: peer.sessionId } });
    const outlet: Outlet = { peer, dataProducer, ready: false, held: [] };
    this.outlets.set(peer.sessionId, outlet);
    if (this.isHuman(peer)) {
      // The human's console starts with the conversation so far.
      for (const h of this.session.history.all()) {
        outlet.held.push(JSON.stringify({ type: h.role === 'user' ? 1003 : 1002, data: { text: h.content, sentenceId: 0, end: true, history: true } }));
      }
    }
    const dc = await this.room.consumeData(peer, dataProducer, this.userId, this.session.id);
    if (!dc) {
      dataProducer.close();
      this.outlets.delete(peer.sessionId);
    }
  }

  onAudioConsumerResumed(peer: Peer): void {
    this.resumed.add(peer);
    this.maybeAttach(peer);
  }

  onDataReady(peer: Peer): void {
    const o = this.outlets.get(peer.sessionId);
    if (!o || o.ready) return;
    o.ready = true;
    for (const m of o.held) o.dataProducer.send(m);
    o.held = [];
    this.maybeAttach(peer);
  }

  private maybeAttach(peer: Peer): void {
    if (this.attached || this.closed || !this.isTarget(peer) || !this.resumed.has(peer)) return;
    const o = this.outlets.get(peer.sessionId);
    if (!peer.sctpCapabilities || o?.ready) return this.attach();
    this.attachTimer ??= setTimeout(() => this.attach(), DATA_WAIT_MS);
  }

  private attach(): void {
    if (this.attached || this.closed || this.session.ended) return;
    if (this.attachTimer) clearTimeout(this.attachTimer);
    this.attached = true;
    this.session.attach(this.output);
    this.log.info('agent attached to the room');
  }

  /** A peer's send transport is connected: a takeover human is now "connected". */
  onPeerTransportUp(peer: Peer): void {
    if (!this.isHuman(peer) || !this.session.isTakenOver) return;
    try {
      this.session.humanConnected(peer.uid, this.deps.createVad({ sampleRate: CORE_RATE, frameMs: FRAME_MS, interruptMs: 0 }));
    } catch (e) {
      this.log.warn('humanConnected refused', { uid: peer.uid, error: e });
    }
  }

  onPeerProducer(peer: Peer, producer: types.Producer): void {
    if (this.closed || producer.kind !== 'audio') return;
    const human = this.isHuman(peer);
    if (!human && !this.isTarget(peer)) return;
    void this.listen(peer.uid, producer, human).catch((e) => this.log.warn('cannot consume participant audio', { uid: peer.uid, error: e }));
  }

  private async listen(uid: string, producer: types.Producer, human: boolean): Promise<void> {
    if (this.media.voiceRx) return this.listenOnThread(uid, producer, human);
    // packets that arrive before the decoder is ready are dropped
    let ready: OpusRtpReceiver | null = null;
    const consumer = await this.media.consume(producer.id, this.room.router.rtpCapabilities, (pkt, at) => ready?.push(pkt, at));
    if (this.closed) return void consumer.close();
    const pt = consumer.rtpParameters.codecs[0]?.payloadType;
    const receiver = new OpusRtpReceiver((pcm, at, media) => this.onVoice(uid, human, pcm, at, media), pt);
    await receiver.start();
    if (this.closed || consumer.closed) return void receiver.close();
    const l: Listener = { uid, human, consumer, receiver };
    this.voices.set(consumer.id, l);
    ready = receiver;
    const gone = (): void => {
      receiver.close();
      this.voices.delete(consumer.id);
      if (this.activeUid === uid) this.activeUid = null;
    };
    consumer.on('producerclose', gone);
    consumer.on('transportclose', gone);
  }

  private async listenOnThread(uid: string, producer: types.Producer, human: boolean): Promise<void> {
    const consumer = await this.media.consumeVoice(producer.id, this.room.router.rtpCapabilities, { human, mayLead: !human }, (f) =>
      this.onVoiceFrame(uid, human, f),
    );
    if (this.closed) return void consumer.close();
    this.voices.set(consumer.id, { uid, human, consumer, receiver: null });
    const gone = (): void => {
      this.voices.delete(consumer.id);
      if (this.activeUid === uid) this.activeUid = null;
    };
    consumer.on('producerclose', gone);
    consumer.on('transportclose', gone);
  }

  /** A frame from the receive thread: the user voice's come with the VAD's results (the thread picks the voice, as onVoice does). */
  private onVoiceFrame(uid: string, human: boolean, f: RxFrame): void {
    if (this.session.ended) return;
    if (human) return this.session.pushHumanAudio(f.pcm, f.arrivalMs);
    if ((f.flags & RxFlag.VadRan) === 0) return;
    this.activeUid = uid;
    const fired = (f.flags & RxFlag.Fired) !== 0;
    if (fired && f.flushed >= 0) this.paced?.noteGate(f.flushed);
    this.session.pushUserFrame(f.pcm, f.arrivalMs, f.flags, f.out, fired ? f.decisionMs : null, f.wireAbortMs, f.mediaMs);
  }

  /** One voice at a time feeds the session's user input: the first target heard (until it leaves). */
  private onVoice(uid: string, human: boolean, pcm: Int16Array, arrivalMs: number, mediaMs: number): void {
    if (this.session.ended) return;
    if (human) return this.session.pushHumanAudio(pcm, arrivalMs);
    if (this.activeUid === null) this.activeUid = uid;
    if (uid === this.activeUid) this.session.pushUserAudio(pcm, arrivalMs, mediaMs);
  }

  onPeerDataProducer(peer: Peer, dp: types.DataProducer): void {
    if (this.closed || dp.label !== 'ctrl') return;
    void this.transport
      .consumeData({ dataProducerId: dp.id })
      .then((dc) => {
        if (this.closed) return void dc.close();
        this.ctrl.set(dc.id, dc);
        dc.on('message', (msg: Buffer) => this.onCtrl(peer, msg));
        const gone = (): void => void this.ctrl.delete(dc.id);
        dc.on('dataproducerclose', gone);
        dc.on('transportclose', gone);
      })
      .catch((e) => this.log.warn('cannot consume ctrl channel', { uid: peer.uid, error: e }));
  }

  private onCtrl(peer: Peer, msg: Buffer): void {
    const r = decodeCtrlMessage(msg);
    for (const c of r.commands) {
      if (c.Command === 'interrupt' && !this.session.ended) {
        try {
          this.session.interrupt('ctrl');
        } catch (e) {
          this.log.debug('interrupt refused', { error: e });
        }
      }
    }
    if (r.error) this.sendTo(peer, JSON.stringify({ type: 'error', data: { code: r.error.code, message: r.error.message } }));
  }

  removePeer(peer: Peer): void {
    this.resumed.delete(peer);
    const o = this.outlets.get(peer.sessionId);
    if (o) {
      o.dataProducer.close();
      this.outlets.delete(peer.sessionId);
    }
  }

  // ------------------------------------------------------------------ data

  private deliver(o: Outlet, text: string): void {
    if (o.dataProducer.closed) return;
    if (o.ready) o.dataProducer.send(text);
    else if (o.held.length < MAX_HELD) o.held.push(text);
  }

  private broadcast(text: string): void {
    for (const o of this.outlets.values()) this.deliver(o, text);
  }

  private sendTo(peer: Peer, text: string): void {
    const o = this.outlets.get(peer.sessionId);
    if (o) this.deliver(o, text);
  }

  private readonly onSessionMessage = (msg: Record<string, unknown>): void => {
    if (msg.type === 'humanTakeoverWillStart') {
      // The human speaks from now on: the agent's voice leaves the room.
      this.audioProducer?.close();
      this.log.info('agent audio closed for takeover');
    }
    if (!this.attached) this.broadcast(JSON.stringify(msg));
  };

  private readonly onSessionEnded = (reason: string): void => {
    setTimeout(() => this.close(reason), END_LINGER_MS).unref();
  };

  /** Idempotent: leaves the room (closes both transports and everything on them). */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.attachTimer) clearTimeout(this.attachTimer);
    this.session.off('message', this.onSessionMessage);
    this.session.off('ended', this.onSessionEnded);
    if (this.attached) this.session.detach(this.output);
    for (const l of this.voices.values()) l.receiver?.close();
    this.voices.clear();
    this.paced?.close();
    this.media.close();
    this.transport.close();
    if (!this.session.ended) this.session.end(reason);
    this.emit('closed', reason);
  }
}
