/**
 * A local OpenAI-compatible server for tests, on 127.0.0.1 (port 0), speaking the
 * exact wire protocol of:
 *   POST /v1/chat/completions     streamed SSE (`data: {chunk}\n\n` ... `data: [DONE]`)
 *   POST /v1/audio/speech         chunked raw PCM16 LE (response_format "pcm")
 *   POST /v1/audio/transcriptions multipart/form-data in, `{ "text" }` out
 *
 * Each answer follows a script queued by the test (FIFO per endpoint; when the
 * queue is empty a default answer is used): exact body bytes or chunk objects,
 * chunk boundaries at arbitrary byte offsets (inside a UTF-8 character or a
 * `data:` prefix included), keep-alive comments, delays, HTTP errors, an error
 * object mid-stream, a socket dropped after N bytes, a never-ending answer.
 *
 * Every request is recorded (headers, body, JSON, multipart parts) with the
 * time its connection was closed, so tests can assert that an abort closed it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json?: any;
  parts?: MultipartPart[];
  /** performance.now() when the request body was complete. */
  receivedAt: number;
  /** performance.now() when the server finished writing the response. */
  finishedAt?: number;
  /** performance.now() when the request's socket closed. */
  closedAt?: number;
  /** The socket closed before the server finished the response (client abort, or our drop). */
  closedEarly: boolean;
  /** Resolves with closedAt once the socket is closed. */
  closed: Promise<number>;
}

interface Timing {
  /** Delay before the status line and headers. */
  headersDelayMs?: number;
  /** Delay after the headers, before the first body byte. */
  firstByteDelayMs?: number;
  /** Delay between body chunks (0: next macrotask). */
  chunkDelayMs?: number;
  /** Chunk boundaries as byte offsets into the body, or a fixed chunk size. */
  split?: number[] | { every: number };
  /** Destroy the socket after writing this many body bytes. */
  dropAfterBytes?: number;
  /** Never end the response (the client has to abort). */
  hang?: boolean;
}

export interface ChatScript extends Timing {
  /** Destroy the socket as soon as the request arrives, without answering. */
  resetOnArrival?: boolean;
  /** Non-200 status with `errorBody` (JSON) instead of a stream. */
  status?: number;
  errorBody?: unknown;
  /** Stream items: object → `data: JSON\n\n`; string → written raw. */
  events?: unknown[];
  /** Append `data: [DONE]\n\n` (default true; ignored with `raw`). */
  done?: boolean;
  /** Exact body bytes (overrides events). */
  raw?: string | Buffer;
  contentType?: string;
}

export interface SpeechScript extends Timing {
  status?: number;
  errorBody?: unknown;
  /** PCM16 samples to stream (as LE bytes), or raw bytes. */
  pcm?: Int16Array | Buffer;
  /** Chunk sizes in bytes, used in turn (e.g. odd sizes). Overrides `split`. */
  chunkSizes?: number[];
  contentType?: string;
}

export interface TranscriptionScript {
  status?: number;
  errorBody?: unknown;
  text?: string;
  delayMs?: number;
}

// ---------------------------------------------------------------------------
// Builders for chat.completion.chunk objects and SSE bodies.

let chunkSeq = 0;

export interface ChunkFields {
  content?: string;
  role?: string;
  toolCalls?: unknown[];
  finishReason?: string | null;
  model?: string;
}

export function chunk(f: ChunkFields): Record<string, unknown> {
  const delta: Record<string, unknown> = {};
  if (f.role !== undefined) delta.role = f.role;
  if (f.content !== undefined) delta.content = f.content;
  if (f.toolCalls !== undefined) delta.tool_calls = f.toolCalls;
  return {
    id: `chatcmpl-test${chunkSeq++}`,
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: f.model ?? 'test-model',
    choices: [{ index: 0, delta, finish_reason: f.finishReason ?? null }],
  };
}

/** Text in `pieces` deltas (split by code points), then a `stop` chunk. */
export function textEvents(text: string, pieces = 4): Record<string, unknown>[] {
  const cps = [...text];
  const out: Record<string, unknown>[] = [chunk({ role: 'assistant', content: '' })];
  const size = Math.max(1, Math.ceil(cps.length / pieces));
  for (let i = 0; i < cps.length; i += size) out.push(chunk({ content: cps.slice(i, i + size).join('') }));
  out.push(chunk({ finishReason: 'stop' }));
  return out;
}

/**
 * Tool-call deltas the way OpenAI streams them: id + name (+ empty arguments)
 * first, then the arguments in `argPieces` pieces, by index.
 */
export function toolCallEvents(
  calls: { index: number; id: string; name: string; arguments: string }[],
  argPieces = 4,
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const c of calls) {
    out.push(
      chunk({
        toolCalls: [{ index: c.index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }],
      }),
    );
    const size = Math.max(1, Math.ceil(c.arguments.length / argPieces));
    for (let i = 0; i < c.arguments.length; i += size) {
      out.push(chunk({ toolCalls: [{ index: c.index, function: { arguments: c.arguments.slice(i, i + size) } }] }));
    }
  }
  return out;
}

