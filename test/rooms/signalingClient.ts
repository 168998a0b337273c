/**
 * A Node client of the room signaling (protobuf over ws), for tests: request()
 * waits for the answer of one Request; notifications and the close are recorded.
 */
import WebSocket from 'ws';
import { decodeServerMessage, encodeRequest } from '../../src/rooms/signalingCodec';

export class RoomSignalingClient {
  readonly ws: WebSocket;
  readonly notifications: { body: string; msg: any; at: number }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private seq = 0;
  private readonly pending = new Map<number, (r: any) => void>();
  private waiters: (() => void)[] = [];

  constructor(baseUrl: string) {
    this.ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data: Buffer) => {
      const m = decodeServerMessage(data);
      if (m.kind === 'response') {
        const cb = this.pending.get(m.response.id);
        this.pending.delete(m.response.id);
        cb?.(m.response);
      } else {
        const n = m.notification;
        this.notifications.push({ body: n.body, msg: n[n.body], at: performance.now() });
        for (const w of this.waiters.splice(0)) w();
      }
    });
  }

  /** Sends a request; resolves with the whole Response ({id, body, [body]}). */
  async request(body: string, fields: Record<string, unknown> = {}): Promise<any> {
    await this.opened;
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(encodeRequest({ id, [body]: fields }));
    });
  }

  /** Like request(), but throws on an error answer and returns the body's fields. */
  async ok(body: string, fields: Record<string, unknown> = {}): Promise<any> {
    const r = await this.request(body, fields);
    if (r.body === 'error') throw new Error(`${body}: ${r.error.code} ${r.error.message}`);
    return r[r.body];
  }

  async notification(body: string, pred: (m: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const n = this.notifications.find((x) => x.body === body && pred(x.msg));
      if (n) return n.msg;
      if (Date.now() > end) throw new Error(`timed out waiting for notification ${body}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  sendRaw(data: Buffer | string): void {
    this.ws.send(data);
  }

  close(): void {
    this.ws.close();
  }
}
