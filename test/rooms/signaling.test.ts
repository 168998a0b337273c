import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/tokens';
import { startHarness, type Harness } from '../helpers/bridgeHarness';
import { RoomSignalingClient } from './signalingClient';

let h: Harness;
const SECRET = 'rooms-test-secret-0123456789abcdef';

beforeAll(async () => {
  h = await startHarness({ VOXBRIDGE_TOKEN_SECRET: SECRET });
});
afterAll(async () => {
  await h?.stop();
});

function client(): RoomSignalingClient {
  return new RoomSignalingClient(h.url);
}

describe('signaling: join', () => {
  it('join with a valid user token answers Joined and the router capabilities', async () => {
    const c = client();
    const token = signToken(SECRET, { room: 'r1', uid: 'alice', role: 'user' }, 60);
    const j = await c.ok('join', { roomId: 'r1', token });
    expect(j).toMatchObject({ roomId: 'r1', userId: 'alice', role: 1 });
    expect(j.sessionId).toMatch(/[0-9a-f-]{36}/);
    const caps = await c.ok('getRouterRtpCapabilities');
    expect(JSON.parse(caps.rtpCapabilitiesJson).codecs.some((x: any) => x.mimeType === 'audio/opus')).toBe(true);
    const pong = await c.ok('ping');
    expect(pong.serverTimeMs).toBeGreaterThan(0);
    await c.ok('leave');
    expect((await c.closed).code).toBe(1000);
  });

  it.each([
    ['a bad signature', () => signToken('other-secret', { room: 'r1', uid: 'bob', role: 'user' }, 60).replace(/.$/, 'x'), 'Unauthorized.Token'],
    ['an expired token', () => signToken(SECRET, { room: 'r1', uid: 'bob', role: 'user' }, -5), 'Unauthorized.TokenExpired'],
    ['a token for another room', () => signToken(SECRET, { room: 'r2', uid: 'bob', role: 'user' }, 60), 'Unauthorized.TokenRoom'],
    ['a gateway token', () => signToken(SECRET, { room: 'r1', uid: 'bob', role: 'gateway' }, 60), 'Unauthorized.Role'],
    ['no token', () => '', 'Unauthorized.Token'],
  ])('join with %s is refused with an error and a closed socket', async (_what, make, code) => {
    const c = client();
    const r = await c.request('join', { roomId: 'r1', token: make() });
    expect(r.body).toBe('error');
    expect(r.error.code).toBe(code);
    expect((await c.closed).code).toBe(4001);
  });

  it('a human-agent token for an agent that was not taken over is refused', async () => {
    const c = client();
    const token = signToken(SECRET, { room: 'r1', uid: 'h1', role: 'human-agent', agent: 'agent-nope' }, 60);
    const r = await c.request('join', { roomId: 'r1', token });
    expect(r.error.code).toBe('Unauthorized.Agent');
    expect((await c.closed).code).toBe(4001);
  });

  it('a request before Join is refused and the socket closed', async () => {
    const c = client();
    const r = await c.request('getRouterRtpCapabilities');
    expect(r.error.code).toBe('Signaling.NotJoined');
    expect((await c.closed).code).toBe(4002);
  });

  it.each([
    ['a text frame', 'hello'],
    ['garbage bytes', Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02])],
    ['a Request without body', Buffer.from([0x08, 0x01])],
  ])('%s gets a closing error and a closed socket, and the bridge keeps serving', async (_what, data) => {
    const c = client();
    await c.opened;
    c.sendRaw(data as Buffer);
    const n = await c.notification('closing');
    expect(n.code).toMatch(/^Signaling\.BadMessage$/);
    expect((await c.closed).code).toBe(4002);
    const ok = client();
    const token = signToken(SECRET, { room: 'r1', uid: 'carol', role: 'user' }, 60);
    expect((await ok.ok('join', { roomId: 'r1', token })).userId).toBe('carol');
    ok.close();
  });

  it('a malformed JSON field is an error answer; the socket stays open', async () => {
    const c = client();
    await c.ok('join', { roomId: 'r1', token: signToken(SECRET, { room: 'r1', uid: 'dave', role: 'user' }, 60) });
    const r = await c.request('setRtpCapabilities', { rtpCapabilitiesJson: '{nope' });
    expect(r.error.code).toBe('Signaling.BadJson');
    const r2 = await c.request('connectTransport', { transportId: 'nope', dtlsParametersJson: '{}' });
    expect(r2.error.code).toBe('Signaling.UnknownTransport');
    expect((await c.ok('ping')).serverTimeMs).toBeGreaterThan(0);
    c.close();
  });

  it('joining again with the same user id replaces the first connection (reconnect)', async () => {
    const token = signToken(SECRET, { room: 'r3', uid: 'erin', role: 'user' }, 60);
    const a = client();
    const other = client();
    await a.ok('join', { roomId: 'r3', token });
    await other.ok('join', { roomId: 'r3', token: signToken(SECRET, { room: 'r3', uid: 'frank', role: 'user' }, 60) });
    const b = client();
    const j = await b.ok('join', { roomId: 'r3', token });
    expect(j.peers.map((p: any) => p.userId)).toEqual(['frank']);
    const closing = await a.notification('closing');
    expect(closing.code).toBe('Signaling.Replaced');
    expect((await a.closed).code).toBe(4003);
    await other.notification('peerLeft', (m) => m.userId === 'erin');
    await other.notification('peerJoined', (m) => m.peer.userId === 'erin');
    b.close();
    other.close();
  });

  it('CreateJoinToken mints a token that joins the named room only', async () => {
    const t = await h.ok('CreateJoinToken', { RoomId: 'r4', UserId: 'gina', Role: 'user', TtlSeconds: 60 });
    expect(t.SignalingUrl).toMatch(/^ws:\/\/.*\/ws$/);
    const c = client();
    expect((await c.ok('join', { roomId: 'r4', token: t.Token })).userId).toBe('gina');
    c.close();
    const bad = await h.api('CreateJoinToken', { RoomId: 'r4', UserId: 'gina', TtlSeconds: 0 });
    expect(bad.body.Code).toBe('InvalidParameter.TtlSeconds');
  });
});
