/**
 * OpenAI-compatible chat-completions client, streaming (`stream: true`, SSE).
 *
 * Timeouts: `ConnectTimeoutMs` until the connection is up; `FirstTokenTimeoutMs`
 * from the request until the first `data:` event (keep-alive comments do not
 * count); `IdleTimeoutMs` between received bytes after that (time spent by the
 * consumer between two events does not count). An aborted signal,
 * a timeout, or the consumer leaving the loop destroys the socket at once.
 *
 * Error codes: Provider.LLM.Network, .Timeout, .Http (status set), .StreamError
 * (error object or malformed data in the stream, oversize event), .Dropped (the
 * connection ended before `data: [DONE]`; the text received before was yielded).
 */
import { ProviderError, isAbortError } from '../errors';
import { createLogger } from '../log';
import type { ChatEvent, ChatProvider, ChatRequest } from './chat';
import { ChatStreamDecoder } from './chatDecoder';
import { abortError, authHeaders, endpointUrl, httpError, postJson, type HttpResponseStream } from './http';
import { SseParser } from './sse';

export interface LlmConfig {
  /** Full chat-completions URL, or a base URL (`https://api.openai.com/v1`). */
  Url: string;
  ModelName: string;
  APIKey?: string;
  /** Extra request headers (override the defaults). */
  Headers?: Record<string, string>;
  Temperature?: number;
  MaxTokens?: number;
  TopP?: number;
  /** Extra fields merged into the request body (server-specific options). */
  ExtraBody?: Record<string, unknown>;
  ConnectTimeoutMs?: number;
  FirstTokenTimeoutMs?: number;
  IdleTimeoutMs?: number;
  /** Limit on one SSE event (default 1 MiB). */
  MaxEventBytes?: number;
}

export const LLM_DEFAULTS = {
  ConnectTimeoutMs: 5000,
  FirstTokenTimeoutMs: 20000,
  IdleTimeoutMs: 15000,
  MaxEventBytes: 1024 * 1024,
  /** How long to wait for the end of the HTTP body after `data: [DONE]` (for keep-alive reuse). */
  DrainAfterDoneMs: 1000,
} as const;

const log = createLogger('providers.llm');

export class OpenAiChatClient implements ChatProvider {
  readonly kind = 'openai';
  private readonly url: URL;

  constructor(private readonly config: LlmConfig) {
    this.url = endpointUrl(config.Url, '/chat/completions');
  }