/**
 * A long answer streamed slowly (one delta of `wordsPerDelta` words every
 * `delayMs`), for barge-in tests that interrupt the agent mid-answer.
 */
export function slowAnswer(words: number, delayMs = 50, wordsPerDelta = 1): ChatScript {
  const text = Array.from({ length: words }, (_, i) => `word${i + 1}`).join(' ') + '.';
  return { events: textEvents(text, Math.ceil(words / wordsPerDelta)), chunkDelayMs: delayMs };
}

/** Serializes stream items to an SSE body (objects → data lines; strings raw). */
export function sseBody(events: unknown[], done = true): string {
  let s = '';
  for (const e of events) s += typeof e === 'string' ? e : `data: ${JSON.stringify(e)}\n\n`;
  if (done) s += 'data: [DONE]\n\n';
  return s;
}

// ---------------------------------------------------------------------------

function parseMultipart(body: Buffer, contentType: string): MultipartPart[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) throw new Error('multipart without boundary');
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: MultipartPart[] = [];
  let pos = body.indexOf(boundary);
  if (pos < 0) throw new Error('multipart boundary not found');
  for (;;) {
    pos += boundary.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new Error('bad multipart delimiter line');
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) throw new Error('multipart part without header end');
    const head = body.subarray(pos, headEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), boundary]), headEnd + 4);
    if (next < 0) throw new Error('multipart part not terminated');
    const data = body.subarray(headEnd + 4, next);
    const disp = /content-disposition:\s*form-data;([^\r\n]*)/i.exec(head)?.[1] ?? '';
    const name = /\bname="([^"]*)"/.exec(disp)?.[1] ?? '';
    const filename = /\bfilename="([^"]*)"/.exec(disp)?.[1];
    const ctype = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1];
    parts.push({ name, ...(filename !== undefined ? { filename } : {}), ...(ctype ? { contentType: ctype } : {}), data });
    pos = next + 2;
  }
  return parts;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));

function cutPoints(len: number, t: Timing, chunkSizes?: number[]): number[] {
  const cuts: number[] = [];
  if (chunkSizes && chunkSizes.length > 0) {
    let p = 0;
    for (let i = 0; p < len; i++) {
      p += Math.max(1, chunkSizes[i % chunkSizes.length]!);
      if (p < len) cuts.push(p);
    }
  } else if (Array.isArray(t.split)) {
    for (const c of [...t.split].sort((a, b) => a - b)) if (c > 0 && c < len && cuts[cuts.length - 1] !== c) cuts.push(c);
  } else if (t.split) {
    for (let p = t.split.every; p < len; p += t.split.every) cuts.push(p);
  }
  return cuts;
}

export class OpenAiTestServer {
  readonly requests: RecordedRequest[] = [];
  readonly chatScripts: (ChatScript | ((r: RecordedRequest) => ChatScript))[] = [];
  readonly speechScripts: SpeechScript[] = [];
  readonly transcriptionScripts: TranscriptionScript[] = [];
  defaultChat: ChatScript = { events: textEvents('Hello from the test server.') };
  defaultSpeech: SpeechScript = { pcm: new Int16Array(2400) };
  defaultTranscription: TranscriptionScript = { text: 'hello' };
  private readonly server: http.Server;
  private readonly openOnSocket = new WeakMap<object, Map<RecordedRequest, (t: number) => void>>();
  private seq = 0;
  port = 0;

