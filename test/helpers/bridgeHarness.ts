/**
 * Runs a real Bridge in-process (real mediasoup worker, real HTTP and WebSocket
 * on loopback) and drives it like a client would: control API calls and a
 * media-stream leg that streams audio at real-time pace.
 */
import WebSocket from 'ws';
import { Bridge } from '../../src/bridge';
import { loadConfig } from '../../src/config';
import { setLogLevel } from '../../src/log';

export const API_KEY = 'test-api-key-0123456789';

export interface ApiAnswer {
  status: number;
  body: Record<string, any>;
}

export class Harness {
  constructor(readonly bridge: Bridge) {}

  get url(): string {
    return this.bridge.url;
  }

  async api(action: string, body: unknown, key = API_KEY): Promise<ApiAnswer> {
    const res = await fetch(`${this.url}/api?Action=${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** Calls an action that must succeed; returns its body. */
  async ok(action: string, body: unknown): Promise<Record<string, any>> {
    const r = await this.api(action, body);
    if (r.status !== 200) throw new Error(`${action} failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** One unlabelled sample of GET /metrics (NaN when absent). */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  }

  async stop(): Promise<void> {
    await this.bridge.stop();
  }
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  setLogLevel((process.env.VOXBRIDGE_TEST_LOG as 'debug') ?? 'error');
  const config = loadConfig({ env: { VOXBRIDGE_PORT: '0', VOXBRIDGE_API_KEY: API_KEY, VOXBRIDGE_WORKERS: '1', ...env } });
  const bridge = new Bridge(config);
  await bridge.start();
  return new Harness(bridge);
}

export interface ReceivedFrame {
  at: number;
  pcm: Int16Array;
}

/** A media-stream leg (L16 16 kHz by default) like a gateway or test client. */
export class MediaClient {
  readonly ws: WebSocket;
  readonly frames: ReceivedFrame[] = [];
  readonly events: Record<string, any>[] = [];
  readonly messages: Record<string, any>[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private streaming: Promise<void> = Promise.resolve();
  private stopStreaming = false;

  constructor(url: string, start: Record<string, unknown>) {
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/media`);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        this.ws.send(JSON.stringify({ event: 'start', mediaFormat: { encoding: 'L16', sampleRate: 16000 }, ...start }));
        resolve();
      });
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      if (isBinary) {
        const pcm = new Int16Array(buf.length >> 1);
        for (let i = 0; i < pcm.length; i++) pcm[i] = buf.readInt16LE(2 * i);
        this.frames.push({ at: performance.now(), pcm });
        return;
      }
      const msg = JSON.parse(buf.toString()) as Record<string, any>;
      msg.receivedAt = performance.now();
      this.events.push(msg);
      if (msg.event === 'message') this.messages.push(msg.data);
    });
  }

  /** Streams PCM16 at 16 kHz in 20 ms frames at real-time pace (drift-free). */
  stream(pcm: Int16Array): Promise<void> {
    this.stopStreaming = false;
    this.streaming = this.streaming.then(async () => {
      const frame = 320;
      const t0 = performance.now();
      for (let i = 0, n = 0; i < pcm.length; i += frame, n++) {
        if (this.stopStreaming || this.ws.readyState !== WebSocket.OPEN) return;
        const due = t0 + n * 20;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const part = pcm.subarray(i, Math.min(i + frame, pcm.length));
        const b = Buffer.allocUnsafe(part.length * 2);
        for (let k = 0; k < part.length; k++) b.writeInt16LE(part[k], 2 * k);
        this.ws.send(b);
      }
    });
    return this.streaming;
  }

  /** Streams silence for `ms` (keeps the VAD clock running like a real call). */
  silence(ms: number): Promise<void> {
    return this.stream(new Int16Array(Math.round((ms * 16000) / 1000)));
  }

  halt(): void {
    this.stopStreaming = true;
  }

  send(obj: unknown): void {
    this.ws.send(typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj));
  }

  /** Waits until `pred` holds (polling), or throws after `timeoutMs`. */
  async until<T>(pred: () => T | undefined | false | null, timeoutMs = 10_000, what = 'condition'): Promise<T> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Frames with audible audio received after `since` (performance.now()). */
  audibleFrames(since = 0, threshold = 200): ReceivedFrame[] {
    return this.frames.filter((f) => f.at >= since && peak(f.pcm) > threshold);
  }

  subtitles(type: 1002 | 1003): { text: string; sentenceId: number; end: boolean }[] {
    return this.messages.filter((m) => m.type === type).map((m) => m.data);
  }

  close(): void {
    this.halt();
    this.ws.close();
  }
}

export function peak(pcm: Int16Array): number {
  let m = 0;
  for (let i = 0; i < pcm.length; i++) {
    const v = Math.abs(pcm[i]);
    if (v > m) m = v;
  }
  return m;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
