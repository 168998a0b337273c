/**
 * The voice receive thread (src/sfu/voiceRx.ts, native/src/voice_rx.*) over real
 * loopback sockets: espeak-ng speech as Opus RTP in, frames out.
 *  - parity: the thread's per-frame VAD decisions equal the event-loop path's
 *    (OpusRtpReceiver + the session's VAD + FarEndReference) on the same packets;
 *  - the barge-in: armed on a real pacer queue, the thread decides on "D reached",
 *    no queued agent packet leaves after the decision and later ones are refused
 *    until a flush; disarmed, nothing fires;
 *  - echo: the agent's own voice coming back (far-end ticks given) is no barge-in;
 *  - bad input: malformed packets, RTCP and strays are counted, bad calls throw.
 */
import type dgram from 'node:dgram';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { udp } from '../helpers/udp';
import { until } from '../helpers/wait';
import { speak } from '../helpers/clips';
import { concat } from '../helpers/audio';
import { RxSocket, RxFlag, voiceRxAvailable, voiceRxBinding, type RxFrame } from '../../src/sfu/voiceRx';
import { createOpusEncoder } from '../../src/rooms/opusEncoder';
import { OpusRtpReceiver } from '../../src/rooms/opusRtpReceiver';
import { buildRtp } from '../../src/media/rtp';
import { createVad } from '../../src/native/vad';
import { FarEndReference } from '../../src/agent/farEnd';
import { MediaClock } from '../../src/media/mediaClock';
import { monoOffset, nativePacer } from '../../src/sfu/pacedRtp';
import { nowMs } from '../../src/clock';
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { postJson } from '../../src/providers/http';
import { closeOnDecision } from '../../src/providers/wireAbort';
import { isAbortError } from '../../src/errors';

const PT = 111;
const FRAME = 320;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 16 kHz PCM → 20 ms Opus packets as RTP (seq from 0). */
function packets(pcm: Int16Array, ssrc: number): Buffer[] {
  const enc = createOpusEncoder({ sampleRate: 16000, channels: 1 });
  const out: Buffer[] = [];
  const buf = new Uint8Array(1275);
  for (let k = 0; (k + 1) * FRAME <= pcm.length; k++) {
    const n = enc.encode(pcm.subarray(k * FRAME, (k + 1) * FRAME), buf);
    out.push(buildRtp(PT, k === 0, k, k * 960, ssrc, buf.subarray(0, n)));
  }
  return out;
}

interface Got {
  flags: number;
  speechMs: number;
  onset: number;
  arrivalMs: number;
  mediaMs: number;
  decisionMs: number;
  flushed: number;
  wireAbortMs: number;
}
const keep = (f: RxFrame): Got => ({ flags: f.flags, speechMs: f.out[2], onset: f.out[3], arrivalMs: f.arrivalMs, mediaMs: f.mediaMs, decisionMs: f.decisionMs, flushed: f.flushed, wireAbortMs: f.wireAbortMs });

