import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError, isAbortError } from '../../src/errors';
import type { ChatEvent } from '../../src/providers/chat';
import { OpenAiChatClient, type LlmConfig } from '../../src/providers/llm';
import { OpenAiTestServer, chunk, sseBody, textEvents, toolCallEvents } from '../helpers/openaiServer';

let server: OpenAiTestServer;
beforeAll(async () => {
  server = await OpenAiTestServer.start();
});
afterAll(async () => {
  await server.close();
});

function client(over: Partial<LlmConfig> = {}): OpenAiChatClient {
  return new OpenAiChatClient({ Url: server.baseUrl, ModelName: 'm1', APIKey: 'sk-test', ...over });
}

const USER = { messages: [{ role: 'user' as const, content: 'hi' }] };

async function collect(
  gen: AsyncIterable<ChatEvent>,
): Promise<{ events: ChatEvent[]; text: string; error?: unknown }> {
  const events: ChatEvent[] = [];
  try {
    for await (const e of gen) events.push(e);
  } catch (error) {
    return { events, text: textOf(events), error };
  }
  return { events, text: textOf(events) };
}

function textOf(events: ChatEvent[]): string {
  return events.map((e) => (e.type === 'text' ? e.delta : '')).join('');
}

function done(events: ChatEvent[]): Extract<ChatEvent, { type: 'done' }> {
  const d = events[events.length - 1];
  if (!d || d.type !== 'done') throw new Error('last event is not done');
  return d;
}

