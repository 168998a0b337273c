import { describe, expect, it } from 'vitest';
import { answerDirection, buildSdp, negotiate, parseSdp, SdpError, isHold } from '../../src/sip/sdp';
import { authorize, parseChallenge, DigestError } from '../../src/sip/digest';

const OFFER = ['v=0', 'o=user1 53655765 2353687637 IN IP4 10.0.0.5', 's=-', 'c=IN IP4 10.0.0.5', 't=0 0', 'm=audio 6000 RTP/AVP 96 8 0 101', 'a=rtpmap:96 opus/48000/2', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ssrc:12345 cname:x', 'a=sendrecv', ''].join('\r\n');

describe('SDP offer/answer', () => {
  it('parses the first audio stream with static payload types and a=ssrc', () => {
    const d = parseSdp(OFFER);
    expect(d.audio).toMatchObject({ address: '10.0.0.5', port: 6000, direction: 'sendrecv', ssrc: 12345 });
    expect(d.audio.codecs.map((c) => `${c.pt}:${c.name}`)).toEqual(['96:opus', '8:PCMA', '0:PCMU', '101:telephone-event']);
  });

  it('answers with the first offered codec we support, in the offerer\'s order', () => {
    const a = parseSdp(OFFER).audio;
    expect(negotiate(a, ['PCMU', 'PCMA'], true)).toMatchObject({ codec: { kind: 'PCMA', pt: 8 }, dtmfPt: 101 });
    // An Opus payload type we cannot send is vetoed: the next codec is taken.
    expect(negotiate(a, ['opus', 'PCMU', 'PCMA'], false, (c, k) => k !== 'opus' || c.pt === 111)).toMatchObject({ codec: { kind: 'PCMA' }, dtmfPt: null });
  });

  it('rejects no common codec, no audio and malformed SDP with stable codes', () => {
    const g729 = OFFER.replace('m=audio 6000 RTP/AVP 96 8 0 101', 'm=audio 6000 RTP/AVP 18');
    const codes = [
      () => negotiate(parseSdp(g729).audio, ['PCMU'], true),
      () => parseSdp(OFFER.replace(/m=audio/, 'm=video')),
      () => parseSdp('v=0\r\nthis is not sdp'),
      () => parseSdp(OFFER.replace('c=IN IP4 10.0.0.5\r\n', '')),
    ].map((f) => {
      try {
        f();
        return 'none';
      } catch (e) {
        expect(e).toBeInstanceOf(SdpError);
        return (e as SdpError).code;
      }
    });
    expect(codes).toEqual(['SDP_NO_COMMON_CODEC', 'SDP_NO_AUDIO', 'SDP_MALFORMED', 'SDP_MALFORMED']);
  });

  it('builds an answer and mirrors hold directions', () => {
    const sdp = buildSdp({ sessionId: '1', version: 2, address: '127.0.0.1', port: 30000, codecs: [{ pt: 0, name: 'PCMU', clockRate: 8000, channels: 1 }], dtmfPt: 101, direction: 'sendrecv' });
    expect(sdp).toContain('m=audio 30000 RTP/AVP 0 101\r\n');
    expect(sdp).toContain('a=rtpmap:101 telephone-event/8000');
    expect(parseSdp(sdp).audio.codecs[0]).toMatchObject({ name: 'PCMU', pt: 0 });
    expect(answerDirection('sendonly')).toBe('recvonly');
    expect(isHold(parseSdp(OFFER.replace('a=sendrecv', 'a=sendonly')).audio)).toBe(true);
    expect(isHold(parseSdp(OFFER.replace(/c=IN IP4 10.0.0.5/, 'c=IN IP4 0.0.0.0')).audio)).toBe(true);
  });
});

describe('digest authentication (RFC 2617 / 7616 MD5)', () => {
  it('computes the RFC 2617 example response with qop=auth', () => {
    const ch = parseChallenge('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"');
    const v = authorize(ch, { username: 'Mufasa', password: 'Circle Of Life' }, 'GET', '/dir/index.html', 1, '0a4f113b');
    expect(v).toContain('response="6629fae49393a05397450978507c4ef1"');
    expect(v).toContain('nc=00000001');
    expect(v).toContain('opaque="5ccc069c403ebaf9f0171e9517f40e41"');
  });

  it('answers a challenge without qop (RFC 2069 style) and refuses what it cannot answer', () => {
    const v = authorize(parseChallenge('Digest realm="sip.example", nonce="n1"'), { username: 'u', password: 'p' }, 'REGISTER', 'sip:sip.example');
    expect(v).not.toContain('qop=');
    for (const bad of ['Basic realm="x"', 'Digest realm="x", nonce="n", algorithm=SHA-512-256', 'Digest nonce="n"']) {
      expect(() => parseChallenge(bad)).toThrow(DigestError);
    }
  });
});