describe.runIf(voiceRxAvailable())('voice receive thread', () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  async function setup(interruptMs: number): Promise<{ rx: RxSocket; user: dgram.Socket; got: Got[]; voice: number }> {
    const rx = RxSocket.open()!;
    const user = await udp();
    closers.push(() => rx.close(), () => user.close());
    await rx.connect(user.address().port);
    rx.setVad(interruptMs);
    const got: Got[] = [];
    const voice = rx.addVoice(0xabc, PT, false, true, (f) => got.push(keep(f)));
    return { rx, user, got, voice };
  }

  /** Sends at `everyMs` per packet (0: in bursts of 10, fast). */
  async function play(user: dgram.Socket, port: number, pkts: Buffer[], everyMs = 0, onEach?: (k: number) => void): Promise<void> {
    const t0 = nowMs();
    for (let k = 0; k < pkts.length; k++) {
      onEach?.(k);
      user.send(pkts[k]!, port, '127.0.0.1');
      if (everyMs > 0) {
        const wait = t0 + (k + 1) * everyMs - nowMs();
        if (wait > 0) await sleep(wait);
      } else if (k % 10 === 9) await sleep(2);
    }
  }

  it('gives the same VAD decisions as the event-loop path, frame by frame', async () => {
    const { rx, user, got } = await setup(200);
    const pcm = concat([new Int16Array(8000), speak('could you tell me the time please', 16000), new Int16Array(16000), speak('ok', 16000), new Int16Array(16000)]);
    const pkts = packets(pcm, 0xabc);
    await play(user, rx.port(), pkts);
    await until(() => got.length >= pkts.length, 5000);
    expect(got.length).toBe(pkts.length);

    // the event-loop path on the same packets
    const vad = createVad({ sampleRate: 16000, frameMs: 20, interruptSpeechDurationMs: 200 }, { impl: 'native' });
    const far = new FarEndReference(FRAME);
    const ref: { flags: number; speechMs: number; onset: number; mediaMs: number }[] = [];
    const r = new OpusRtpReceiver((frame, _at, mediaMs) => {
      for (let o = 0; o < frame.length; o += FRAME) {
        const flags = vad.process(frame.subarray(o, o + FRAME), far.next(nowMs()));
        ref.push({ flags, speechMs: vad.speechMs, onset: vad.onsetSample, mediaMs });
      }
    }, PT);
    await r.start();
    // (one packet per frame: each with the arrival the thread saw)
    pkts.forEach((p, k) => r.push(p, got[k]!.arrivalMs));
    r.close();

    expect(ref.length).toBe(got.length);
    let starts = 0;
    for (let i = 0; i < ref.length; i++) {
      const g = got[i]!;
      expect(g.flags & RxFlag.VadRan).toBeTruthy();
      expect({ i, flags: g.flags & 0xff, speechMs: g.speechMs, onset: g.onset }).toEqual({ i, flags: ref[i]!.flags & 0xff, speechMs: ref[i]!.speechMs, onset: ref[i]!.onset });
      // the media clock (native/src/media_clock.h and src/media/mediaClock.ts) dates the packets alike
      expect(Math.abs(g.mediaMs - ref[i]!.mediaMs), `frame ${i}`).toBeLessThan(1e-6);
      expect(g.mediaMs).toBeLessThanOrEqual(g.arrivalMs);
      if (g.flags & 2) starts++;
    }
    expect(starts).toBe(2); // the sentence and the "ok"
    expect(got.some((g) => g.flags & RxFlag.Fired)).toBe(false); // never armed
  });

  it('armed on a pacer queue: decides at "D reached", stops the agent at once, refuses its later packets until a flush', async () => {
    const p = nativePacer()!;
    const off = monoOffset(p);
    const { rx, user, got } = await setup(200);
    const wire = await udp();
    closers.push(() => wire.close());
    const [q] = p.open();
    closers.push(() => p.close(q));
    p.connect(q, wire.address().port);
    const sentAt: number[] = [];
    wire.on('message', () => sentAt.push(nowMs()));

    const pcm = concat([new Int16Array(16000), speak('stop there please stop talking now', 16000), new Int16Array(8000)]);
    const pkts = packets(pcm, 0xabc);
    // the agent: a packet every 20 ms, handed in 60 ms ahead (as the frame clock does)
    const agentPkt = buildRtp(96, false, 0, 0, 0x999, new Uint8Array(60));
    let refused = 0;
    let k = 0;
    const t0 = nowMs();
    const agent = setInterval(() => {
      for (; t0 + k * 20 < nowMs() + 60; k++) if (p.enqueue(q, agentPkt, t0 + k * 20 + 60 + off, k + 1) === -4) refused++;
    }, 5);
    closers.push(() => clearInterval(agent));
    await sleep(100);
    expect(rx.arm('duration', q)).toBe(false);
    await play(user, rx.port(), pkts, 20);
    await until(() => got.length >= pkts.length, 3000);
    clearInterval(agent);

    const fired = got.filter((g) => g.flags & RxFlag.Fired);
    expect(fired).toHaveLength(1);
    const f = fired[0]!;
    expect(f.decisionMs).toBeGreaterThanOrEqual(f.arrivalMs);
    expect(f.decisionMs - f.arrivalMs).toBeLessThan(20); // decided as the packet was read
    expect(f.flushed).toBeGreaterThanOrEqual(1); // the packets queued ahead were dropped
    // the pacer's own send records: nothing left after the decision
    const ids = new Uint32Array(64);
    const at = new Float64Array(64);
    let after = 0;
    let sent = 0;
    for (let n; (n = p.drain(q, ids, at)) > 0; sent += n) for (let i = 0; i < n; i++) if (at[i]! - off > f.decisionMs) after++;
    expect(sent).toBeGreaterThan(20);
    expect(after).toBe(0);
    expect(refused).toBeGreaterThan(0);
    // the session learns of it at its next arm(), and its flush lifts the gate
    expect(rx.arm('off', -1)).toBe(true);
    expect(rx.arm('off', -1)).toBe(false);
    expect(p.enqueue(q, agentPkt, nowMs() + off + 5, 1)).toBe(-4);
    p.flush(q);
    expect(p.enqueue(q, agentPkt, nowMs() + off + 5, 1)).toBe(0);
    expect(rx.rxStats().fired).toBe(1);
  });

  // a self-signed certificate for 127.0.0.1 (LLM endpoints are https in production)
  const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vbtls-'));
  const hasOpenssl =
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(tlsDir, 'k.pem'), '-out', path.join(tlsDir, 'c.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']).status === 0;
  afterAll(() => fs.rmSync(tlsDir, { recursive: true, force: true }));

  for (const scheme of ['http', 'https'] as const)
  it.runIf(scheme === 'http' || hasOpenssl)(`closes the stopped speech's requests at the decision (${scheme}): the server sees the connection end, the request fails as aborted`, async () => {
    const { rx, user, got } = await setup(200);
    // an LLM server that streams slowly and notes when its client went away
    let closedAt = 0;
    const tls = scheme === 'https' ? { key: fs.readFileSync(path.join(tlsDir, 'k.pem')), cert: fs.readFileSync(path.join(tlsDir, 'c.pem')) } : null;
    const savedCa = https.globalAgent.options.ca;
    if (tls) {
      https.globalAgent.options.ca = [tls.cert];
      closers.push(() => (https.globalAgent.options.ca = savedCa));
    }
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const t = setInterval(() => res.write('data: {}\n\n'), 20);
      req.socket.once('close', () => {
        closedAt = nowMs();
        clearInterval(t);
      });
    };
    const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => server.close());
    const ctl = new AbortController();
    closeOnDecision(ctl.signal, rx);
    const url = new URL(`${scheme}://127.0.0.1:${(server.address() as { port: number }).port}/v1/chat/completions`);
    const res = await postJson({ url, headers: {}, json: { stream: true }, signal: ctl.signal, prefix: 'Provider.LLM', connectTimeoutMs: 2000, responseTimeoutMs: 2000 });
    const reading = (async () => {
      try {
        for await (const _ of res.body) void _;
        return 'ended';
      } catch (e) {
        return isAbortError(e) ? 'aborted' : `failed: ${(e as Error).message}`;
      } finally {
        res.close();
      }
    })();
    rx.arm('duration', -1);
    await play(user, rx.port(), packets(concat([new Int16Array(8000), speak('stop there please stop talking now', 16000)]), 0xabc), 20);
    await until(() => got.some((g) => g.flags & RxFlag.Fired), 3000);
    const f = got.find((g) => g.flags & RxFlag.Fired)!;
    expect(await reading).toBe('aborted'); // not a dropped connection, though nothing called ctl.abort()
    expect(ctl.signal.aborted).toBe(false);
    expect(f.wireAbortMs).toBeGreaterThanOrEqual(f.decisionMs);
    expect(f.wireAbortMs - f.decisionMs).toBeLessThan(5);
    await until(() => closedAt > 0, 2000);
    expect(closedAt - f.decisionMs).toBeLessThan(50); // the server's own view (its event loop's read)
  });

  it('is not fooled by the agent\'s own voice coming back (far-end ticks), and stays quiet disarmed', async () => {
    const { rx, user, got } = await setup(200);
    const agentVoice = concat([speak('here is a long answer about the weather for tomorrow and the day after', 16000), new Int16Array(8000)]);
    // the echo: the agent's voice 60 ms later at -12 dB
    const echo = new Int16Array(agentVoice.length + 960);
    for (let i = 0; i < agentVoice.length; i++) echo[i + 960] = Math.round(agentVoice[i]! / 4);
    const pkts = packets(echo, 0xabc);
    rx.arm('duration', -1); // no pacer queue: a decision would only be marked
    await play(user, rx.port(), pkts, 20, (k) => {
      const f = agentVoice.subarray(k * FRAME, (k + 1) * FRAME);
      rx.farEnd(nowMs(), f.length === FRAME ? f : null);
    });
    await until(() => got.length >= pkts.length, 3000);
    expect(got.filter((g) => g.flags & RxFlag.Fired)).toHaveLength(0);
    expect(got.filter((g) => g.flags & 8)).toHaveLength(0); // no "D reached" at all

    // the same echo without the reference is speech: the far end is what kept it out
    const plain = await setup(200);
    plain.rx.arm('duration', -1);
    await play(plain.user, plain.rx.port(), packets(echo, 0xabc), 20);
    await until(() => plain.got.length >= pkts.length, 3000);
    expect(plain.got.filter((g) => g.flags & RxFlag.Fired)).toHaveLength(1);
    expect(plain.got.find((g) => g.flags & RxFlag.Fired)!.flushed).toBe(-1);
  });

  it('pairs the echo by the packets\' RTP timestamps: an uplink running 200-280 ms late for seconds is no barge-in', async () => {
    const { rx, user, got } = await setup(0);
    const agentVoice = concat([speak('here is a long answer about the weather for tomorrow and the day after that, with rain in the north', 16000), new Int16Array(8000)]);
    const echo = new Int16Array(agentVoice.length + 960);
    for (let i = 0; i < agentVoice.length; i++) echo[i + 960] = Math.round(agentVoice[i]! / 4);
    const pkts = packets(echo, 0xabc); // timestamps at the capture clock: 960 per 20 ms
    // packets 50-149 leave late, ramping to 200-280 ms (a sender falling behind), then the backlog at once
    const sendAt = pkts.map((_, k) => 20 * k + (k < 50 || k >= 150 ? 0 : Math.min(280, (k - 50) * 14) - (k % 4) * 25));
    for (let k = 1; k < sendAt.length; k++) sendAt[k] = Math.max(sendAt[k]!, sendAt[k - 1]!);
    rx.arm('onset', -1);
    const t0 = nowMs();
    let tick = 0;
    let k = 0;
    while (k < pkts.length) {
      const due = Math.min(20 * tick, sendAt[k]!);
      const wait = t0 + due - nowMs();
      if (wait > 0) await sleep(wait);
      if (20 * tick <= sendAt[k]!) {
        const f = agentVoice.subarray(tick * FRAME, (tick + 1) * FRAME);
        rx.farEnd(nowMs(), f.length === FRAME ? f : null);
        tick++;
      } else user.send(pkts[k++]!, rx.port(), '127.0.0.1');
    }
    await until(() => got.length >= pkts.length, 3000);
    expect(got.filter((g) => g.flags & RxFlag.Fired)).toHaveLength(0);
    expect(got.filter((g) => g.flags & 2)).toHaveLength(0); // no speech start at all
    // the thread dated them as the TS media clock does, the late ones well before their arrival
    const clock = new MediaClock();
    got.forEach((g, k) => expect(Math.abs(g.mediaMs - clock.at(20 * k, g.arrivalMs)), `frame ${k}`).toBeLessThan(1e-6));
    expect(got.filter((g) => g.arrivalMs - g.mediaMs > 150).length).toBeGreaterThan(30);
  });

  it('counts bad packets, conceals a loss, delivers a human voice without the VAD, and refuses bad calls', async () => {
    const { rx, user, got } = await setup(200);
    const humanGot: RxFrame['flags'][] = [];
    rx.addVoice(0xdef, PT, true, false, (f) => humanGot.push(f.flags));
    const pkts = packets(speak('hello there', 16000), 0xabc);
    const human = packets(speak('hello there', 16000), 0xdef);
    const port = rx.port();
    const send = (b: Uint8Array) => user.send(b, port, '127.0.0.1');
    for (let k = 0; k < pkts.length; k++) {
      if (k !== 5) send(pkts[k]!); // one lost
      send(human[k]!);
      if (k === 8) {
        send(pkts[7]!); // late
        send(Buffer.from('not rtp at all'));
        send(Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0])); // RTCP sender report
        send(buildRtp(PT, false, 1, 0, 0x777, new Uint8Array(10))); // an SSRC without a voice
        send(buildRtp(0, false, 9, 0, 0xabc, new Uint8Array(10))); // another payload type
        send(buildRtp(PT, false, 9, 0, 0xabc, new Uint8Array([0xff, 0xff, 0xff]))); // undecodable (a duplicate seq after)
      }
      if (k % 10 === 9) await sleep(2);
    }
    // packet 9 is the undecodable one (the real 9 comes after it as a duplicate): one frame fewer
    await until(() => got.length >= pkts.length - 1 && humanGot.length >= human.length, 3000);
    await sleep(50);
    expect(got.length).toBe(pkts.length - 1);
    expect(got.filter((g) => g.flags & RxFlag.Concealed)).toHaveLength(1);
    expect(humanGot.every((f) => (f & RxFlag.VadRan) === 0)).toBe(true);
    const s = rx.rxStats();
    expect(s).toMatchObject({ lost: 1, rtcp: 1, malformed: 1, overflows: 0, fired: 0 });
    expect(s.late).toBe(2); // the resent 7 and the real 9
    expect(s.decodeErrors).toBe(1);
    expect(s.dropped).toBe(2);
    const b = voiceRxBinding()!;
    expect(() => b.setVad(1, 1, 1 as unknown as number)).not.toThrow(); // a status, not a throw
    expect(b.setVad(-5, 200, 200)).toBeLessThan(0);
    expect(() => (b.farEnd as unknown as (...a: unknown[]) => void)(1, 0, new Int16Array(10))).toThrow(expect.objectContaining({ code: 'VOICE_RX_BAD_ARG' }));
    expect(() => rx.setVad(200, 5)).toThrow(/status/); // hangover out of range
    rx.close();
    expect(() => rx.addVoice(1, PT, false, true, () => {})).toThrow(/status/);
  });
});