  private constructor() {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  static async start(): Promise<OpenAiTestServer> {
    const s = new OpenAiTestServer();
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  /** Base URL with `/v1` (what OpenAI clients are configured with). */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  scriptChat(...scripts: (ChatScript | ((r: RecordedRequest) => ChatScript))[]): void {
    this.chatScripts.push(...scripts);
  }
  scriptSpeech(...scripts: SpeechScript[]): void {
    this.speechScripts.push(...scripts);
  }
  scriptTranscription(...scripts: TranscriptionScript[]): void {
    this.transcriptionScripts.push(...scripts);
  }

  /** Waits until `n` requests have been received. */
  async waitForRequests(n: number, timeoutMs = 5000): Promise<RecordedRequest> {
    const end = Date.now() + timeoutMs;
    while (this.requests.length < n) {
      if (Date.now() > end) throw new Error(`only ${this.requests.length} requests after ${timeoutMs} ms`);
      await sleep(2);
    }
    return this.requests[n - 1]!;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const socket = req.socket;
    socket.setNoDelay(true);
    let onClosed!: (t: number) => void;
    const rec: RecordedRequest = {
      seq: ++this.seq,
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0]!,
      headers: req.headers,
      body: Buffer.alloc(0),
      receivedAt: 0,
      closedEarly: false,
      closed: new Promise<number>((r) => (onClosed = r)),
    };
    // One close listener per keep-alive socket, tracking its unfinished requests
    // (a listener per request would pile up over thousands of requests in benches).
    let open = this.openOnSocket.get(socket);
    if (!open) {
      const set = new Map<RecordedRequest, (t: number) => void>();
      this.openOnSocket.set(socket, set);
      socket.once('close', () => {
        const t = performance.now();
        for (const [r, done] of set) {
          r.closedAt = t;
          r.closedEarly = r.finishedAt === undefined;
          done(t);
        }
        set.clear();
      });
      open = set;
    }
    open.set(rec, onClosed);
    res.once('finish', () => open!.delete(rec));
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    rec.body = Buffer.concat(parts);
    rec.receivedAt = performance.now();
    const ctype = String(req.headers['content-type'] ?? '');
    try {
      if (ctype.includes('application/json')) rec.json = JSON.parse(rec.body.toString('utf8'));
      else if (ctype.includes('multipart/form-data')) rec.parts = parseMultipart(rec.body, ctype);
    } catch (err) {
      this.requests.push(rec);
      this.sendError(res, rec, 400, { error: { message: `bad request body: ${(err as Error).message}` } });
      return;
    }
    this.requests.push(rec);
    try {
      if (rec.path.endsWith('/chat/completions')) await this.chat(res, rec);
      else if (rec.path.endsWith('/audio/speech')) await this.speech(res, rec);
      else if (rec.path.endsWith('/audio/transcriptions')) await this.transcription(res, rec);
      else this.sendError(res, rec, 404, { error: { message: `no route ${rec.path}` } });
    } catch {
      socket.destroy();
    }
  }

  private sendError(res: http.ServerResponse, rec: RecordedRequest, status: number, body: unknown): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body ?? { error: { message: `status ${status}` } });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(text, () => (rec.finishedAt = performance.now()));
  }

  private async chat(res: http.ServerResponse, rec: RecordedRequest): Promise<void> {
    const next = this.chatScripts.shift() ?? this.defaultChat;
    const s = typeof next === 'function' ? next(rec) : next;
    if (s.resetOnArrival) {
      res.socket?.destroy();
      return;
    }
    if (s.headersDelayMs) await sleep(s.headersDelayMs);
    if (s.status && s.status !== 200) {
      this.sendError(res, rec, s.status, s.errorBody);
      return;
    }
    const body = Buffer.from(s.raw ?? sseBody(s.events ?? [], s.done ?? true));
    // Without explicit boundaries, each stream item is written separately.
    let t: Timing = s;
    if (s.raw === undefined && s.split === undefined) {
      const cuts: number[] = [];
      let p = 0;
      for (const e of [...(s.events ?? []), ...(s.done ?? true ? ['data: [DONE]\n\n'] : [])]) {
        p += Buffer.byteLength(sseBody([e], false));
        cuts.push(p);
      }
      t = { ...s, split: cuts };
    }
    await this.stream(res, rec, t, body, s.contentType ?? 'text/event-stream');
  }

  private async speech(res: http.ServerResponse, rec: RecordedRequest): Promise<void> {
    const s = this.speechScripts.shift() ?? this.defaultSpeech;
    if (s.headersDelayMs) await sleep(s.headersDelayMs);
    if (s.status && s.status !== 200) {
      this.sendError(res, rec, s.status, s.errorBody);
      return;
    }
    const pcm = s.pcm ?? new Int16Array(0);
    const body = Buffer.isBuffer(pcm) ? pcm : Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    await this.stream(res, rec, s, body, s.contentType ?? 'audio/pcm', s.chunkSizes);
  }

  private async transcription(res: http.ServerResponse, rec: RecordedRequest): Promise<void> {
    const s = this.transcriptionScripts.shift() ?? this.defaultTranscription;
    if (s.delayMs) await sleep(s.delayMs);
    if (s.status && s.status !== 200) {
      this.sendError(res, rec, s.status, s.errorBody);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ text: s.text ?? '' }), () => (rec.finishedAt = performance.now()));
  }

  private async stream(
    res: http.ServerResponse,
    rec: RecordedRequest,
    t: Timing,
    body: Buffer,
    contentType: string,
    chunkSizes?: number[],
  ): Promise<void> {
    const socket = res.socket;
    const gone = (): boolean => res.destroyed || !socket || socket.destroyed;
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (t.firstByteDelayMs) await sleep(t.firstByteDelayMs);
    const cuts = cutPoints(body.length, t, chunkSizes);
    let prev = 0;
    for (const end of [...cuts, body.length]) {
      if (gone()) return;
      let piece = body.subarray(prev, end);
      if (t.dropAfterBytes !== undefined && end > t.dropAfterBytes) {
        piece = body.subarray(prev, Math.max(prev, t.dropAfterBytes));
        if (piece.length > 0) await new Promise<void>((r) => res.write(piece, () => r()));
        socket?.destroy();
        return;
      }
      if (piece.length > 0) res.write(piece);
      prev = end;
      if (end < body.length && (t.chunkDelayMs !== undefined || cuts.length > 0)) await sleep(t.chunkDelayMs ?? 0);
    }
    if (t.dropAfterBytes !== undefined) {
      await new Promise<void>((r) => res.write('', () => r()));
      socket?.destroy();
      return;
    }
    if (t.hang) return;
    if (gone()) return;
    res.end(() => (rec.finishedAt = performance.now()));
  }
}
