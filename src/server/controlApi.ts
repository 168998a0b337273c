/**
 * The HTTP control API: `POST /api?Action=<Name>` with a JSON body in PascalCase,
 * as the hosted voice-agent services expose it. Every answer carries a RequestId;
 * errors answer `{Code, Message, RequestId}` with a 4xx/5xx status, the Code
 * naming the bad field (e.g. `InvalidParameter.InterruptSpeechDuration`).
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import { InvalidParameterError, isVoxError } from '../errors';
import { createLogger } from '../log';

const log = createLogger('api');

export interface ActionContext {
  requestId: string;
}
export type ActionHandler = (body: Record<string, unknown>, ctx: ActionContext) => Promise<Record<string, unknown>> | Record<string, unknown>;

const MAX_BODY = 1 << 20;

export class ControlApi {
  private readonly actions = new Map<string, ActionHandler>();

  constructor(private readonly apiKey: string) {}

  register(action: string, handler: ActionHandler): void {
    this.actions.set(action, handler);
  }

  get actionNames(): string[] {
    return [...this.actions.keys()].sort();
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const requestId = crypto.randomUUID();
    const started = performance.now();
    let action = url.searchParams.get('Action') ?? '';
    try {
      if (req.method !== 'POST') throw new InvalidParameterError('InvalidParameter.Method', 'the control API takes POST', 405);
      if (!this.authorized(req)) throw new InvalidParameterError('Unauthorized.ApiKey', 'missing or wrong API key (Authorization: Bearer <key> or X-Api-Key)', 401);
      if (!action) throw new InvalidParameterError('MissingParameter.Action', 'the query parameter Action is required');
      const handler = this.actions.get(action);
      if (!handler) {
        throw new InvalidParameterError('InvalidParameter.Action', `unknown Action "${action.slice(0, 64)}"; known: ${this.actionNames.join(', ')}`);
      }
      const body = await readJsonBody(req);
      const result = await handler(body, { requestId });
      send(res, 200, { RequestId: requestId, ...result });
      log.debug('api call', { action, requestId, ms: +(performance.now() - started).toFixed(2) });
    } catch (e) {
      if (isVoxError(e)) {
        const status = 'httpStatus' in e ? e.httpStatus : e.name === 'ProviderError' ? 502 : 400;
        send(res, status, { Code: e.code, Message: e.message, RequestId: requestId });
        log.info('api error', { action: action.slice(0, 64), requestId, code: e.code, status });
      } else {
        send(res, 500, { Code: 'InternalError', Message: 'internal error; see the bridge log', RequestId: requestId });
        log.error('api internal error', { action: action.slice(0, 64), requestId, error: e, stack: (e as Error)?.stack });
      }
      action = '';
    }
  }

  private authorized(req: http.IncomingMessage): boolean {
    const auth = req.headers.authorization;
    const given = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : (req.headers['x-api-key'] as string | undefined);
    if (!given) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.apiKey);
    return a.length === b.length && crypto.timingSafeEqual(a, b);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new InvalidParameterError('InvalidParameter.Body', `body exceeds ${MAX_BODY} bytes`, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new InvalidParameterError('InvalidParameter.Body', `body exceeds ${MAX_BODY} bytes`, 413);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InvalidParameterError('InvalidParameter.Body', `body is not valid JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidParameterError('InvalidParameter.Body', 'body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}
