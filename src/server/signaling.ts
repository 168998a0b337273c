/**
 * WebSocket endpoint for room signaling (`/ws`). For now it greets the client
 * with the protocol version and answers `ping`; room join, transports and
 * producers arrive with the rooms work. Malformed messages get an error frame
 * and the socket stays open.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLogger } from '../log';

const log = createLogger('signaling');
export const SIGNALING_PATH = '/ws';
export const SIGNALING_VERSION = 0;

export class SignalingServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });

  constructor() {
    this.wss.on('connection', (ws) => this.onConnection(ws));
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private onConnection(ws: WebSocket): void {
    ws.send(JSON.stringify({ type: 'hello', version: SIGNALING_VERSION }));
    ws.on('message', (data, isBinary) => {
      let msg: { type?: unknown; id?: unknown } | undefined;
      try {
        msg = isBinary ? undefined : JSON.parse(data.toString());
      } catch {
        msg = undefined;
      }
      if (!msg || typeof msg !== 'object') {
        ws.send(JSON.stringify({ type: 'error', code: 'SIGNALING_BAD_MESSAGE', message: 'expected a JSON object' }));
        return;
      }
      if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong', id: msg.id ?? null }));
      else ws.send(JSON.stringify({ type: 'error', code: 'SIGNALING_UNKNOWN_TYPE', message: `unknown message type ${JSON.stringify(msg.type)}` }));
    });
    ws.on('error', (e) => log.warn('signaling socket error', { error: e }));
  }

  close(): void {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }
}
