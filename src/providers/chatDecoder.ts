/**
 * Turns parsed OpenAI `chat.completion.chunk` objects into ChatEvents.
 *
 * Tool calls are accumulated by `index` as OpenAI streams them (id and name in the
 * first delta, arguments in pieces, several calls by index), and also in the
 * "snapshot" style some servers use, where every chunk repeats the whole call with
 * the same id (and possibly no index): a repeated id never creates a second call,
 * and repeated arguments are not appended twice. Calls are emitted once complete:
 * when the choice reports a `finish_reason`, or at the end of the stream.
 *
 * A non-streamed `chat.completion` (`choices[0].message`) is accepted too.
 */
import { ProviderError } from '../errors';
import type { ChatEvent, ToolCall } from './chat';

interface Slot {
  index: number;
  id: string;
  name: string;
  arguments: string;
  emitted: boolean;
}

interface ToolCallDelta {
  index?: unknown;
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function isCompleteJson(s: string): boolean {
  if (s === '') return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

export class ChatStreamDecoder {
  private readonly slots: Slot[] = [];
  private finishReason: string | null = null;
  private model: string | undefined;
  private finished = false;

  constructor(private readonly meta: { demo?: boolean } = {}) {}

  /** True once a choice reported its finish_reason. */
  get sawFinish(): boolean {
    return this.finishReason !== null;
  }

  /** Decodes one chunk object. Throws ProviderError('Provider.LLM.StreamError') for an error object. */
  push(chunk: unknown): ChatEvent[] {
    const out: ChatEvent[] = [];
    if (typeof chunk !== 'object' || chunk === null) {
      throw new ProviderError('Provider.LLM.StreamError', 'stream chunk is not a JSON object');
    }
    const c = chunk as Record<string, unknown>;
    if (c.error !== undefined && c.error !== null) {
      const e = c.error as Record<string, unknown> | string;
      const msg = typeof e === 'string' ? e : str(e.message) || JSON.stringify(e);
      const code = typeof e === 'object' ? str(e.code) || str(e.type) : '';
      throw new ProviderError('Provider.LLM.StreamError', `LLM error in stream: ${msg}${code ? ` (${code})` : ''}`);
    }
    if (typeof c.model === 'string' && c.model) this.model = c.model;
    const choices = Array.isArray(c.choices) ? (c.choices as Record<string, unknown>[]) : [];
    // Only the first choice is spoken (n = 1); pick it by its index field when present.
    const choice = choices.find((ch) => ch && (ch.index === 0 || ch.index === undefined)) ?? choices[0];
    if (!choice) return out;
    const delta = (choice.delta ?? choice.message) as Record<string, unknown> | undefined;
    if (delta && typeof delta === 'object') {
      const content = delta.content;
      if (typeof content === 'string' && content.length > 0) out.push({ type: 'text', delta: content });
      if (Array.isArray(delta.tool_calls)) {
        for (const tc of delta.tool_calls as ToolCallDelta[]) if (tc && typeof tc === 'object') this.applyToolDelta(tc);
      }
      // Legacy `function_call` (pre-tools API): one call at index 0.
      const fc = delta.function_call as { name?: unknown; arguments?: unknown } | undefined;
      if (fc && typeof fc === 'object') this.applyToolDelta({ index: 0, function: fc });
    }
    if (typeof choice.finish_reason === 'string' && choice.finish_reason) {
      this.finishReason = choice.finish_reason;
      this.emitToolCalls(out);
    }
    return out;
  }

  /** End of the answer: emits tool calls not yet emitted, then `done`. */
  finish(): ChatEvent[] {
    const out: ChatEvent[] = [];
    if (this.finished) return out;
    this.finished = true;
    this.emitToolCalls(out);
    const done: ChatEvent = {
      type: 'done',
      finishReason: this.finishReason,
      toolCalls: this.toolCalls(),
    };
    if (this.model !== undefined) done.model = this.model;
    if (this.meta.demo) done.demo = true;
    out.push(done);
    return out;
  }

  /** Complete tool calls so far, in index order. */
  toolCalls(): ToolCall[] {
    return this.sorted()
      .filter((s) => s.name !== '')
      .map((s) => ({ index: s.index, id: s.id || `call_${s.index}`, name: s.name, arguments: s.arguments || '{}' }));
  }

  private sorted(): Slot[] {
    return [...this.slots].sort((a, b) => a.index - b.index);
  }

  private emitToolCalls(out: ChatEvent[]): void {
    for (const s of this.sorted()) {
      if (s.emitted || s.name === '') continue;
      s.emitted = true;
      out.push({ type: 'tool_call', index: s.index, id: s.id || `call_${s.index}`, name: s.name, arguments: s.arguments || '{}' });
    }
  }

  private applyToolDelta(d: ToolCallDelta): void {
    const id = str(d.id);
    const name = str(d.function?.name);
    const args = str(d.function?.arguments);
    const index = typeof d.index === 'number' && Number.isInteger(d.index) && d.index >= 0 ? d.index : undefined;

    // A delta repeating a known id is a snapshot of that call, never a new call.
    let slot = id ? this.slots.find((s) => s.id === id) : undefined;
    const repeated = slot !== undefined;
    if (!slot && index !== undefined) {
      slot = this.slots.find((s) => s.index === index);
      // Same index but another id: a server that numbers every call 0. Keep both.
      if (slot && id && slot.id && slot.id !== id) slot = undefined;
    }
    if (!slot && !id && index === undefined) slot = this.slots[this.slots.length - 1];
    if (!slot) {
      const taken = new Set(this.slots.map((s) => s.index));
      let idx = index ?? this.slots.length;
      while (taken.has(idx)) idx++;
      slot = { index: idx, id: '', name: '', arguments: '', emitted: false };
      this.slots.push(slot);
    }
    if (id && !slot.id) slot.id = id;
    if (name) slot.name = mergeSnapshot(slot.name, name, repeated || name === slot.name);
    if (args) slot.arguments = repeated ? mergeSnapshot(slot.arguments, args, true) : slot.arguments + args;
  }
}

/**
 * Merges a field received again. In snapshot mode a value equal to, or extending,
 * what we have replaces it; a different complete JSON value replaces it too;
 * anything else is treated as the next piece.
 */
function mergeSnapshot(have: string, got: string, snapshot: boolean): string {
  if (have === '') return got;
  if (got === have) return snapshot ? have : have + got;
  if (!snapshot) return have + got;
  if (got.startsWith(have)) return got;
  if (isCompleteJson(have) && isCompleteJson(got)) return got;
  if (isCompleteJson(have) && have.startsWith(got)) return have;
  return have + got;
}