  async *streamChat(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent, void, undefined> {
    const cfg = this.config;
    const json: Record<string, unknown> = {
      model: cfg.ModelName,
      messages: request.messages,
      stream: true,
    };
    if (cfg.Temperature !== undefined) json.temperature = cfg.Temperature;
    if (cfg.MaxTokens !== undefined) json.max_tokens = cfg.MaxTokens;
    if (cfg.TopP !== undefined) json.top_p = cfg.TopP;
    if (request.tools && request.tools.length > 0) json.tools = request.tools;
    if (request.toolChoice !== undefined) json.tool_choice = request.toolChoice;
    if (cfg.ExtraBody) Object.assign(json, cfg.ExtraBody);

    const started = Date.now();
    const res = await postJson({
      url: this.url,
      json,
      headers: { accept: 'text/event-stream', ...authHeaders(cfg.APIKey, cfg.Headers) },
      signal,
      prefix: 'Provider.LLM',
      connectTimeoutMs: cfg.ConnectTimeoutMs ?? LLM_DEFAULTS.ConnectTimeoutMs,
      responseTimeoutMs: cfg.FirstTokenTimeoutMs ?? LLM_DEFAULTS.FirstTokenTimeoutMs,
    });
    try {
      if (res.status < 200 || res.status >= 300) throw await httpError(res, 'Provider.LLM');
      const ctype = String(res.headers['content-type'] ?? '');
      if (ctype.includes('application/json')) {
        yield* this.readWholeAnswer(res, signal);
        return;
      }
      yield* this.readStream(res, signal, started);
    } catch (err) {
      if (!isAbortError(err)) log.warn('chat request failed', { err, url: this.url.host });
      throw err;
    } finally {
      res.close();
    }
  }

  private async *readStream(
    res: HttpResponseStream,
    signal: AbortSignal,
    started: number,
  ): AsyncGenerator<ChatEvent, void, undefined> {
    const cfg = this.config;
    const idleMs = cfg.IdleTimeoutMs ?? LLM_DEFAULTS.IdleTimeoutMs;
    const sse = new SseParser({ maxEventBytes: cfg.MaxEventBytes ?? LLM_DEFAULTS.MaxEventBytes });
    const decoder = new ChatStreamDecoder();
    // The first-token watchdog covers the wait for headers (set in postJson) and then for the first event.
    res.arm(Math.max(1, (cfg.FirstTokenTimeoutMs ?? LLM_DEFAULTS.FirstTokenTimeoutMs) - (Date.now() - started)), 'first token');
    let gotData = false;
    let sawDone = false;
    try {
      for (;;) {
        const next = await res.body.next();
        if (next.done) break;
        const chunk = next.value;
        if (gotData) res.arm(idleMs, 'idle');
        let events;
        try {
          events = sse.push(chunk);
        } catch (err) {
          throw new ProviderError('Provider.LLM.StreamError', `bad event stream: ${(err as Error).message}`, { cause: err });
        }
        for (const ev of events) {
          if (ev.data === '[DONE]') {
            sawDone = true;
            break;
          }
          if (!gotData) {
            gotData = true;
            res.arm(idleMs, 'idle');
          }
          let obj: unknown;
          try {
            obj = JSON.parse(ev.data);
          } catch (err) {
            throw new ProviderError('Provider.LLM.StreamError', `invalid JSON in stream: ${ev.data.slice(0, 80)}`, {
              cause: err,
            });
          }
          for (const out of decoder.push(obj)) {
            // The watchdog measures the server, not a consumer that takes its time.
            res.disarm();
            yield out;
            if (signal.aborted) throw abortError();
            res.arm(idleMs, 'idle');
          }
        }
        if (sawDone) break;
      }
    } catch (err) {
      // A server that closes right after the finish_reason chunk without [DONE] is tolerated.
      if (!(err instanceof ProviderError && err.code === 'Provider.LLM.Dropped' && decoder.sawFinish && !sse.hasPartialEvent)) {
        throw err;
      }
    }
    res.disarm();
    if (!sawDone && (sse.hasPartialEvent || !decoder.sawFinish)) {
      throw new ProviderError('Provider.LLM.Dropped', 'LLM stream ended before [DONE]');
    }
    sse.end();
    yield* decoder.finish();
    if (sawDone) await drain(res, LLM_DEFAULTS.DrainAfterDoneMs);
  }

  private async *readWholeAnswer(res: HttpResponseStream, signal: AbortSignal): AsyncGenerator<ChatEvent, void, undefined> {
    const limit = this.config.MaxEventBytes ?? LLM_DEFAULTS.MaxEventBytes;
    const parts: Buffer[] = [];
    let size = 0;
    res.arm(this.config.IdleTimeoutMs ?? LLM_DEFAULTS.IdleTimeoutMs, 'idle');
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > limit) throw new ProviderError('Provider.LLM.StreamError', `answer exceeds ${limit} bytes`);
      parts.push(chunk);
      res.arm(this.config.IdleTimeoutMs ?? LLM_DEFAULTS.IdleTimeoutMs, 'idle');
    }
    res.disarm();
    let obj: unknown;
    try {
      obj = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch (err) {
      throw new ProviderError('Provider.LLM.StreamError', 'invalid JSON answer', { cause: err });
    }
    const decoder = new ChatStreamDecoder();
    for (const ev of [...decoder.push(obj), ...decoder.finish()]) {
      yield ev;
      if (signal.aborted) throw abortError();
    }
  }
}

/** Reads what is left of a finished body so the socket can be reused; gives up quietly. */
async function drain(res: HttpResponseStream, ms: number): Promise<void> {
  res.arm(ms, 'drain');
  try {
    for (;;) {
      const next = await res.body.next();
      if (next.done) break;
    }
  } catch {
    /* the socket is destroyed by close() */
  }
  res.disarm();
}
