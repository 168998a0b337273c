/**
 * PacedStreamOut (WebSocket frames) over a real loopback TCP connection: the bytes the peer reads are whole
 * RFC 6455 frames in the order they were handed in (large ones cut into the pacer's
 * slots and put back together), timed ones leave at their time, and a flush drops
 * only what has not started to leave.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nativePacer } from '../../src/sfu/pacedRtp';
import { OP_BINARY, OP_TEXT, PacedStreamOut, pacedStreamDrops, wsHeader } from '../../src/transports/pacedStream';
import { nowMs } from '../../src/clock';

interface Frame {
  opcode: number;
  payload: Buffer;
  at: number;
}

/** Parses unmasked server frames out of a byte stream as it arrives. */
function reader(sock: net.Socket): Frame[] {
  const frames: Frame[] = [];
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      expect(buf[0] & 0x80).toBe(0x80); // FIN
      expect(buf[1] & 0x80).toBe(0); // no mask from a server
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      frames.push({ opcode: buf[0] & 0x0f, payload: buf.subarray(off, off + len), at: nowMs() });
      buf = buf.subarray(off + len);
    }
  });
  return frames;
}

async function pair(): Promise<{ server: net.Socket; client: net.Socket; close(): void }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const server = await accepted;
  return {
    server,
    client,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(nativePacer() !== null)('PacedStreamOut', () => {
  let done: (() => void) | null = null;
  afterEach(() => done?.());

  it('is not made for a socket without an fd of its own, or without a lead (the caller writes at the tick)', async () => {
    const { PassThrough } = await import('node:stream');
    expect(PacedStreamOut.create(new PassThrough() as unknown as net.Socket, 40)).toBeNull();
    const p = await pair();
    done = p.close;
    expect(PacedStreamOut.create(p.server, 0)).toBeNull();
    // an fd the pacer cannot take (dup fails): logged once, and the caller writes itself
    const bogus = { _handle: { fd: 1_000_000 } } as unknown as net.Socket;
    expect(PacedStreamOut.create(bogus, 40)).toBeNull();
  });

  it('builds RFC 6455 headers for the three length forms', () => {
    expect([...wsHeader(OP_TEXT, 5)]).toEqual([0x81, 5]);
    expect([...wsHeader(OP_BINARY, 640)]).toEqual([0x82, 126, 2, 128]);
    expect([...wsHeader(OP_BINARY, 70000)]).toEqual([0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
  });

  it('writes whole frames in order, large ones across slots, timed ones at their time', async () => {
    const p = await pair();
    done = p.close;
    const frames = reader(p.client);
    const out = PacedStreamOut.create(p.server, 40)!;
    expect(out).not.toBeNull();
    const t0 = nowMs() + 30;
    const audio = Array.from({ length: 5 }, (_, k) => Buffer.alloc(640, k + 1));
    audio.forEach((b, k) => expect(out.sendWs(OP_BINARY, b, t0 + 20 * k, k + 1)).toBe(true));
    const big = Buffer.from('x'.repeat(5000)); // 4 slots of the pacer
    expect(out.sendWs(OP_TEXT, big)).toBe(true); // "now": after the frames queued before it
    await sleep(250);
    expect(frames.map((f) => f.opcode)).toEqual([2, 2, 2, 2, 2, 1]);
    frames.slice(0, 5).forEach((f, k) => expect(f.payload.equals(audio[k]!)).toBe(true));
    expect(frames[5]!.payload.equals(big)).toBe(true);
    // each audio frame sent within a few ms of its time, by the pacer's own record (the
    // reader's arrival times add this test's event loop, late by 19 ms once in CI)
    const sent: { id: number; at: number }[] = [];
    out.drainSent((id, at) => sent.push({ id, at }));
    expect(sent.map((x) => x.id)).toEqual([1, 2, 3, 4, 5]); // the text frame's slots carry no id
    sent.forEach((x, k) => expect(Math.abs(x.at - (t0 + 20 * k))).toBeLessThan(10));
    frames.slice(0, 5).forEach((f, k) => expect(f.at).toBeGreaterThanOrEqual(t0 + 20 * k - 1)); // never early
    expect(out.close()).toBe(true);
  });

  it('flush drops what has not left; the stream stays whole; close reports a clean boundary', async () => {
    const p = await pair();
    done = p.close;
    const frames = reader(p.client);
    const out = PacedStreamOut.create(p.server, 40)!;
    const t0 = nowMs() + 100;
    for (let k = 0; k < 10; k++) out.sendWs(OP_BINARY, Buffer.alloc(320, k), t0 + 20 * k, k + 1);
    await sleep(130); // two of them left
    expect(out.flush()).toBeGreaterThanOrEqual(6);
    out.sendWs(OP_TEXT, Buffer.from('{"event":"clear"}'));
    await sleep(100);
    const bins = frames.filter((f) => f.opcode === OP_BINARY);
    expect(bins.length).toBeGreaterThanOrEqual(1);
    expect(bins.length).toBeLessThanOrEqual(4);
    expect(frames[frames.length - 1]!.payload.toString()).toBe('{"event":"clear"}');
    expect(await out.drainAndClose()).toBe(true);
    // refuses once closed
    expect(out.sendWs(OP_TEXT, Buffer.from('late'))).toBe(false);
  });

  it('queues a frame whole or not at all when the queue is full', async () => {
    const p = await pair();
    done = p.close;
    const out = PacedStreamOut.create(p.server, 40)!;
    const far = nowMs() + 60_000;
    const before = pacedStreamDrops();
    let n = 0;
    while (out.sendWs(OP_BINARY, Buffer.alloc(640), far, 1)) n++;
    expect(n).toBe(nativePacer()!.capacity);
    expect(out.dropped).toBe(1);
    expect(pacedStreamDrops()).toBe(before + 1); // the bridge's voxbridge_paced_stream_frames_dropped
    out.flush();
    expect(out.sendWs(OP_TEXT, Buffer.alloc(5000, 0x61))).toBe(true); // 4 slots free again
    expect(out.close()).toBe(true);
  });

  it('dates a frame the socket took in parts by its first write and its last, and counts it', async () => {
    const p = await pair();
    done = p.close;
    p.client.pause(); // the kernel's buffers fill: a frame is left part-written
    const out = PacedStreamOut.create(p.server, 40)!;
    const queue = (out as unknown as { queue: number }).queue;
    const pacer = nativePacer()!;
    let id = 0;
    const end = Date.now() + 10_000;
    const st = new Float64Array(10 + 9);
    while (pacer.partial(queue) === 0 && Date.now() < end) {
      if (out.sendWs(OP_BINARY, Buffer.alloc(1300, id & 0xff), nowMs() - 1, id + 1)) id++;
      else await sleep(1);
      // one frame at a time: the part-written frame is then the last one queued, and
      // its send record is not overwritten (64 are kept) by frames queued behind it
      // while this loop had not yet seen it (a loaded machine: CI once saw it lost)
      while (pacer.partial(queue) === 0 && pacer.stats(queue, st) && st[0] < id && Date.now() < end) await new Promise((r) => setImmediate(r));
    }
    expect(pacer.partial(queue)).toBeGreaterThan(0);
    await sleep(20); // the rest waits for the reader...
    // (... unless the kernel took it meanwhile: a paused stream's socket still fills
    // its receive buffer, and the window opens as it grows; seen once in 6 runs here)
    const heldOver = pacer.partial(queue) > 0;
    const frames = reader(p.client);
    p.client.resume();
    const until = Date.now() + 10_000;
    while (frames.length < id && Date.now() < until) await sleep(10);
    expect(frames.length).toBe(id);
    const sent: { id: number; at: number; began: number }[] = [];
    out.drainSent((i, at, began) => sent.push({ id: i, at, began }));
    expect(sent.length).toBeGreaterThan(0); // the newest records (older ones were overwritten)
    expect(sent.every((x) => x.began <= x.at)).toBe(true);
    const parts = sent.filter((x) => x.began < x.at);
    expect(parts.length).toBeGreaterThanOrEqual(1);
    // written before the wait, finished after it
    if (heldOver) expect(parts.some((x) => x.at - x.began >= 15), JSON.stringify(parts.map((x) => [x.id, +(x.at - x.began).toFixed(1)]))).toBe(true);
    expect(pacer.stats(queue, st)).toBe(true);
    expect(st[9]).toBeGreaterThanOrEqual(parts.length); // partialWrites
    expect(out.close()).toBe(true);
  });

  it("holds back another writer's bytes (ws's own close frame) until the frame being written is whole", async () => {
    const p = await pair();
    done = p.close;
    p.client.pause(); // the peer stops reading: the kernel's buffers fill and a frame is left part-written
    const out = PacedStreamOut.create(p.server, 40)!;
    const queue = (out as unknown as { queue: number }).queue;
    const pacer = nativePacer()!;
    const text = Buffer.alloc(5000, 0x61);
    let queued = 0;
    const end = Date.now() + 10_000;
    while (pacer.partial(queue) === 0 && Date.now() < end) {
      if (out.sendWs(OP_TEXT, text)) queued++;
      else await sleep(1);
    }
    expect(pacer.partial(queue)).toBeGreaterThan(0);
    // what ws does when it answers a peer's close: a direct write, with a callback
    const closeFrame = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
    let written = false;
    expect(p.server.write(closeFrame, () => (written = true))).toBe(true);
    expect(written).toBe(false);
    const frames = reader(p.client);
    p.client.resume();
    const until = Date.now() + 10_000;
    while (!(frames.length > 0 && frames[frames.length - 1]!.opcode === 0x8) && Date.now() < until) await sleep(20);
    expect(frames.length).toBe(queued + 1);
    frames.slice(0, queued).forEach((f) => expect(f.opcode === OP_TEXT && f.payload.equals(text)).toBe(true));
    expect(frames[queued]!.payload.readUInt16BE(0)).toBe(1000);
    expect(written).toBe(true);
    // the pacer handed the socket back: further frames are refused, direct writes go straight out
    expect(out.sendWs(OP_TEXT, Buffer.from('late'))).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(p.server, 'write')).toBe(false);
  });
});
