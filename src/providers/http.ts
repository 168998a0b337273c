/**
 * One HTTP request to an OpenAI-compatible service, on node:http/https directly so
 * that cancellation really closes the socket: an aborted signal, a timeout or the
 * consumer giving up destroys the request (and its socket) at once.
 *
 * Errors are ProviderErrors with codes `<prefix>.Network`, `<prefix>.Timeout`,
 * `<prefix>.Http` (non-2xx; message from the JSON error body, `status` set) and
 * `<prefix>.Dropped` (connection lost while reading the body). An abort throws a
 * DOMException named 'AbortError' (isAbortError).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { ProviderError, abortError, isAbortError } from '../errors';
import { wireLease, type WireAbortLease } from './wireAbort';

export type ProviderPrefix = 'Provider.LLM' | 'Provider.TTS' | 'Provider.ASR';

export interface HttpRequestOptions {
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
  signal: AbortSignal;
  prefix: ProviderPrefix;
  /** Until the TCP (and TLS) connection is up. */
  connectTimeoutMs: number;
  /** From the request being sent until the response headers. */
  responseTimeoutMs: number;
}

export interface HttpResponseStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Body chunks; throws the failure (timeout, abort, drop) that ended it. */
  body: AsyncGenerator<Buffer, void, undefined>;
  /** (Re)arms the watchdog: fails with `<prefix>.Timeout` if not re-armed or disarmed within `ms`. */
  arm(ms: number, what: string): void;
  disarm(): void;
  /** Releases everything; destroys the socket unless the body was read to its end. */
  close(): void;
}

/** The error every provider throws when its signal aborts (made in ../errors). */
export { abortError };

export function postJson(opts: Omit<HttpRequestOptions, 'body'> & { json: unknown }): Promise<HttpResponseStream> {
  const body = Buffer.from(JSON.stringify(opts.json));
  return httpPost({
    ...opts,
    body,
    headers: { 'content-type': 'application/json', ...opts.headers },
  });
}

/**
 * Sends a POST and resolves once the response headers are in (any status).
 * A keep-alive socket that the server closed while idle (ECONNRESET/EPIPE on a
 * reused socket, before any answer) is retried once on a fresh connection.
 */
export function httpPost(opts: HttpRequestOptions): Promise<HttpResponseStream> {
  return attempt(opts, true);
}

