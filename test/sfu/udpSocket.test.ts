import type dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { busy, until } from '../helpers/wait';
import { udp } from '../helpers/udp';
import { openLoopbackSocket, type LoopbackUdpSocket } from '../../src/sfu/udpSocket';
import { nativeAddon } from '../../src/native/addon';
import { nowMs } from '../../src/clock';

const hasNative = !!(nativeAddon() as unknown as { NativeUdp?: unknown } | null)?.NativeUdp;

describe('loopback UDP socket', () => {
  const peers: dgram.Socket[] = [];
  const socks: LoopbackUdpSocket[] = [];
  afterEach(() => {
    for (const p of peers.splice(0)) p.close();
    for (const s of socks.splice(0)) s.close();
  });

  async function pair(prefer: 'native' | 'dgram') {
    const got: { data: number[]; at: number; readAt: number }[] = [];
    const errors: number[] = [];
    const s = await openLoopbackSocket((pkt, at) => got.push({ data: [...pkt], at, readAt: nowMs() }), (c) => errors.push(c), prefer);
    socks.push(s);
    const peer = await udp();
    peers.push(peer);
    await s.connect(peer.address().port);
    const send = (b: Buffer) => new Promise<void>((r) => peer.send(b, s.port(), '127.0.0.1', () => r()));
    return { s, peer, got, errors, send };
  }

  it.runIf(hasNative)('the native socket dates a datagram by its arrival at the socket, not by when a busy event loop read it', async () => {
    const { s, got, send } = await pair('native');
    expect(s.dating).toBe('kernel');
    await send(Buffer.from([1, 2, 3]));
    const sentAt = nowMs();
    busy(60); // the event loop cannot read it for 60 ms
    await until(() => got.length === 1);
    expect(got[0].data).toEqual([1, 2, 3]);
    expect(got[0].readAt - sentAt).toBeGreaterThanOrEqual(59);
    // dated within a few ms of the send, not at the read (~60 ms later)
    expect(Math.abs(got[0].at - sentAt)).toBeLessThan(15);
  });

  it('node:dgram, the fallback, dates it at the read', async () => {
    const { s, got, send } = await pair('dgram');
    expect(s.dating).toBe('read');
    await send(Buffer.from([9]));
    const sentAt = nowMs();
    busy(60);
    await until(() => got.length === 1);
    expect(got[0].at - sentAt).toBeGreaterThanOrEqual(59);
  });

  for (const prefer of ['native', 'dgram'] as const) {
    it.runIf(prefer === 'dgram' || hasNative)(`${prefer}: a burst larger than one batch arrives whole and in order; sends reach the connected peer`, async () => {
      const { s, peer, got, send } = await pair(prefer);
      // 300 datagrams while the loop is busy: the native side reads them 32 at a time,
      // at most 256 per wake-up (the rest on the next turn of the loop)
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 300; i++) sends.push(send(Buffer.from([i & 0xff, i >> 8, 7])));
      await Promise.all(sends);
      busy(20);
      await until(() => got.length === 300);
      expect(got.map((g) => g.data[0] | (g.data[1] << 8))).toEqual([...Array(300).keys()]);
      expect(got.every((g) => g.data.length === 3)).toBe(true);
      // arrival times never run ahead of the read, and keep the order they came in (to
      // within the µs between the kernel's clock read and ours, which differ per batch)
      for (let i = 0; i < got.length; i++) {
        expect(got[i].at).toBeLessThanOrEqual(got[i].readAt + 0.05);
        if (i) expect(got[i].at).toBeGreaterThanOrEqual(got[i - 1].at - 0.05);
      }
      const heard: number[] = [];
      peer.on('message', (m) => heard.push(m[0]));
      for (let i = 0; i < 3; i++) s.send(Uint8Array.from([40 + i]));
      await until(() => heard.length === 3);
      expect(heard).toEqual([40, 41, 42]);
    });
  }

  it.runIf(hasNative)('a datagram larger than a slot is counted and dropped; a vanished peer is an error, and the socket goes on', async () => {
    const { s, peer, got, errors, send } = await pair('native');
    await send(Buffer.alloc(3000, 1));
    await send(Buffer.from([5]));
    await until(() => got.length === 1);
    expect(got[0].data).toEqual([5]);
    expect(s.stats.truncated).toBe(1);
    // the peer closes: the next send comes back as ECONNREFUSED (an ICMP error on the socket)
    const port = peer.address().port;
    peer.close();
    peers.splice(peers.indexOf(peer), 1);
    s.send(Uint8Array.from([1]));
    await until(() => errors.length > 0);
    expect(s.stats.errors).toBeGreaterThan(0);
    // a new peer on the same port: received again
    const again = await udp(port);
    peers.push(again);
    await new Promise<void>((r) => again.send(Buffer.from([6]), s.port(), '127.0.0.1', () => r()));
    await until(() => got.length === 2);
    expect(got[1].data).toEqual([6]);
  });

  it.runIf(hasNative)('close() stops delivery and is idempotent', async () => {
    const { s, got, send } = await pair('native');
    s.close();
    s.close();
    await send(Buffer.from([1])).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    expect(got).toHaveLength(0);
    s.send(Uint8Array.from([1])); // after close: nothing, no throw
  });
});
