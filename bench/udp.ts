/**
 * The loopback media socket's receive cost (src/sfu/udpSocket.ts): N sockets, each sent
 * a datagram every 20 ms by another process (like N room voices reaching their agents),
 * received by the native socket (kernel-dated, recvmmsg) and by node:dgram, alternately.
 * Reports this process's CPU per datagram and the share of a core.
 *
 *   npm run bench:udp                 (100 sockets, 8 s per round, 2 rounds each)
 *   npm run bench:udp -- --n 50 --seconds 5 --rounds 3
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { openLoopbackSocket, type LoopbackUdpSocket } from '../src/sfu/udpSocket';
import { machine, table, writeJson } from './util';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

async function round(mode: 'native' | 'dgram', n: number, seconds: number) {
  let got = 0;
  const socks: LoopbackUdpSocket[] = [];
  const senderPort = 20000 + Math.floor(Math.random() * 10000);
  for (let i = 0; i < n; i++) {
    const s = await openLoopbackSocket(() => void got++, () => undefined, mode);
    await s.connect(senderPort);
    socks.push(s);
  }
  const c0 = process.cpuUsage();
  const child = fork(path.join(__dirname, 'udp', 'sender.cjs'), [JSON.stringify(socks.map((s) => s.port())), String(senderPort), String(seconds)], { execArgv: [] });
  await new Promise((r) => child.on('exit', r));
  const c = process.cpuUsage(c0);
  for (const s of socks) s.close();
  const us = c.user + c.system;
  return { socket: mode === 'native' ? 'native (kernel-dated)' : 'node:dgram', sockets: n, datagrams: got, 'CPU µs per datagram': +(us / got).toFixed(2), 'CPU % of a core': +(us / 1e4 / seconds).toFixed(1) };
}

async function main(): Promise<void> {
  const n = arg('n', 100);
  const seconds = arg('seconds', 8);
  const rounds = arg('rounds', 2);
  const rows: Awaited<ReturnType<typeof round>>[] = [];
  for (let r = 0; r < rounds; r++) for (const mode of ['native', 'dgram'] as const) rows.push(await round(mode, n, seconds));
  console.log(table(rows));
  const ratio = (m: string) => rows.filter((r) => r.socket.startsWith(m)).reduce((a, r) => a + r['CPU µs per datagram'], 0);
  console.log(`native ÷ node:dgram, CPU per datagram (sum over rounds): ${(ratio('native') / ratio('node')).toFixed(2)}`);
  console.log(writeJson('udp', { machine: machine(), n, seconds, rounds: rows }));
}

void main();