describe('OpenAiChatClient.streamChat()', () => {
  it('streams text deltas, then done with the finish reason, and sends the OpenAI request', async () => {
    server.scriptChat({ events: textEvents('Hello there, friend.', 5) });
    const r = await collect(
      client({ Temperature: 0.3, MaxTokens: 50, Headers: { 'X-Extra': 'yes' } }).streamChat(
        { ...USER, tools: [{ type: 'function', function: { name: 'hangup' } }] },
        new AbortController().signal,
      ),
    );
    expect(r.error).toBeUndefined();
    expect(r.text).toBe('Hello there, friend.');
    expect(r.events.filter((e) => e.type === 'text').length).toBeGreaterThanOrEqual(5);
    expect(done(r.events)).toMatchObject({ finishReason: 'stop', toolCalls: [], model: 'test-model' });
    const req = server.requests[server.requests.length - 1]!;
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.headers['x-extra']).toBe('yes');
    expect(req.json).toMatchObject({
      model: 'm1',
      stream: true,
      temperature: 0.3,
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', function: { name: 'hangup' } }],
    });
  });

  it('accepts a full chat-completions URL or a bare host as Url', async () => {
    for (const Url of [`${server.baseUrl}/chat/completions`, `http://127.0.0.1:${server.port}`]) {
      server.scriptChat({ events: textEvents('ok') });
      const r = await collect(client({ Url }).streamChat(USER, new AbortController().signal));
      expect(r.text).toBe('ok');
      expect(server.requests[server.requests.length - 1]!.path).toBe('/v1/chat/completions');
    }
  });

  it('reassembles a stream written one byte per TCP write, including inside UTF-8 characters', async () => {
    const text = 'Grüße 日本 😀 done.';
    server.scriptChat({ events: [': keep-alive\n\n', ...textEvents(text, 6)], split: { every: 1 }, chunkDelayMs: 0 });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.error).toBeUndefined();
    expect(r.text).toBe(text);
  });

  it('gives the same answer for a split at every byte position of the stream', async () => {
    const text = 'Hé 😀.';
    const events = [
      ': ping\n\n',
      ...textEvents(text, 3).slice(0, -1),
      ...toolCallEvents([{ index: 0, id: 'c1', name: 'hangup', arguments: '{"r":"é"}' }], 2),
      chunk({ finishReason: 'tool_calls' }),
    ];
    const body = Buffer.from(sseBody(events).replace(/\n\n/g, '\r\n\r\n'));
    const c = client();
    for (let i = 1; i < body.length; i++) {
      server.scriptChat({ raw: body, split: [i], chunkDelayMs: 0 });
      const r = await collect(c.streamChat(USER, new AbortController().signal));
      expect(r.error, `split at ${i}`).toBeUndefined();
      expect(r.text).toBe(text);
      expect(done(r.events).toolCalls).toEqual([{ index: 0, id: 'c1', name: 'hangup', arguments: '{"r":"é"}' }]);
    }
  }, 60_000);

  it('handles several events per chunk and keep-alive comments between them', async () => {
    const body = sseBody([': keep-alive\n\n', ...textEvents('abcdef', 6).flatMap((e) => [e, ':\n\n'])]);
    server.scriptChat({ raw: body });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.text).toBe('abcdef');
  });

  it('accumulates a tool call split across more than 5 chunks', async () => {
    const args = '{"reason":"user said goodbye","polite":true}';
    const events = [...toolCallEvents([{ index: 0, id: 'call_1', name: 'hangup', arguments: args }], 8)];
    events.push(chunk({ finishReason: 'tool_calls' }));
    expect(events.length).toBeGreaterThanOrEqual(6);
    server.scriptChat({ events, split: { every: 7 }, chunkDelayMs: 1 });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    const calls = r.events.filter((e) => e.type === 'tool_call');
    expect(calls).toEqual([{ type: 'tool_call', index: 0, id: 'call_1', name: 'hangup', arguments: args }]);
    expect(done(r.events)).toMatchObject({ finishReason: 'tool_calls', toolCalls: [{ name: 'hangup', arguments: args }] });
  });

  it('accumulates two tool calls by index, interleaved, and text in the same answer', async () => {
    const a = { index: 0, id: 'call_a', name: 'lookup', arguments: '{"q":"weather in Paris"}' };
    const b = { index: 1, id: 'call_b', name: 'hangup', arguments: '{}' };
    const ea = toolCallEvents([a], 4);
    const eb = toolCallEvents([b], 2);
    const events = [
      chunk({ role: 'assistant', content: 'Let me check. ' }),
      ea[0],
      eb[0],
      ea[1],
      eb[1],
      ...ea.slice(2),
      ...eb.slice(2),
      chunk({ content: 'Bye!' }),
      chunk({ finishReason: 'tool_calls' }),
    ];
    server.scriptChat({ events, split: { every: 13 } });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.text).toBe('Let me check. Bye!');
    const calls = r.events.filter((e) => e.type === 'tool_call');
    expect(calls).toEqual([
      { type: 'tool_call', ...a },
      { type: 'tool_call', ...b },
    ]);
    // Text comes first, then tool calls, then done.
    const kinds = r.events.map((e) => e.type);
    expect(kinds.lastIndexOf('text')).toBeLessThan(kinds.indexOf('tool_call'));
    expect(kinds[kinds.length - 1]).toBe('done');
  });

  it('does not duplicate a tool call that every chunk repeats in full with the same id (seed style)', async () => {
    // Every chunk carries content AND the whole call, without index; finish_reason "stop" on the last.
    const words = [...'Goodbye, see you.'];
    const events = words.map((w, i) => ({
      id: 'chatcmpl-123',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm1',
      choices: [
        {
          index: 0,
          delta: {
            content: w,
            tool_calls: [{ id: 'call_abc123', type: 'function', function: { name: 'hangup', arguments: '{}' } }],
          },
          finish_reason: i < words.length - 1 ? null : 'stop',
        },
      ],
    }));
    server.scriptChat({ events, chunkDelayMs: 1, split: { every: 40 } });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.text).toBe('Goodbye, see you.');
    const calls = r.events.filter((e) => e.type === 'tool_call');
    expect(calls).toEqual([{ type: 'tool_call', index: 0, id: 'call_abc123', name: 'hangup', arguments: '{}' }]);
    expect(done(r.events)).toMatchObject({ finishReason: 'stop', toolCalls: [{ name: 'hangup', arguments: '{}' }] });
  });

  it('throws Provider.LLM.StreamError for an error object mid-stream, after yielding the text before it', async () => {
    const events = [
      ...textEvents('Partial answer', 3).slice(0, -1),
      { error: { message: 'model overloaded', type: 'server_error', code: 'overloaded' } },
    ];
    server.scriptChat({ events, done: false });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.text).toBe('Partial answer');
    expect(r.error).toBeInstanceOf(ProviderError);
    expect((r.error as ProviderError).code).toBe('Provider.LLM.StreamError');
    expect((r.error as Error).message).toContain('model overloaded');
  });

  it('throws Provider.LLM.StreamError for invalid JSON in a data line', async () => {
    server.scriptChat({ raw: 'data: {"choices":[\n\n' });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect((r.error as ProviderError).code).toBe('Provider.LLM.StreamError');
  });

  it('throws Provider.LLM.StreamError when one event exceeds MaxEventBytes', async () => {
    server.scriptChat({ events: [chunk({ content: 'x'.repeat(5000) })], split: { every: 512 } });
    const r = await collect(client({ MaxEventBytes: 2048 }).streamChat(USER, new AbortController().signal));
    expect((r.error as ProviderError).code).toBe('Provider.LLM.StreamError');
    expect(((r.error as ProviderError).cause as { code?: string }).code).toBe('Sse.EventTooLarge');
  });

  it.each([
    [401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } }],
    [500, { error: { message: 'The server had an error', type: 'server_error' } }],
    [429, 'rate limited, plain text'],
  ])('throws Provider.LLM.Http with status %i and the server message', async (status, errorBody) => {
    server.scriptChat({ status, errorBody });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.events).toEqual([]);
    expect(r.error).toBeInstanceOf(ProviderError);
    expect(r.error).toMatchObject({ code: 'Provider.LLM.Http', status });
    const msg = typeof errorBody === 'string' ? errorBody : errorBody.error.message;
    expect((r.error as Error).message).toContain(msg);
  });

  it('throws Provider.LLM.Dropped when the connection drops before [DONE], after yielding the text so far', async () => {
    const body = sseBody(textEvents('One two three four five six', 6));
    const cut = Math.floor(body.length / 2);
    server.scriptChat({ raw: body, dropAfterBytes: cut, split: { every: 30 }, chunkDelayMs: 1 });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.text.length).toBeGreaterThan(0);
    expect('One two three four five six'.startsWith(r.text)).toBe(true);
    expect(r.error).toMatchObject({ code: 'Provider.LLM.Dropped' });
  });

  it('throws Provider.LLM.Dropped when the body ends cleanly but without [DONE] or finish_reason', async () => {
    server.scriptChat({ events: textEvents('abc').slice(0, -1), done: false });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.text).toBe('abc');
    expect(r.error).toMatchObject({ code: 'Provider.LLM.Dropped' });
  });

  it('tolerates a server that ends after the finish_reason chunk without [DONE]', async () => {
    server.scriptChat({ events: textEvents('abc'), done: false });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.error).toBeUndefined();
    expect(done(r.events).finishReason).toBe('stop');
  });

  it('throws Provider.LLM.Network when nothing listens', async () => {
    const r = await collect(
      client({ Url: 'http://127.0.0.1:1/v1' }).streamChat(USER, new AbortController().signal),
    );
    expect(r.error).toMatchObject({ code: 'Provider.LLM.Network' });
  });

  it('throws Provider.LLM.Timeout when the first token does not come in time, despite keep-alives', async () => {
    server.scriptChat({ events: [': keep-alive\n\n', ': keep-alive\n\n'], hang: true, done: false, chunkDelayMs: 30 });
    const t0 = performance.now();
    const r = await collect(client({ FirstTokenTimeoutMs: 150 }).streamChat(USER, new AbortController().signal));
    expect(r.error).toMatchObject({ code: 'Provider.LLM.Timeout' });
    expect(performance.now() - t0).toBeLessThan(1000);
    const req = server.requests[server.requests.length - 1]!;
    await req.closed;
  });

  it('throws Provider.LLM.Timeout when the stream stalls after the first token (idle timeout)', async () => {
    server.scriptChat({ events: textEvents('a b', 2).slice(0, 2), hang: true, done: false });
    const r = await collect(client({ IdleTimeoutMs: 100 }).streamChat(USER, new AbortController().signal));
    expect(r.events.length).toBeGreaterThan(0);
    expect(r.error).toMatchObject({ code: 'Provider.LLM.Timeout' });
    expect((r.error as Error).message).toContain('idle');
  });

  it('does not count the time the consumer holds an event against the idle timeout', async () => {
    server.scriptChat({ events: textEvents('a b c d', 4) });
    const events: ChatEvent[] = [];
    for await (const e of client({ IdleTimeoutMs: 60 }).streamChat(USER, new AbortController().signal)) {
      events.push(e);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(textOf(events)).toBe('a b c d');
  });

  it('closes the HTTP connection within 50 ms of an abort, mid-stream', async () => {
    const long = 'word '.repeat(400);
    server.scriptChat({ events: textEvents(long, 400), chunkDelayMs: 10 });
    const ac = new AbortController();
    const gen = client().streamChat(USER, ac.signal);
    let n = 0;
    let abortedAt = 0;
    let error: unknown;
    try {
      for await (const e of gen) {
        if (e.type === 'text' && ++n === 5) {
          abortedAt = performance.now();
          ac.abort();
        }
      }
    } catch (e) {
      error = e;
    }
    expect(isAbortError(error)).toBe(true);
    const req = server.requests[server.requests.length - 1]!;
    const closedAt = await req.closed;
    expect(req.closedEarly).toBe(true);
    const ms = closedAt - abortedAt;
    console.log(`abort -> server saw close: ${ms.toFixed(2)} ms`);
    expect(ms).toBeLessThan(50);
  });

  it('closes the HTTP connection when aborted before the first byte', async () => {
    server.scriptChat({ events: textEvents('late'), headersDelayMs: 2000 });
    const ac = new AbortController();
    const p = collect(client().streamChat(USER, ac.signal));
    const req = await server.waitForRequests(server.requests.length + 1);
    const t0 = performance.now();
    ac.abort();
    const r = await p;
    expect(isAbortError(r.error)).toBe(true);
    expect((await req.closed) - t0).toBeLessThan(50);
  });

  it('closes the HTTP connection when the consumer stops iterating early', async () => {
    server.scriptChat({ events: textEvents('x '.repeat(200), 200), chunkDelayMs: 5 });
    for await (const e of client().streamChat(USER, new AbortController().signal)) {
      if (e.type === 'text') break;
    }
    const req = server.requests[server.requests.length - 1]!;
    const t0 = performance.now();
    expect((await req.closed) - t0).toBeLessThan(50);
    expect(req.closedEarly).toBe(true);
  });

  it('rejects at once with an AbortError when the signal is already aborted', async () => {
    const before = server.requests.length;
    const r = await collect(client().streamChat(USER, AbortSignal.abort()));
    expect(isAbortError(r.error)).toBe(true);
    expect(server.requests.length).toBe(before);
  });

  it('accepts a non-streamed JSON answer from a server that ignores stream: true', async () => {
    const answer = {
      id: 'x',
      object: 'chat.completion',
      model: 'm1',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Whole answer.',
            tool_calls: [{ id: 'c9', type: 'function', function: { name: 'hangup', arguments: '{}' } }],
          },
          finish_reason: 'tool_calls',
        },
      ],
    };
    server.scriptChat({ raw: JSON.stringify(answer), contentType: 'application/json' });
    const r = await collect(client().streamChat(USER, new AbortController().signal));
    expect(r.text).toBe('Whole answer.');
    expect(done(r.events).toolCalls).toEqual([{ index: 0, id: 'c9', name: 'hangup', arguments: '{}' }]);
  });

  it('retries once on a fresh connection when a reused keep-alive socket is reset', async () => {
    const c = client();
    server.scriptChat({ events: textEvents('warm') });
    await collect(c.streamChat(USER, new AbortController().signal));
    const before = server.requests.length;
    server.scriptChat({ resetOnArrival: true }, { events: textEvents('second try') });
    const r = await collect(c.streamChat(USER, new AbortController().signal));
    expect(r.error).toBeUndefined();
    expect(r.text).toBe('second try');
    expect(server.requests.length).toBe(before + 2);
  });

  it('reuses the keep-alive connection after a complete answer', async () => {
    server.scriptChat({ events: textEvents('one') }, { events: textEvents('two') });
    const c = client();
    await collect(c.streamChat(USER, new AbortController().signal));
    const first = server.requests[server.requests.length - 1]!;
    await collect(c.streamChat(USER, new AbortController().signal));
    expect(first.closedAt).toBeUndefined();
  });
});
