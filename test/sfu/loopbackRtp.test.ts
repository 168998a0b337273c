import type dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers/wait';
import { udp } from '../helpers/udp';
import { WorkerPool } from '../../src/sfu/workerPool';
import { LoopbackRtp } from '../../src/sfu/loopbackRtp';
import type { MediasoupConfig } from '../../src/config';
import { buildRtp, createRtpView, parseRtp } from '../../src/media/rtp';
import { nativeAddon } from '../../src/native/addon';

const hasNativeUdp = !!(nativeAddon() as unknown as { NativeUdp?: unknown } | null)?.NativeUdp;

const cfg: MediasoupConfig = { numWorkers: 1, logLevel: 'warn', rtcMinPort: 43000, rtcMaxPort: 43499, listenIp: '127.0.0.1', announcedIp: null };
const PCMU = { mimeType: 'audio/PCMU', clockRate: 8000, payloadType: 0 };

describe('LoopbackRtp (real mediasoup worker)', () => {
  let pool: WorkerPool | undefined;
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await pool?.close();
    pool = undefined;
  });

  for (const socket of ['native', 'dgram'] as const) {
    it.runIf(socket === 'dgram' || hasNativeUdp)(`${socket} socket: delivers a participant's RTP to the consumer's handler by SSRC, and sends the agent's RTP to a participant`, async () => {
      pool = new WorkerPool(cfg);
      await pool.start();
      const router = await pool.createRouter();
      const loop = await LoopbackRtp.create(router, {}, socket);
      expect(loop.arrivalDating).toBe(socket === 'native' ? 'kernel' : 'read');

      // a participant sending PCMU over its own PlainTransport
      const user = await udp();
      sockets.push(user);
      const userT = await router.createPlainTransport({ listenIp: { ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
      const producer = await userT.produce({ kind: 'audio', rtpParameters: { codecs: [PCMU], encodings: [{ ssrc: 1111 }] } });
      const got: { ssrc: number; payload: number[]; at: number }[] = [];
      const view = createRtpView();
      const consumer = await loop.consume(producer.id, router.rtpCapabilities, (pkt, at) => {
        parseRtp(pkt, view);
        got.push({ ssrc: view.ssrc, payload: [...pkt.subarray(view.payloadOffset, view.payloadOffset + view.payloadLength)], at });
      });
      const before = Date.now();
      for (let i = 0; i < 5; i++) user.send(buildRtp(0, i === 0, 100 + i, 160 * i, 1111, Buffer.alloc(160, i + 1)), userT.tuple.localPort, '127.0.0.1');
      await until(() => got.length === 5);
      expect(new Set(got.map((g) => g.ssrc))).toEqual(new Set([consumer.rtpParameters.encodings![0].ssrc]));
      expect(got.map((g) => g.payload[0])).toEqual([1, 2, 3, 4, 5]);
      expect(got[0].at).toBeGreaterThanOrEqual(before - 1);
      expect(loop.stats.received).toBe(5);

      // the agent's producer on the loopback transport, consumed by another participant
      const listener = await udp();
      sockets.push(listener);
      const heard: number[] = [];
      listener.on('message', (pkt) => {
        if (parseRtp(pkt, view) && view.payloadType < 64) heard.push(pkt[view.payloadOffset]);
      });
      const agentProducer = await loop.produce({ kind: 'audio', rtpParameters: { codecs: [PCMU], encodings: [{ ssrc: 2222 }] } });
      const listenerT = await router.createPlainTransport({ listenIp: { ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
      await listenerT.connect({ ip: '127.0.0.1', port: listener.address().port });
      await listenerT.consume({ producerId: agentProducer.id, rtpCapabilities: router.rtpCapabilities });
      for (let i = 0; i < 5; i++) loop.send(buildRtp(0, i === 0, 500 + i, 160 * i, 2222, Buffer.alloc(160, 10 + i)));
      await until(() => heard.length === 5);
      expect(heard).toEqual([10, 11, 12, 13, 14]);
      expect(loop.stats.sent).toBe(5);

      // closing the router closes the transport and the socket with it
      router.close();
      expect(loop.transport.closed).toBe(true);
      loop.send(buildRtp(0, false, 1, 1, 2222, Buffer.alloc(10)));
      expect(loop.stats.sent).toBe(5);
    });
  }
});
