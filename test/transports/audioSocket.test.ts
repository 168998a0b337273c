/**
 * The AudioSocket server from a test client that speaks the Asterisk protocol:
 * call id, 8 kHz signed-linear frames (also split across TCP writes at odd
 * places), hang-up both ways, and every kind of malformed frame answered with an
 * error frame and a clean close without disturbing a call in progress.
 */
import net from 'node:net';
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiTestServer, textEvents } from '../helpers/openaiServer';
import { startTelephony, testAgent, toneSpeech, until, sleep, type TelephonyStack } from '../helpers/sipHarness';
import { speak } from '../helpers/clips';
import { concat } from '../helpers/audio';
import { nativePacer, pacerTotals } from '../../src/sfu/pacedRtp';

let ai: OpenAiTestServer;
let stack: TelephonyStack;

beforeAll(async () => {
  ai = await OpenAiTestServer.start();
  stack = await startTelephony({
    VOXBRIDGE_TELEPHONY_AGENTS: JSON.stringify({ desk: testAgent(ai) }),
    VOXBRIDGE_AUDIOSOCKET_ENABLED: 'true',
    VOXBRIDGE_AUDIOSOCKET_PORT: '0',
    VOXBRIDGE_AUDIOSOCKET_AGENT: 'desk',
  });
});
afterAll(async () => {
  await stack?.stop();
  await ai?.close();
});

function frame(kind: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.alloc(3);
  h[0] = kind;
  h.writeUInt16BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

function pcmBytes(pcm: Int16Array): Buffer {
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i], 2 * i);
  return b;
}

interface Got {
  kind: number;
  payload: Buffer;
  at: number;
}

/** An Asterisk-like peer: collects the frames it receives. */
class Peer {
  readonly sock: net.Socket;
  readonly frames: Got[] = [];
  readonly ended: Promise<void>;
  private buf = Buffer.alloc(0);

  constructor() {
    this.sock = net.connect({ host: '127.0.0.1', port: stack.audioSocket!.port });
    this.ended = new Promise((r) => this.sock.once('end', () => r()));
    this.sock.on('error', () => {});
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 3) {
        const len = this.buf.readUInt16BE(1);
        if (this.buf.length < 3 + len) break;
        this.frames.push({ kind: this.buf[0], payload: this.buf.subarray(3, 3 + len), at: performance.now() });
        this.buf = this.buf.subarray(3 + len);
      }
    });
  }

  async connected(): Promise<void> {
    if (this.sock.connecting) await new Promise((r) => this.sock.once('connect', r));
  }

  /** Streams 8 kHz PCM in 20 ms audio frames at real-time pace, each frame split in two writes at an odd byte. */
  async stream(pcm: Int16Array): Promise<void> {
    const t0 = performance.now();
    for (let i = 0, n = 0; i < pcm.length; i += 160, n++) {
      const wait = t0 + n * 20 - performance.now();
      if (wait > 0) await sleep(wait);
      const f = frame(0x10, pcmBytes(pcm.subarray(i, i + 160)));
      this.sock.write(f.subarray(0, 2));
      this.sock.write(f.subarray(2, 101));
      this.sock.write(f.subarray(101));
    }
  }

  audio(): Got[] {
    return this.frames.filter((f) => f.kind === 0x10);
  }
}

const uuid = () => crypto.randomBytes(16);

describe('AudioSocket server', () => {
  it('answers a call: the agent hears 8 kHz audio split across reads and speaks back in paced 20 ms frames; hang-up ends it', async () => {
    ai.scriptTranscription({ text: 'where is my parcel' });
    ai.scriptChat({ events: textEvents('It is on its way.') });
    ai.scriptSpeech(toneSpeech(1.5));
    const p = new Peer();
    await p.connected();
    const id = uuid();
    const paced0 = pacerTotals().sent;
    p.sock.write(frame(0x01, id));
    await p.stream(concat([speak('where is my parcel', 8000), new Int16Array(8000)]));
    await until(() => p.audio().length >= 60, 10_000, 'agent audio');
    const session = stack.agents.all().find((s) => s.config.roomId.includes(id.toString('hex').slice(0, 8)))!;
    expect(session.turns[0]?.userText).toBe('where is my parcel');
    const audio = p.audio();
    expect(audio.slice(1).every((f) => f.payload.length === 320)).toBe(true);
    const span = audio[audio.length - 1].at - audio[0].at;
    expect(span).toBeGreaterThan((audio.length - 1) * 20 - 60);
    // written by the pacer thread at their time (the addon is built for the tests)
    if (nativePacer()) expect(pacerTotals().sent - paced0).toBeGreaterThanOrEqual(audio.length - 2);
    p.sock.write(frame(0x00));
    await p.ended;
    await until(() => session.ended, 2000, 'agent ended');
    expect(session.endReason).toBe('userHangup');
  });

  it('joins a running agent whose AgentInstanceId carries the call UUID, and sends hangup when the agent ends', async () => {
    ai.scriptSpeech(toneSpeech(0.4));
    const { parseStartVoiceChat } = await import('../../src/agent/agentConfig');
    const s = stack.agents.start(parseStartVoiceChat({ RoomId: 'as-join', ...testAgent(ai, { welcome: 'Hello.' }) }));
    const hex = s.id.slice('agent-'.length).replace(/-/g, '');
    const p = new Peer();
    await p.connected();
    p.sock.write(frame(0x01, Buffer.from(hex, 'hex')));
    await until(() => p.audio().length >= 10, 5000, 'welcome audio');
    s.end('hangup');
    await until(() => p.frames.find((f) => f.kind === 0x00), 2000, 'hangup frame');
    await p.ended;
  });

  it.each([
    ['an unknown kind', [frame(0x01, uuid()), Buffer.from([0x42, 0, 0])], 'TLV_UNKNOWN_KIND'],
    ['an oversize length (checked at header time)', [frame(0x01, uuid()), Buffer.from([0x10, 0xff, 0xff])], 'TLV_OVERSIZE'],
    ['audio before the call id', [frame(0x10, new Uint8Array(320))], 'AUDIOSOCKET_NO_ID'],
    ['a call id that is not 16 bytes', [frame(0x01, new Uint8Array(5))], 'AUDIOSOCKET_BAD_ID'],
    ['a second call id', [frame(0x01, uuid()), frame(0x01, uuid())], 'AUDIOSOCKET_DUPLICATE_ID'],
    ['an odd audio length', [frame(0x01, uuid()), frame(0x10, new Uint8Array(321))], 'AUDIOSOCKET_BAD_AUDIO'],
    ['a stream that ends inside a frame', [frame(0x01, uuid()), frame(0x10, new Uint8Array(320)).subarray(0, 100)], 'TLV_TRUNCATED'],
  ])('answers %s with an error frame and a clean close, leaving other calls alone', async (_n, writes, code) => {
    // A call in progress on another connection.
    ai.scriptSpeech(toneSpeech(3));
    const other = new Peer();
    await other.connected();
    other.sock.write(frame(0x01, uuid()));
    const streaming = other.stream(new Int16Array(8000 * 1));
    const p = new Peer();
    await p.connected();
    for (const w of writes) p.sock.write(w);
    if (code === 'TLV_TRUNCATED') p.sock.end();
    await until(() => p.frames.find((f) => f.kind === 0xff), 3000, 'error frame');
    expect(p.frames.find((f) => f.kind === 0xff)!.payload.toString('ascii')).toBe(code);
    await p.ended;
    await streaming;
    expect(other.sock.destroyed).toBe(false);
    other.sock.write(frame(0x00));
    await other.ended;
  });
});
