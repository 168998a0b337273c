import dgram from 'node:dgram';

/** A UDP socket bound to 127.0.0.1 (an ephemeral port unless given): a test participant's RTP end. */
export async function udp(port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(port, '127.0.0.1', () => r()));
  return s;
}
