import dgram from 'node:dgram';

/** A UDP socket bound to an ephemeral port on 127.0.0.1 (a test participant's RTP end). */
export async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}
