// Browser side of the room signaling: protobuf Requests/ServerMessages over a
// WebSocket (proto/signaling.proto, bundled as text and parsed once).
import protobuf from 'protobufjs';
import protoText from '../proto/signaling.proto';

const root = protobuf.parse(protoText).root;
const Request = root.lookupType('voxbridge.signaling.Request');
const ServerMessage = root.lookupType('voxbridge.signaling.ServerMessage');

export const Direction = { SEND: 1, RECV: 2 } as const;

export class SignalingError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

type Pending = { resolve(v: any): void; reject(e: Error): void; body: string };

export class SignalingClient {
  private ws!: WebSocket;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  onNotification: (body: string, msg: any) => void = () => {};
  onClose: (code: number, reason: string, closing?: { code: string; message: string }) => void = () => {};
  private closing?: { code: string; message: string };

  connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error('signaling connection failed'));
      ws.onmessage = (ev) => this.onMessage(new Uint8Array(ev.data as ArrayBuffer));
      ws.onclose = (ev) => {
        for (const p of this.pending.values()) p.reject(new SignalingError(this.closing?.code ?? 'Signaling.Closed', this.closing?.message ?? `connection closed (${ev.code})`));
        this.pending.clear();
        this.onClose(ev.code, ev.reason, this.closing);
      };
    });
  }

  /** Sends one request (`body` is the oneof name, e.g. "join") and waits for its answer. */
  request<T = any>(body: string, fields: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.seq;
    const bytes = Request.encode(Request.fromObject({ id, [body]: fields })).finish();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, body });
      if (this.ws.readyState !== WebSocket.OPEN) {
        this.pending.delete(id);
        reject(new SignalingError('Signaling.Closed', 'not connected'));
        return;
      }
      this.ws.send(bytes);
    });
  }

  private onMessage(buf: Uint8Array): void {
    const m = ServerMessage.toObject(ServerMessage.decode(buf), { defaults: true, oneofs: true, longs: Number, enums: Number }) as any;
    if (m.kind === 'response') {
      const r = m.response;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.body === 'error') p.reject(new SignalingError(r.error.code, r.error.message));
      else p.resolve(r[r.body]);
    } else if (m.kind === 'notification') {
      const n = m.notification;
      if (n.body === 'closing') this.closing = n.closing;
      this.onNotification(n.body, n[n.body]);
    }
  }

  close(): void {
    this.ws?.close(1000, 'bye');
  }
}
