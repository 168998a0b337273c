import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/sfu/workerPool';
import type { MediasoupConfig } from '../../src/config';
import { buildRtp, createRtpView, parseRtp } from '../../src/media/rtp';

const cfg: MediasoupConfig = {
  numWorkers: 1,
  logLevel: 'warn',
  rtcMinPort: 41000,
  rtcMaxPort: 41999,
  listenIp: '127.0.0.1',
  announcedIp: null,
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


describe('WorkerPool (real mediasoup worker)', () => {
  let pool: WorkerPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('createRouter() offers Opus 48 kHz stereo, PCMU and PCMA', async () => {
    pool = new WorkerPool(cfg);
    await pool.start();
    const router = await pool.createRouter();
    const codecs = router.rtpCapabilities.codecs ?? [];
    expect(codecs.find((c) => c.mimeType === 'audio/opus')).toMatchObject({ clockRate: 48000, channels: 2 });
    expect(codecs.find((c) => c.mimeType === 'audio/PCMU')).toMatchObject({ clockRate: 8000 });
    expect(codecs.find((c) => c.mimeType === 'audio/PCMA')).toMatchObject({ clockRate: 8000 });
  });

  it('RTP sent over UDP to a PlainTransport producer arrives at a DirectTransport consumer', async () => {
    pool = new WorkerPool(cfg);
    await pool.start();
    const router = await pool.createRouter();
    const plain = await router.createPlainTransport({ listenIp: { ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const ssrc = 0x11223344;
    const producer = await plain.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 }],
        encodings: [{ ssrc }],
      },
    });
    const direct = await router.createDirectTransport();
    const consumer = await direct.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const got: Buffer[] = [];
    consumer.on('rtp', (packet) => got.push(packet));

    const sock = dgram.createSocket('udp4');
    const total = 50;
    for (let i = 0; i < total; i++) {
      const payload = Buffer.from(`opus-frame-${i.toString().padStart(3, '0')}`);
      sock.send(buildRtp(111, i === 0, 1000 + i, 960 * i, ssrc, payload), plain.tuple.localPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 2));
    }
    const deadline = Date.now() + 3000;
    while (got.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sock.close();

    expect(got.length).toBe(total);
    // The consumer rewrites SSRC/seq and may add header extensions, but forwards
    // the payload untouched, in order.
    const view = createRtpView();
    const payloads = got.map((p) => {
      expect(parseRtp(p, view)).toBe(true);
      return p.subarray(view.payloadOffset, view.payloadOffset + view.payloadLength).toString();
    });
    expect(payloads).toEqual(Array.from({ length: total }, (_, i) => `opus-frame-${i.toString().padStart(3, '0')}`));
    expect(got[0].readUInt32BE(8)).toBe(consumer.rtpParameters.encodings![0].ssrc);
  });

  it('close() ends every worker process', async () => {
    pool = new WorkerPool({ ...cfg, numWorkers: 2 });
    await pool.start();
    const pids = pool.pids();
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    await pool.close();
    expect(pids.some(alive)).toBe(false);
    await expect(pool.createRouter()).rejects.toMatchObject({ name: 'InvalidStateError', code: 'SfuClosed' });
  });
});
