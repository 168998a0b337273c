import { describe, expect, it } from 'vitest';
import { isAbortError } from '../../src/errors';
import type { ChatEvent, ChatRequest } from '../../src/providers/chat';
import { DEMO_GOODBYE, DEMO_MODEL, DemoEchoPolicy } from '../../src/providers/demo';

const req = (text: string | null): ChatRequest => ({
  messages: [
    { role: 'system', content: 'You are a demo.' },
    { role: 'user', content: 'earlier turn' },
    { role: 'assistant', content: 'You said: earlier turn' },
    { role: 'user', content: text },
  ],
});

async function run(policy: DemoEchoPolicy, r: ChatRequest, signal = new AbortController().signal): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const e of policy.streamChat(r, signal)) out.push(e);
  return out;
}

const text = (ev: ChatEvent[]): string => ev.map((e) => (e.type === 'text' ? e.delta : '')).join('');

describe('DemoEchoPolicy.streamChat()', () => {
  it('echoes the last user message in several text deltas, labelled as a demo', async () => {
    const ev = await run(new DemoEchoPolicy({ ChunkDelayMs: 0 }), req('what time is it   now'));
    expect(text(ev)).toBe('You said: what time is it now');
    expect(ev.filter((e) => e.type === 'text').length).toBeGreaterThan(2);
    expect(ev.some((e) => e.type === 'tool_call')).toBe(false);
    expect(ev[ev.length - 1]).toEqual({ type: 'done', finishReason: 'stop', toolCalls: [], model: DEMO_MODEL, demo: true });
  });

  it.each(['OK, goodbye!', 'bye', 'Good bye then', 'bye-bye'])(
    'answers "%s" with closing words and a hang-up tool call',
    async (said) => {
      const ev = await run(new DemoEchoPolicy({ ChunkDelayMs: 0, HangupFunction: 'end_call' }), req(said));
      expect(text(ev)).toBe(DEMO_GOODBYE);
      const calls = ev.filter((e) => e.type === 'tool_call');
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ type: 'tool_call', index: 0, name: 'end_call' });
      expect(JSON.parse((calls[0] as { arguments: string }).arguments)).toEqual({ reason: 'user said goodbye' });
      const done = ev[ev.length - 1]!;
      expect(done).toMatchObject({ type: 'done', finishReason: 'tool_calls', demo: true, toolCalls: [{ name: 'end_call' }] });
      // Closing words come before the tool call.
      const kinds = ev.map((e) => e.type);
      expect(kinds.lastIndexOf('text')).toBeLessThan(kinds.indexOf('tool_call'));
    },
  );

  it('does not hang up on words that merely contain "bye" (maybe, byelaw)', async () => {
    const ev = await run(new DemoEchoPolicy({ ChunkDelayMs: 0 }), req('maybe the byelaw'));
    expect(ev.some((e) => e.type === 'tool_call')).toBe(false);
  });

  it('streams the tool call the way a server does: id and name first, arguments in several pieces', () => {
    const chunks = new DemoEchoPolicy().answerChunks(req('goodbye'));
    const toolDeltas = chunks
      .map((c) => ((c.choices as { delta: { tool_calls?: unknown[] } }[])[0]!.delta.tool_calls ?? [])[0])
      .filter(Boolean) as { id?: string; function: { name?: string; arguments: string } }[];
    expect(toolDeltas.length).toBeGreaterThanOrEqual(5);
    expect(toolDeltas[0]).toMatchObject({ id: expect.stringMatching(/^call_demo_/), function: { name: 'hangup' } });
    expect(toolDeltas.slice(1).every((d) => d.id === undefined && d.function.name === undefined)).toBe(true);
    expect(chunks.every((c) => c.model === DEMO_MODEL && c.object === 'chat.completion.chunk')).toBe(true);
  });

  it('asks again when the user message is empty', async () => {
    const ev = await run(new DemoEchoPolicy({ ChunkDelayMs: 0 }), req(null));
    expect(text(ev)).toMatch(/did not catch that/);
  });

  it('stops with an AbortError when aborted mid-answer', async () => {
    const ac = new AbortController();
    const out: ChatEvent[] = [];
    let error: unknown;
    try {
      for await (const e of new DemoEchoPolicy({ ChunkDelayMs: 5 }).streamChat(req('one two three four five six'), ac.signal)) {
        out.push(e);
        ac.abort();
      }
    } catch (e) {
      error = e;
    }
    expect(isAbortError(error)).toBe(true);
    expect(out).toHaveLength(1);
  });
});
