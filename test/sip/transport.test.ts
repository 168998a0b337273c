import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SipTransport } from '../../src/sip/transport';

const opts = { host: '127.0.0.1', port: 0, transports: ['udp', 'tcp'] as ('udp' | 'tcp')[], maxMessageBytes: 65536 };

describe('SipTransport ports', () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const c of closers.splice(0)) await c();
  });

  it('port 0: when the UDP port number is taken for TCP, both are opened again on another', async () => {
    const listen = net.Server.prototype.listen;
    let calls = 0;
    vi.spyOn(net.Server.prototype, 'listen').mockImplementation(function (this: net.Server, ...args: unknown[]) {
      if (calls++ === 0) {
        // as a TCP socket elsewhere holding that number would make it fail
        const e = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
        setImmediate(() => this.emit('error', e));
        return this;
      }
      return (listen as (...a: unknown[]) => net.Server).apply(this, args);
    });
    const t = new SipTransport(opts);
    await t.start();
    closers.push(() => t.close());
    expect(calls).toBe(2);
    expect(t.port).toBeGreaterThan(0);
    // TCP listens on the port reported
    await new Promise<void>((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port: t.port }, () => {
        c.destroy();
        resolve();
      });
      c.on('error', reject);
    });
  });

  it('a configured port that is taken is an error, not another port', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => holder.close(r)));
    const port = (holder.address() as net.AddressInfo).port;
    const t = new SipTransport({ ...opts, port });
    await expect(t.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