function attempt(opts: HttpRequestOptions, mayRetry: boolean): Promise<HttpResponseStream> {
  const { url, signal, prefix } = opts;
  if (signal.aborted) return Promise.reject(abortError());
  const mod = url.protocol === 'https:' ? https : http;

  return new Promise<HttpResponseStream>((resolve, reject) => {
    let failure: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let ended = false;
    let closed = false;
    // the connection lent to a barge-in decided off the event loop (wireAbort.ts)
    let lease: WireAbortLease | null = null;
    const wireAborted = (): boolean => lease?.aborted === true;
    const release = (): void => {
      lease?.release();
      lease = null;
    };

    const req = mod.request(url, {
      method: 'POST',
      headers: { ...opts.headers, 'content-length': String(opts.body.length) },
    });

    const fail = (err: Error): void => {
      if (!failure) failure = err;
      if (timer) clearTimeout(timer);
      timer = undefined;
      req.destroy(err);
      if (!settled) {
        settled = true;
        cleanup();
        reject(failure);
      }
    };
    const arm = (ms: number, what: string): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => fail(new ProviderError(`${prefix}.Timeout`, `${what} timeout after ${ms} ms`)), ms);
    };
    const disarm = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    const onAbort = (): void => fail(abortError());
    const cleanup = (): void => {
      disarm();
      release();
      signal.removeEventListener('abort', onAbort);
    };
    signal.addEventListener('abort', onAbort, { once: true });

    arm(opts.connectTimeoutMs, 'connect');
    req.on('socket', (socket) => {
      socket.setNoDelay(true);
      const connected = (): void => {
        // (the fd exists once connected; a request already failed lends nothing)
        if (!failure && !closed) lease ??= wireLease(signal, socket);
        arm(opts.responseTimeoutMs, 'response');
      };
      // A reused keep-alive socket is already connected.
      if ((socket as { connecting?: boolean }).connecting) {
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
      } else connected();
    });
    req.on('error', (err) => {
      if (failure) {
        if (!settled) fail(failure);
        return;
      }
      // closed by a barge-in's decision: an abort, not a network error (and not retried)
      if (wireAborted()) return fail(abortError());
      const code = (err as NodeJS.ErrnoException).code;
      if (mayRetry && !settled && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
        settled = true;
        cleanup();
        resolve(attempt(opts, false));
        return;
      }
      const e = isAbortError(err)
        ? abortError()
        : new ProviderError(`${prefix}.Network`, `${url.host}: ${err.message}`, { cause: err });
      fail(e);
    });
    req.on('response', (res) => {
      disarm();
      settled = true;
      async function* body(): AsyncGenerator<Buffer, void, undefined> {
        try {
          for await (const chunk of res) {
            if (failure) throw failure;
            yield chunk as Buffer;
          }
        } catch (err) {
          if (failure) throw failure;
          if (wireAborted()) throw abortError();
          throw new ProviderError(`${prefix}.Dropped`, `connection to ${url.host} lost: ${(err as Error).message}`, {
            cause: err,
          });
        }
        if (failure) throw failure;
        if (!res.complete) {
          if (wireAborted()) throw abortError();
          throw new ProviderError(`${prefix}.Dropped`, `connection to ${url.host} closed early`);
        }
        ended = true;
        release(); // a keep-alive socket goes back to the pool: no longer this request's
      }
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: body(),
        arm: (ms, what) => {
          if (!failure && !ended) arm(ms, what);
        },
        disarm,
        close: () => {
          if (closed) return;
          closed = true;
          cleanup();
          if (!ended) {
            res.destroy();
            req.destroy();
          }
        },
      });
    });
    req.end(opts.body);
  });
}

/** Reads a (bounded) error body and builds the `<prefix>.Http` error for a non-2xx answer. */
export async function httpError(res: HttpResponseStream, prefix: ProviderPrefix, limit = 64 * 1024): Promise<ProviderError> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= limit) break;
    }
  } catch (err) {
    if (isAbortError(err)) throw err;
  } finally {
    res.close();
  }
  const text = Buffer.concat(parts).subarray(0, limit).toString('utf8');
  let detail = text.trim().slice(0, 500);
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } | string; message?: unknown };
    if (typeof j.error === 'string') detail = j.error;
    else if (j.error && typeof j.error.message === 'string') {
      detail = j.error.message + (j.error.code ? ` (${String(j.error.code)})` : '');
    } else if (typeof j.message === 'string') detail = j.message;
  } catch {
    /* not JSON: keep the text */
  }
  return new ProviderError(`${prefix}.Http`, `HTTP ${res.status}${detail ? `: ${detail}` : ''}`, {
    status: res.status,
  });
}

/**
 * Resolves a configured URL to the endpoint: a URL already ending in `endpoint`
 * is used as is; a base URL gets `endpoint` appended (and `/v1` first when it has
 * no path), so `http://h:8000`, `http://h:8000/v1` and the full URL all work.
 */
export function endpointUrl(configured: string, endpoint: string): URL {
  const u = new URL(configured);
  const path = u.pathname.replace(/\/+$/, '');
  if (path.endsWith(endpoint)) return u;
  u.pathname = (path === '' ? '/v1' : path) + endpoint;
  return u;
}

/** Standard headers: bearer key, then configured extras (which may override). */
export function authHeaders(apiKey: string | undefined, extra: Record<string, string> | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  if (extra) for (const [k, v] of Object.entries(extra)) h[k.toLowerCase()] = v;
  return h;
}
