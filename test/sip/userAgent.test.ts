/**
 * The SIP user agent's answers to what a trunk may send, over raw UDP and TCP:
 * each refusal has its status code and a log line, and none disturbs the others.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiTestServer } from '../helpers/openaiServer';
import { startTelephony, testAgent, until, type TelephonyStack } from '../helpers/sipHarness';
import { setLogSink, setLogLevel } from '../../src/log';

let ai: OpenAiTestServer;
let stack: TelephonyStack;
let sock: dgram.Socket;
const got: string[] = [];
const logs: Record<string, any>[] = [];

beforeAll(async () => {
  ai = await OpenAiTestServer.start();
  stack = await startTelephony({
    VOXBRIDGE_TELEPHONY_AGENTS: JSON.stringify({ desk: testAgent(ai) }),
    VOXBRIDGE_SIP_ENABLED: 'true',
    VOXBRIDGE_SIP_PORT: '0',
    VOXBRIDGE_SIP_NUMBERS: JSON.stringify({ '100': 'desk' }),
    VOXBRIDGE_SIP_CODECS: 'PCMU,PCMA',
    VOXBRIDGE_SIP_RTP_MIN_PORT: '31400',
    VOXBRIDGE_SIP_RTP_MAX_PORT: '31499',
  });
  setLogLevel('info');
  setLogSink((l) => logs.push(JSON.parse(l)));
  sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.on('message', (m) => got.push(m.toString()));
});
afterAll(async () => {
  setLogLevel('error');
  setLogSink((l) => process.stderr.write(l + '\n'));
  sock?.close();
  await stack?.stop();
  await ai?.close();
});

let seq = 0;
function invite(user: string, sdp: string | null, over: Record<string, string> = {}): string {
  const n = ++seq;
  const lp = sock.address().port;
  const body = sdp ?? '';
  const h: Record<string, string> = {
    Via: `SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-t${n};rport`,
    From: `<sip:t@127.0.0.1>;tag=f${n}`,
    To: `<sip:${user}@127.0.0.1>`,
    'Call-ID': `c${n}-${Date.now()}@test`,
    CSeq: '1 INVITE',
    Contact: `<sip:t@127.0.0.1:${lp}>`,
    'Max-Forwards': '70',
    ...(sdp !== null ? { 'Content-Type': 'application/sdp' } : {}),
    ...over,
  };
  return [`INVITE sip:${user}@127.0.0.1 SIP/2.0`, ...Object.entries(h).map(([k, v]) => `${k}: ${v}`), `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

const sdp = (pts: string, extra = '') => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio 40000 RTP/AVP ${pts}`, extra, ''].filter((l, i, a) => l || i === a.length - 1).join('\r\n');

async function send(text: string): Promise<string> {
  const callId = /Call-ID: (\S+)/.exec(text)?.[1];
  const from = got.length;
  sock.send(text, stack.sip!.port, '127.0.0.1');
  return until(() => got.slice(from).find((m) => !m.startsWith('SIP/2.0 100') && (!callId || m.includes(callId))), 3000, 'final response');
}

describe('SIP user agent: refusals', () => {
  it.each([
    ['a call to an unknown number', () => invite('999', sdp('0')), 404, 'SIP_UNKNOWN_NUMBER'],
    ['an offer with no codec we support', () => invite('100', sdp('18', 'a=rtpmap:18 G729/8000')), 488, 'SDP_NO_COMMON_CODEC'],
    ['malformed SDP', () => invite('100', 'v=0\r\nnot sdp at all\r\n'), 400, 'SDP_MALFORMED'],
    ['an INVITE without an offer', () => invite('100', null), 488, 'SIP_NO_OFFER'],
    ['a body that is not SDP', () => invite('100', 'hello', { 'Content-Type': 'text/plain' }), 415, 'SIP_UNSUPPORTED_MEDIA_TYPE'],
    ['a malformed header line', () => invite('100', sdp('0')).replace('Max-Forwards: 70', 'Max-Forwards 70'), 400, 'SIP_BAD_HEADER'],
    ['a CSeq that does not match the method', () => invite('100', sdp('0')).replace('CSeq: 1 INVITE', 'CSeq: 1 BYE'), 400, 'SIP_BAD_CSEQ'],
    ['an unsupported extension', () => invite('100', sdp('0'), { Require: '100rel' }), 420, null],
  ])('answers %s with its status and a log line', async (_n, make, status, code) => {
    const res = await send(make());
    expect(res.split('\r\n')[0]).toMatch(new RegExp(`^SIP/2.0 ${status} `));
    if (code) expect(logs.some((l) => l.code === code)).toBe(true);
  });

  it('drops an unparseable datagram with a log line and answers OPTIONS and unknown methods', async () => {
    sock.send('garbage\r\n\r\n', stack.sip!.port, '127.0.0.1');
    await until(() => logs.find((l) => l.code === 'SIP_BAD_START_LINE'), 2000, 'log line');
    const opt = await send(invite('100', null).replace(/INVITE/g, 'OPTIONS'));
    expect(opt).toMatch(/^SIP\/2.0 200 OK/);
    expect(opt).toMatch(/Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO/);
    expect(await send(invite('100', null).replace(/INVITE/g, 'PUBLISH'))).toMatch(/^SIP\/2.0 501 /);
    expect(await send(invite('100', null).replace(/INVITE/g, 'BYE'))).toMatch(/^SIP\/2.0 481 /);
  });

  it('answers a retransmitted INVITE again from the cache (same To tag), and the caller\'s BYE ends the call', async () => {
    // Answered call: its retransmission gets the same 200 OK (same To tag).
    const text = invite('100', sdp('0'));
    const ok = await send(text);
    expect(ok).toMatch(/^SIP\/2.0 200 OK/);
    const tag = /To: .*tag=(\w+)/.exec(ok)![1];
    const again = got.length;
    sock.send(text, stack.sip!.port, '127.0.0.1');
    const ok2 = await until(() => got.slice(again).find((m) => m.startsWith('SIP/2.0 200')), 2000, 'retransmitted 200');
    expect(/To: .*tag=(\w+)/.exec(ok2)![1]).toBe(tag);
    const callId = /Call-ID: (\S+)/.exec(text)![1];
    const bye = text.replace(/^INVITE sip:100@127.0.0.1/, 'BYE sip:voxbridge@127.0.0.1').replace('CSeq: 1 INVITE', 'CSeq: 2 BYE').replace(/branch=[^;\r]+/, 'branch=z9hG4bK-bye').replace(/To: (.*)/, `To: $1;tag=${tag}`).replace(/Content-Type.*\r\n/, '').replace(/Content-Length: \d+\r\n\r\n[\s\S]*$/, 'Content-Length: 0\r\n\r\n');
    expect(await send(bye)).toMatch(/^SIP\/2.0 200 OK[\s\S]*CSeq: 2 BYE/);
    await until(() => !stack.sip!.findCall(callId), 2000, 'call gone');
  });

  it('takes INVITEs over TCP, framed by Content-Length', async () => {
    const c = net.connect({ host: '127.0.0.1', port: stack.sip!.port });
    await new Promise((r) => c.once('connect', r));
    let data = '';
    c.on('data', (d) => (data += d.toString()));
    const msg = invite('999', sdp('0')).replace('SIP/2.0/UDP', 'SIP/2.0/TCP');
    c.write(msg.slice(0, 50));
    c.write(msg.slice(50) + '\r\n\r\n');
    await until(() => /SIP\/2.0 404/.test(data), 3000, '404 over TCP');
    c.destroy();
  });
});
