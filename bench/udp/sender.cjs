// The other end of bench/udp.ts, in a process of its own: one socket sending an 80-byte
// datagram to each port every 20 ms, the ports in 4 phases 5 ms apart, for `seconds`.
// argv: ports (JSON), this socket's port, seconds
const dgram = require('node:dgram');
const ports = JSON.parse(process.argv[2]);
const seconds = Number(process.argv[4]);
const s = dgram.createSocket('udp4');
s.bind(Number(process.argv[3]), '127.0.0.1', () => {
  const pkt = Buffer.alloc(80, 1);
  const t0 = performance.now();
  let k = 0;
  const step = () => {
    for (let i = k % 4; i < ports.length; i += 4) s.send(pkt, ports[i], '127.0.0.1');
    k++;
    if (performance.now() - t0 > seconds * 1000) {
      setTimeout(() => s.close(() => process.exit(0)), 50);
      return;
    }
    setTimeout(step, Math.max(0, t0 + k * 5 - performance.now()));
  };
  step();
});
