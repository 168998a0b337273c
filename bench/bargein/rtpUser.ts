/**
 * The room path of the bench: a participant that joins a mediasoup room through
 * the bridge's signaling (protobuf over WebSocket) and exchanges Opus RTP with
 * the agent over two PlainTransports on loopback, like an RTC client would.
 * Each user has its own Opus encoder, like a real client: packets cannot be
 * cached and replayed across users, because Opus predicts each frame from the
 * encoder's previous ones (a decoder fed packets from interleaved encoders
 * produces loud artefacts). CELT low-delay at complexity 1 keeps the driver's
 * cost at a few tens of µs per frame. Only echo users decode the agent's audio.
 *
 * Paced (`--paced-users`): like a client whose audio device clocks its packets, each
 * frame is made USER_LEAD_MS (echo users ECHO_USER_LEAD_MS) ahead and sent at its time by the addon's pacer thread,
 * so a driver that shares the bridge's two cores and runs up to that much late does
 * not make the users' packets late (a load generator's artefact, which counts as
 * transit in the bridge's latency). The pacer's send records give each packet's real
 * send time and lateness. The thread runs at real-time priority where permitted, as a
 * client's audio thread would. (Before the pacer's absent-caller fix, b85941a, that
 * made the driver's own event loop fall 140-670 ms behind: a caller preempted before
 * the lock stalled the sender, which then woke every 10 µs at real-time priority;
 * BENCHMARKS.md, session 15.)
 */
import dgram from 'node:dgram';
import { RoomSignalingClient } from '../../test/rooms/signalingClient';
import { createOpusEncoder } from '../../src/rooms/opusEncoder';
import { loadWasmOpusDecoder } from '../../src/rooms/opusDecoder';
import { createRtpView, parseRtp, writeRtpHeader } from '../../src/media/rtp';
import { openLoopbackSocket, type LoopbackUdpSocket } from '../../src/sfu/udpSocket';
import { RATE } from './assets';
import { ECHO_DELAY_MS, SimUser } from './users';
import { monoOffset, nativePacer, type NativePacer } from '../../src/sfu/pacedRtp';

const PT = 101;
/**
 * How far ahead a paced user makes its frames: speech and noise users 200 ms (their
 * audio is known in advance; at N = 100 the driver itself ran up to 190 ms late in
 * session 17, which with 40 ms sent the deciding packet late), echo users 80 ms (what
 * they send back is the agent's audio that played ECHO_DELAY_MS (120) before the frame
 * leaves, so a frame can be made at most that long before it leaves, less its clock
 * phase (up to 20) and 20 ms for the agent's packet to have come; with 40 ms, a driver
 * 282 ms late sent the echo late and bunched, session 17's run 9).
 */
export const USER_LEAD_MS = 200;
export const ECHO_USER_LEAD_MS = 80;
/** Send records kept per user (by packet id): 20 s of frames, longer than a round's clip. */
const RECORDS = 1024;

/** The addon's pacer for the simulated users (null: unpaced, sent from the driver's step). */
export function userPacer(wanted: boolean): NativePacer | null {
  const p = wanted ? nativePacer() : null;
  p?.priority(2); // real-time where permitted (see above)
  return p;
}

export class RtpUser extends SimUser {
  private sig!: RoomSignalingClient;
  private rx!: LoopbackUdpSocket;
  private tx!: dgram.Socket;
  private sendPort = 0;
  private sendIp = '127.0.0.1';
  private seq = Math.floor(Math.random() * 65535);
  private ts = Math.floor(Math.random() * 2 ** 31);
  private readonly ssrc = (Math.random() * 2 ** 32) >>> 0;
  private agentPt = -1;
  private readonly view = createRtpView();
  private decoder: { decodeFrame(f: Uint8Array): { channelData: Float32Array[] } } | null = null;
  private readonly encoder = createOpusEncoder({ sampleRate: RATE, channels: 1, application: 2, complexity: 1, bitrate: 32000 });
  private readonly opus = new Uint8Array(1275);
  private queue = -1;
  private off = 0;
  private nextId = 1;
  private readonly dueAt = new Float64Array(RECORDS);
  private readonly sentAt = new Float64Array(RECORDS);
  private readonly recIds = new Uint32Array(64);
  private readonly recSent = new Float64Array(64);

  constructor(pacer: NativePacer | null, ...args: ConstructorParameters<typeof SimUser>) {
    super(...args);
    this.pacer = pacer;
    this.leadMs = this.kind === 'echo' ? ECHO_USER_LEAD_MS : USER_LEAD_MS;
    if (pacer) this.sendsAhead(this.leadMs);
    this.clockPhaseMs = pacer ? this.rnd() * 20 : 0;
  }
  private readonly pacer: NativePacer | null;
  private readonly leadMs: number;
  /**
   * Paced: where this user's 20 ms clock sits against the bridge's, drawn per user and
   * again at each round's start (≥ 800 ms before the user speaks). A real client's audio
   * clock is not aligned with the bridge's frame clock; the driver's 5 ms steps are, in
   * a fixed way per bridge process (users and agent sessions take their phases in the
   * same order), and how long the agent's last packet goes before a decision depends on
   * it: up to a frame of overhead, the same for every barge-in of a cell (session 17: p50
   * 2.4 vs 13.3 ms for two bridges that differ in nothing that matters there).
   */
  private clockPhaseMs: number;

