import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/errors';
import type { ChatEvent } from '../../src/providers/chat';
import { ChatStreamDecoder } from '../../src/providers/chatDecoder';

const delta = (d: Record<string, unknown>, finish: string | null = null): Record<string, unknown> => ({
  object: 'chat.completion.chunk',
  model: 'm',
  choices: [{ index: 0, delta: d, finish_reason: finish }],
});

function decode(chunks: unknown[]): ChatEvent[] {
  const d = new ChatStreamDecoder();
  return [...chunks.flatMap((c) => d.push(c)), ...d.finish()];
}

const calls = (ev: ChatEvent[]): ChatEvent[] => ev.filter((e) => e.type === 'tool_call');

describe('ChatStreamDecoder', () => {
  it('emits a tool call once, when finish_reason arrives', () => {
    const d = new ChatStreamDecoder();
    expect(d.push(delta({ tool_calls: [{ index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '' } }] }))).toEqual([]);
    expect(d.push(delta({ tool_calls: [{ index: 0, function: { arguments: '{"x"' } }] }))).toEqual([]);
    expect(d.push(delta({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }))).toEqual([]);
    const atFinish = d.push(delta({}, 'tool_calls'));
    expect(atFinish).toEqual([{ type: 'tool_call', index: 0, id: 'a', name: 'f', arguments: '{"x":1}' }]);
    const end = d.finish();
    expect(end).toHaveLength(1);
    expect(end[0]).toMatchObject({ type: 'done', finishReason: 'tool_calls', toolCalls: [{ id: 'a' }] });
  });

  it('emits tool calls at the end of the stream when no finish_reason came', () => {
    const ev = decode([delta({ tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{}' } }] })]);
    expect(calls(ev)).toHaveLength(1);
    expect(ev[ev.length - 1]).toMatchObject({ type: 'done', finishReason: null });
  });

  it('keeps two calls apart when a server numbers every call index 0 with distinct ids', () => {
    const ev = decode([
      delta({ tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{"n":1}' } }] }),
      delta({ tool_calls: [{ index: 0, id: 'b', function: { name: 'g', arguments: '{"n":2}' } }] }),
      delta({}, 'tool_calls'),
    ]);
    expect(calls(ev)).toEqual([
      { type: 'tool_call', index: 0, id: 'a', name: 'f', arguments: '{"n":1}' },
      { type: 'tool_call', index: 1, id: 'b', name: 'g', arguments: '{"n":2}' },
    ]);
  });

  it('handles snapshot-style deltas whose arguments grow (same id every time)', () => {
    const ev = decode([
      delta({ tool_calls: [{ id: 'a', function: { name: 'f', arguments: '{"q":' } }] }),
      delta({ tool_calls: [{ id: 'a', function: { name: 'f', arguments: '{"q":"x"}' } }] }),
      delta({ tool_calls: [{ id: 'a', function: { name: 'f', arguments: '{"q":"x"}' } }] }, 'stop'),
    ]);
    expect(calls(ev)).toEqual([{ type: 'tool_call', index: 0, id: 'a', name: 'f', arguments: '{"q":"x"}' }]);
  });

  it('appends incremental arguments when a server repeats the id on every delta', () => {
    const ev = decode([
      delta({ tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{"city":' } }] }),
      delta({ tool_calls: [{ index: 0, id: 'a', function: { arguments: '"Paris"' } }] }),
      delta({ tool_calls: [{ index: 0, id: 'a', function: { arguments: '}' } }] }),
    ]);
    expect(calls(ev)).toEqual([{ type: 'tool_call', index: 0, id: 'a', name: 'f', arguments: '{"city":"Paris"}' }]);
  });

  it('gives empty arguments as {} and a missing id a stable one', () => {
    const ev = decode([delta({ tool_calls: [{ index: 2, function: { name: 'hangup' } }] }), delta({}, 'tool_calls')]);
    expect(calls(ev)).toEqual([{ type: 'tool_call', index: 2, id: 'call_2', name: 'hangup', arguments: '{}' }]);
  });

  it('accepts the legacy function_call delta', () => {
    const ev = decode([delta({ function_call: { name: 'hangup', arguments: '' } }), delta({ function_call: { arguments: '{}' } })]);
    expect(calls(ev)).toMatchObject([{ name: 'hangup', arguments: '{}' }]);
  });

  it('throws Provider.LLM.StreamError for an error object', () => {
    const d = new ChatStreamDecoder();
    expect(() => d.push({ error: { message: 'boom', code: 'x' } })).toThrow(ProviderError);
    expect(() => d.push('string')).toThrow(/not a JSON object/);
  });

  it('ignores empty content, other choices and chunks without choices (usage)', () => {
    const ev = decode([
      delta({ role: 'assistant', content: '' }),
      { choices: [{ index: 1, delta: { content: 'other choice' } }, { index: 0, delta: { content: 'A' } }] },
      { choices: [], usage: { total_tokens: 3 } },
    ]);
    expect(ev.filter((e) => e.type === 'text')).toEqual([{ type: 'text', delta: 'A' }]);
  });
});
