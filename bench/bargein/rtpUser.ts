/**
 * The room path of the bench: a participant that joins a mediasoup room through
 * the bridge's signaling (protobuf over WebSocket) and exchanges Opus RTP with
 * the agent over two PlainTransports on loopback, like an RTC client would.
 * Each user has its own Opus encoder, like a real client: packets cannot be
 * cached and replayed across users, because Opus predicts each frame from the
 * encoder's previous ones (a decoder fed packets from interleaved encoders
 * produces loud artefacts). CELT low-delay at complexity 1 keeps the driver's
 * cost at a few tens of µs per frame. Only echo users decode the agent's audio.
 */
import dgram from 'node:dgram';
import { RoomSignalingClient } from '../../test/rooms/signalingClient';
import { createOpusEncoder } from '../../src/rooms/opusEncoder';
import { loadWasmOpusDecoder } from '../../src/rooms/opusDecoder';
import { createRtpView, parseRtp, writeRtpHeader } from '../../src/media/rtp';
import { RATE } from './assets';
import { SimUser } from './users';

const PT = 101;

export class RtpUser extends SimUser {
  private sig!: RoomSignalingClient;
  private rx!: dgram.Socket;
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
    this.rx = dgram.createSocket('udp4');
    await new Promise<void>((r) => this.rx.bind(0, '127.0.0.1', r));
    const recvT = await this.sig.ok('createPlainTransport', { direction: 2, rtcpMux: true, comedia: false });
    await this.sig.ok('connectPlainTransport', { transportId: recvT.transportId, ip: '127.0.0.1', port: this.rx.address().port });
    const nc = await this.sig.notification('newConsumer', (m) => m.fromAgent);
    this.agentPt = JSON.parse(nc.rtpParametersJson).codecs[0].payloadType;
    this.rx.on('message', (pkt) => {
      if (!parseRtp(pkt, this.view) || this.view.payloadType !== this.agentPt) return; // RTCP shares the port
      let pcm: Int16Array | null = null;
      if (this.decoder) {
        const d = this.decoder.decodeFrame(pkt.subarray(this.view.payloadOffset, this.view.payloadOffset + this.view.payloadLength));
        pcm = Int16Array.from(d.channelData[0] ?? [], (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
      }
      this.onAgentPacket(pcm);
    });
    await this.sig.ok('resumeConsumer', { consumerId: nc.consumerId });

    this.tx = dgram.createSocket('udp4');
    await new Promise<void>((r) => this.tx.bind(0, '127.0.0.1', r));
    const sendT = await this.sig.ok('createPlainTransport', { direction: 1, rtcpMux: true, comedia: false });
    await this.sig.ok('connectPlainTransport', { transportId: sendT.transportId, ip: '127.0.0.1', port: this.tx.address().port });
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

  protected sendFrame(pcm: Int16Array): void {
    const n = this.encoder.encode(pcm, this.opus);
    // A fresh buffer per packet: dgram may still hold it after send() returns.
    const pkt = Buffer.allocUnsafe(12 + n);
    writeRtpHeader(pkt, 0, PT, false, this.seq, this.ts, this.ssrc);
    pkt.set(this.opus.subarray(0, n), 12);
    this.tx.send(pkt, this.sendPort, this.sendIp);
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + 960) >>> 0;
  }

  close(): void {
    this.sig?.close();
    this.rx?.close();
    this.tx?.close();
  }
}