  /**
   * `--uplink-delay MS` (paced users): every 1-4 s an episode of queueing on the user's
   * uplink (a congested Wi-Fi or mobile link, bufferbloat): the delay rises to MS/2-MS
   * over 0.3-0.6 s, stays 1-2 s, and then the queue drains at once. Packets leave late
   * and then bunched; their RTP timestamps stay on the capture clock. This is what the
   * bridge's echo pairing by RTP timestamp is for (BENCHMARKS.md, session 18).
   */
  private delayMs = 0;
  private ep = { from: Infinity, ramp: 1, peak: 0, to: -Infinity };
  private lastSendAt = -Infinity;

  setUplinkDelay(ms: number): void {
    this.delayMs = ms;
    if (ms > 0) this.nextEpisode(performance.now());
  }

  private nextEpisode(after: number): void {
    const from = after + 1000 + this.rnd() * 3000;
    const ramp = 300 + this.rnd() * 300;
    this.ep = { from, ramp, peak: this.delayMs * (0.5 + 0.5 * this.rnd()), to: from + ramp + 1000 + this.rnd() * 1000 };
  }

  /** When a packet captured to leave at `t` leaves the uplink. */
  private uplinkAt(t: number): number {
    if (t >= this.ep.to) this.nextEpisode(t);
    const delay = t < this.ep.from ? 0 : this.ep.peak * Math.min(1, (t - this.ep.from) / this.ep.ramp);
    // in order: after an episode the queued packets leave together, then the stream is on time again
    this.lastSendAt = Math.max(this.lastSendAt, t + delay);
    return this.lastSendAt;
  }

  /**
   * Paced echo users: the agent's decoded frames, each placed at the time it plays
   * (by its RTP timestamp from the first packet of its talk spurt, as a client's
   * playout buffer does), so the echo in a frame is the audio that played ECHO_DELAY_MS
   * before that frame leaves, however late this process runs.
   */
  private readonly played: { at: number; pcm: Int16Array }[] = [];
  private spurt = { ts: 0, at: 0, lastTs: 0, lastAt: -1e9 };

  private playout(ts: number, marker: boolean, pcm: Int16Array, now: number): void {
    const sp = this.spurt;
    const step = (ts - sp.lastTs) | 0; // RTP timestamps wrap
    // a new talk spurt (marker, or the timestamps jump); not a late packet: this
    // process may read a burst of them long after they came
    if (marker || step <= 0 || step > 960 * 10 || now - sp.lastAt > 2000) {
      sp.ts = ts;
      sp.at = now;
    }
    sp.lastTs = ts;
    sp.lastAt = now;
    const at = sp.at + ((ts - sp.ts) | 0) / 48;
    this.played.push({ at, pcm });
    if (this.played.length > 64) this.played.shift();
  }

  protected override echoFor(nominalMs: number): Int16Array | null {
    if (!this.pacer) return super.echoFor(nominalMs);
    const want = nominalMs + this.leadMs + this.clockPhaseMs - ECHO_DELAY_MS;
    for (let i = this.played.length - 1; i >= 0; i--) {
      const p = this.played[i];
      if (p.at <= want + 10) return want - p.at < 10 ? p.pcm : null;
    }
    return null;
  }

  protected override onRoundStart(): void {
    if (!this.pacer) return super.onRoundStart();
    // A new phase is a capture clock that jumped (as a client's restarted audio device):
    // its RTP timestamps jump with it, so they stay on the capture clock the bridge pairs
    // the echo by (without this, each round moved the packets 0-20 ms against their
    // timestamps, which no client does).
    const old = this.clockPhaseMs;
    this.clockPhaseMs = this.rnd() * 20;
    this.ts = (this.ts + Math.round((this.clockPhaseMs - old) * 48)) >>> 0;
  }

