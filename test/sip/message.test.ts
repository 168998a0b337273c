import { describe, expect, it } from 'vitest';
import { header, headerValues, parseMessage, parseNameAddr, parseUri, parseVia, responseTo, serialize, type SipRequest } from '../../src/sip/message';
import { SipStreamParser } from '../../src/sip/transport';

const INVITE = [
  'INVITE sip:100@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport',
  'f: "Alice" <sip:alice@127.0.0.1:5070>;tag=abc',
  'To: <sip:100@127.0.0.1>',
  'i: call-1@host',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@127.0.0.1:5070>',
  'Subject: folded',
  '  header line',
  'Content-Type: application/sdp',
  'Content-Length: 5',
  '',
  'v=0\r\nextra',
].join('\r\n');

describe('parseMessage()', () => {
  it('parses a request with compact and folded headers and cuts the body at Content-Length', () => {
    const r = parseMessage(Buffer.from(INVITE));
    expect('ok' in r).toBe(true);
    const m = (r as { ok: SipRequest }).ok;
    expect(m.method).toBe('INVITE');
    expect(header(m, 'From')).toBe('"Alice" <sip:alice@127.0.0.1:5070>;tag=abc');
    expect(header(m, 'Call-ID')).toBe('call-1@host');
    expect(header(m, 'Subject')).toBe('folded header line');
    expect(m.body.toString()).toBe('v=0\r\n');
  });

  it.each([
    ['a bad start line', 'HELLO\r\n\r\n', 'SIP_BAD_START_LINE'],
    ['a header without a colon', INVITE.replace('CSeq: 1 INVITE', 'CSeq 1 INVITE'), 'SIP_BAD_HEADER'],
    ['a missing Call-ID', INVITE.replace('i: call-1@host\r\n', ''), 'SIP_MISSING_HEADER'],
    ['a CSeq method that differs from the request', INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE'), 'SIP_BAD_CSEQ'],
    ['a Content-Length past the end', INVITE.replace('Content-Length: 5', 'Content-Length: 400'), 'SIP_BAD_CONTENT_LENGTH'],
    ['an oversize message', INVITE + 'x'.repeat(20000), 'SIP_TOO_LARGE'],
  ])('rejects %s with a stable code', (_n, text, code) => {
    const r = parseMessage(Buffer.from(text));
    expect('error' in r && r.error).toBe(code);
  });

  it('keeps enough of a malformed request to answer it with 400', () => {
    const r = parseMessage(Buffer.from(INVITE.replace('Content-Length: 5', 'Content-Length: 400')));
    expect('error' in r && r.partial?.kind).toBe('request');
    const res = responseTo((r as { partial: SipRequest }).partial, 400, { toTag: 't1' });
    const text = serialize(res).toString();
    expect(text).toMatch(/^SIP\/2.0 400 Bad Request\r\n/);
    expect(text).toContain('To: <sip:100@127.0.0.1>;tag=t1');
    expect(text).toContain('Content-Length: 0');
  });
});

describe('header grammars', () => {
  it('parses name-addr, URIs, Via and comma lists', () => {
    expect(parseNameAddr('"A, B" <sip:a@h;transport=tcp>;tag=x')).toEqual({ display: 'A, B', uri: 'sip:a@h;transport=tcp', params: { tag: 'x' } });
    expect(parseNameAddr('sip:a@h;tag=y')).toEqual({ display: '', uri: 'sip:a@h', params: { tag: 'y' } });
    expect(parseUri('sip:+1555@Example.com:5080;user=phone')).toMatchObject({ user: '+1555', host: 'example.com', port: 5080, params: { user: 'phone' } });
    expect(parseVia('SIP/2.0/TCP 10.0.0.1:5062;branch=z9hG4bKx;rport')).toEqual({ transport: 'TCP', host: '10.0.0.1', port: 5062, params: { branch: 'z9hG4bKx', rport: '' } });
    expect(headerValues({ headers: [['Record-Route', '<sip:p1;lr>, <sip:p2;lr>'], ['Record-Route', '<sip:p3>']] }, 'Record-Route')).toEqual(['<sip:p1;lr>', '<sip:p2;lr>', '<sip:p3>']);
  });
});

describe('SipStreamParser (TCP framing)', () => {
  it('cuts messages split at every byte and joined in one chunk, answers CRLF pings', () => {
    const one = Buffer.from(INVITE.replace('v=0\r\nextra', 'v=0\r\n'));
    const p = new SipStreamParser(16384);
    const got: Buffer[] = [];
    for (const b of Buffer.concat([one, Buffer.from('\r\n\r\n'), one])) got.push(...p.push(Buffer.from([b])).messages);
    expect(got.map((m) => m.toString())).toEqual([one.toString(), one.toString()]);
    const q = new SipStreamParser(16384);
    const r = q.push(Buffer.concat([one, Buffer.from('\r\n\r\n'), one]));
    expect(r.messages).toHaveLength(2);
    expect(r.pings).toBe(1);
  });

  it('fails the stream when a message would exceed the limit, as soon as its headers are read', () => {
    const p = new SipStreamParser(1024);
    p.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n'));
    expect(p.error).toMatch(/exceeds/);
    const q = new SipStreamParser(1024);
    q.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\nX: ' + 'y'.repeat(2000)));
    expect(q.error).toMatch(/headers exceed/);
  });
});
