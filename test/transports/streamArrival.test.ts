import net from 'node:net';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { busy, until } from '../helpers/wait';
import WebSocket, { WebSocketServer } from 'ws';
import { StreamArrival } from '../../src/transports/streamArrival';
import { nativeAddon } from '../../src/native/addon';
import { nowMs } from '../../src/clock';

const hasNative = typeof (nativeAddon() as unknown as { tcpDataAgeMs?: unknown } | null)?.tcpDataAgeMs === 'function';

describe.runIf(hasNative)('StreamArrival (kernel arrival time of TCP reads)', () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  it('dates what a reader handles in a read by when its data reached the socket, not by the late read', async () => {
    const got: { data: string; at: number; readAt: number }[] = [];
    let arrival: StreamArrival | null = null;
    const server = net.createServer((s) => {
      s.on('data', (d) => got.push({ data: String(d), at: arrival!.arrival(), readAt: nowMs() }));
      arrival = StreamArrival.attach(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => server.close());
    const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    closers.push(() => c.destroy());
    await new Promise<void>((r) => c.once('connect', () => r()));
    await until(() => arrival !== null);
    c.write('a');
    const sentAt = nowMs();
    busy(60); // this process cannot read it for 60 ms
    await until(() => got.length === 1);
    expect(got[0].data).toBe('a');
    expect(got[0].readAt - sentAt).toBeGreaterThanOrEqual(59);
    // the kernel's clock for TCP_INFO moves in jiffies (1-10 ms)
    expect(Math.abs(got[0].at - sentAt)).toBeLessThan(15);
    expect(arrival!.dated).toBe(1);
    // outside a read: now
    const t = nowMs();
    expect(arrival!.arrival()).toBeGreaterThanOrEqual(t);
  });

  it("with ws: a message emitted in the socket's read gets that read's date", async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const got: { at: number; readAt: number }[] = [];
    wss.on('connection', (ws, req) => {
      const arrival = StreamArrival.attach(req.socket as net.Socket)!;
      ws.on('message', () => got.push({ at: arrival.arrival(), readAt: nowMs() }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => {
      wss.close();
      server.close();
    });
    const c = new WebSocket(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
    closers.push(() => c.terminate());
    await new Promise<void>((r) => c.once('open', () => r()));
    await new Promise((r) => setTimeout(r, 20));
    c.send(Buffer.alloc(640));
    const sentAt = nowMs();
    busy(60);
    await until(() => got.length === 1);
    expect(got[0].readAt - sentAt).toBeGreaterThanOrEqual(59);
    expect(Math.abs(got[0].at - sentAt)).toBeLessThan(15);
  });
});