  async connect(url: string, _apiKey: string, startBody: Record<string, unknown>): Promise<void> {
    const roomId = String(startBody.RoomId);
    const uid = `user-${this.index}`;
    const started = await this.api('StartVoiceChat', { ...startBody, AgentConfig: { TargetUserIds: [uid] } });
    this.agentId = started.AgentInstanceId;
    const { Token } = await this.api('CreateJoinToken', { RoomId: roomId, UserId: uid, Role: 'user', TtlSeconds: 3600 });
    this.sig = new RoomSignalingClient(url);
    const joined = await this.sig.ok('join', { roomId, token: Token });
    if (!joined.agents.length) await this.sig.notification('agentJoined', () => true);
    const caps = await this.sig.ok('getRouterRtpCapabilities');
    await this.sig.ok('setRtpCapabilities', { rtpCapabilitiesJson: caps.rtpCapabilitiesJson });

    if (this.kind === 'echo') {
      const Dec = await loadWasmOpusDecoder();
      const d = new Dec({ sampleRate: RATE, channels: 1 });
      await d.ready;
      this.decoder = d;
    }
    // The agent's packets dated by the kernel as they reach the socket (the addon's socket;
    // node:dgram without it): a client's playout and its view of t_stop do not move with
    // how late this driver reads them.
    this.rx = await openLoopbackSocket(
      (pkt, arrivalMs) => {
        if (this.agentPt < 0 || !parseRtp(pkt, this.view) || this.view.payloadType !== this.agentPt) return; // RTCP shares the port
        const at = arrivalMs - performance.timeOrigin;
        let pcm: Int16Array | null = null;
        if (this.decoder) {
          const d = this.decoder.decodeFrame(pkt.subarray(this.view.payloadOffset, this.view.payloadOffset + this.view.payloadLength));
          pcm = Int16Array.from(d.channelData[0] ?? [], (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
        }
        if (pcm && this.pacer) this.playout(this.view.timestamp, this.view.marker, pcm, at);
        this.onAgentPacket(this.pacer ? null : pcm, at);
      },
      () => undefined,
    );
    const recvT = await this.sig.ok('createPlainTransport', { direction: 2, rtcpMux: true, comedia: false });
    await this.sig.ok('connectPlainTransport', { transportId: recvT.transportId, ip: '127.0.0.1', port: this.rx.port() });
    const nc = await this.sig.notification('newConsumer', (m) => m.fromAgent);
    this.agentPt = JSON.parse(nc.rtpParametersJson).codecs[0].payloadType;
    await this.sig.ok('resumeConsumer', { consumerId: nc.consumerId });

    this.tx = dgram.createSocket('udp4');
    await new Promise<void>((r) => this.tx.bind(0, '127.0.0.1', r));
    const sendT = await this.sig.ok('createPlainTransport', { direction: 1, rtcpMux: true, comedia: false });
    // paced: the transport expects the pacer queue's socket, which sends to it
    let fromPort = this.tx.address().port;
    if (this.pacer) {
      const [q, port] = this.pacer.open();
      this.queue = q;
      this.off = monoOffset(this.pacer);
      fromPort = port;
    }
    await this.sig.ok('connectPlainTransport', { transportId: sendT.transportId, ip: '127.0.0.1', port: fromPort });
    if (this.pacer) this.pacer.connect(this.queue, sendT.port);
    this.sendPort = sendT.port;
    this.sendIp = sendT.ip;
    await this.sig.ok('produce', {
      transportId: sendT.transportId,
      kind: 'audio',
      rtpParametersJson: JSON.stringify({
        codecs: [{ mimeType: 'audio/opus', payloadType: PT, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }],
        encodings: [{ ssrc: this.ssrc }],
      }),
    });
  }

  protected sendFrame(pcm: Int16Array, nominalMs: number): number | void {
    const n = this.encoder.encode(pcm, this.opus);
    // A fresh buffer per packet: dgram may still hold it after send() returns.
    const pkt = Buffer.allocUnsafe(12 + n);
    writeRtpHeader(pkt, 0, PT, false, this.seq, this.ts, this.ssrc);
    pkt.set(this.opus.subarray(0, n), 12);
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + 960) >>> 0;
    if (!this.pacer) {
      this.tx.send(pkt, this.sendPort, this.sendIp);
      return;
    }
    this.drainRecords();
    const id = this.nextId++;
    // due on the pacer's clock: the step's schedule (performance.now()) + the lead
    let sendAt = nominalMs + this.leadMs + this.clockPhaseMs;
    if (this.delayMs > 0) sendAt = this.uplinkAt(sendAt);
    const due = sendAt + performance.timeOrigin + this.off;
    this.dueAt[id % RECORDS] = due;
    this.sentAt[id % RECORDS] = NaN;
    this.pacer.enqueue(this.queue, pkt, due, id);
    return id;
  }

  private drainRecords(): void {
    if (!this.pacer) return;
    for (;;) {
      const n = this.pacer.drain(this.queue, this.recIds, this.recSent);
      for (let i = 0; i < n; i++) this.sentAt[this.recIds[i] % RECORDS] = this.recSent[i];
      if (n < this.recIds.length) return;
    }
  }

  protected override sentRecord(id: number): { sentMs: number; lateMs: number } | undefined {
    if (!this.pacer || this.nextId - id > RECORDS) return undefined;
    this.drainRecords();
    const sent = this.sentAt[id % RECORDS];
    if (!Number.isFinite(sent)) return undefined;
    return { sentMs: sent - this.off - performance.timeOrigin, lateMs: sent - this.dueAt[id % RECORDS] };
  }

  close(): void {
    this.sig?.close();
    this.rx?.close();
    this.tx?.close();
    if (this.pacer && this.queue >= 0) this.pacer.close(this.queue);
    this.queue = -1;
  }
}
