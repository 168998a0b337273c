/**
 * HTTP routes of the room web page:
 *   GET /                 → redirect to /room/
 *   GET /room/            the page (dist/web/index.html, built by web/build.mjs)
 *   GET /room/<asset>     its bundle and style sheet
 *   GET /room/config.json { demo: boolean, signalingPath }
 * and, for the localhost quickstart only (DEMO), with no API key:
 *   POST /demo/token      { roomId?, userId? } → a user join token (10 min)
 *   POST /demo/agent      { roomId }           → starts the embedded demo agent (echo
 *                          policy, espeak-ng, pocketsphinx) in that room
 *   POST /demo/takeover   { roomId, agentInstanceId? } → takes the room's agent over; a human-agent token
 * The demo routes follow the `demo` setting (VOXBRIDGE_DEMO=auto|on|off; 1/0 also
 * accepted): 'auto' turns them on only when the bridge listens on loopback.
 */
import fs from 'node:fs';
import path from 'node:path';
import type http from 'node:http';
import { signToken } from '../auth/tokens';
import { ID_PATTERN, parseStartVoiceChat } from '../agent/agentConfig';
import type { AgentManager } from '../agent/agentManager';
import { isVoxError, InvalidParameterError } from '../errors';
import { projectRoot } from '../native/addon';
import { createLogger } from '../log';

const log = createLogger('web');
export const WEB_DIR = path.join(projectRoot, 'dist', 'web');
const DEMO_TOKEN_TTL = 600;
export const DEMO_WELCOME = 'Hello! This is the voxbridge demo agent. It repeats what you say. Say goodbye to end the call.';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function demoEnabled(host: string, setting: 'auto' | 'on' | 'off'): boolean {
  if (setting !== 'auto') return setting === 'on';
  return isLoopback(host);
}

export interface WebRoutesOptions {
  agents: AgentManager;
  tokenSecret: string;
  demo: boolean;
  webDir?: string;
}

export class WebRoutes {
  private demoSeq = 0;

  constructor(private readonly opts: WebRoutesOptions) {}

  /** Handles the request if it is one of ours; returns false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const p = url.pathname;
    if (p === '/' && req.method === 'GET') {
      res.writeHead(302, { location: '/room/' });
      res.end();
      return true;
    }
    if (p === '/room') {
      res.writeHead(301, { location: '/room/' + url.search });
      res.end();
      return true;
    }
    if (p.startsWith('/room/') && (req.method === 'GET' || req.method === 'HEAD')) {
      this.serveStatic(req, res, p.slice('/room/'.length) || 'index.html');
      return true;
    }
    if (p.startsWith('/demo/')) {
      void this.demo(req, res, p.slice('/demo/'.length));
      return true;
    }
    return false;
  }

  private serveStatic(req: http.IncomingMessage, res: http.ServerResponse, name: string): void {
    if (name === 'config.json') return json(res, 200, { demo: this.opts.demo, signalingPath: '/ws' });
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(name)) return json(res, 404, { Code: 'NotFound', Message: 'no such file' });
    const file = path.join(this.opts.webDir ?? WEB_DIR, name);
    fs.readFile(file, (err, data) => {
      if (err) {
        const missing = name === 'index.html';
        json(res, 404, { Code: missing ? 'Web.NotBuilt' : 'NotFound', Message: missing ? 'the web page is not built; run "npm run build"' : 'no such file' });
        return;
      }
      res.writeHead(200, {
        'content-type': TYPES[path.extname(name)] ?? 'application/octet-stream',
        'content-length': data.length,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
  }

  private async demo(req: http.IncomingMessage, res: http.ServerResponse, action: string): Promise<void> {
    try {
      if (!this.opts.demo) return json(res, 404, { Code: 'Demo.Disabled', Message: 'the demo routes are off (the bridge is not on loopback; VOXBRIDGE_DEMO=1 turns them on)' });
      if (req.method !== 'POST') return json(res, 405, { Code: 'InvalidParameter.Method', Message: 'POST only' });
      const body = await readBody(req);
      const roomId = id(body.roomId, 'roomId') ?? 'demo';
      switch (action) {
        case 'token': {
          const uid = id(body.userId, 'userId') ?? `guest-${Date.now().toString(36)}-${++this.demoSeq}`;
          const token = signToken(this.opts.tokenSecret, { room: roomId, uid, role: 'user' }, DEMO_TOKEN_TTL);
          return json(res, 200, { demo: true, token, roomId, userId: uid });
        }
        case 'agent': {
          const config = parseStartVoiceChat({
            RoomId: roomId,
            TaskId: `demo-${Date.now().toString(36)}-${++this.demoSeq}`,
            AgentConfig: { UserId: 'demo-agent', WelcomeMessage: DEMO_WELCOME },
            Config: { LLMConfig: { Mode: 'Demo', FunctionMap: [{ Function: 'hangup', MatchFunction: 'hangup' }] } },
          });
          const s = this.opts.agents.start(config);
          log.info('demo agent started', { room: roomId, agent: s.id });
          return json(res, 200, { demo: true, agentInstanceId: s.id, roomId });
        }
        case 'takeover': {
          const s = body.agentInstanceId
            ? this.opts.agents.find({ AgentInstanceId: body.agentInstanceId })
            : this.opts.agents.all().filter((a) => a.config.roomId === roomId && !a.ended && !a.isTakenOver).pop();
          if (!s) throw new InvalidParameterError('InvalidParameter.AgentInstanceId', `no running agent in room ${roomId}`, 404);
          const uid = id(body.userId, 'userId') ?? `human-${Date.now().toString(36)}`;
          const { token } = s.takeover(uid, 0);
          return json(res, 200, { demo: true, token, roomId: s.config.roomId, userId: uid, agentInstanceId: s.id });
        }
        default:
          return json(res, 404, { Code: 'NotFound', Message: `no demo action ${action.slice(0, 32)}` });
      }
    } catch (e) {
      if (isVoxError(e)) return json(res, 'httpStatus' in e ? e.httpStatus : 400, { Code: e.code, Message: e.message });
      log.error('demo route failed', { error: e });
      json(res, 500, { Code: 'InternalError', Message: 'internal error' });
    }
  }
}

function id(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length > 128 || !ID_PATTERN.test(v)) throw new InvalidParameterError(`InvalidParameter.${field}`, `${field} must be 1-128 characters of A-Z a-z 0-9 _ . @ : -`);
  return v;
}

async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 16384) throw new InvalidParameterError('InvalidParameter.Body', 'body too large', 413);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new InvalidParameterError('InvalidParameter.Body', 'body must be a JSON object');
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
