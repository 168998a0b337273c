/**
 * DEMO conversation policy — not an LLM. It lets the bridge run out of the box
 * with no external service: an echo agent that answers "You said: <text>", and,
 * when the user says "bye" / "goodbye", answers with closing words plus a tool
 * call to the configured hang-up function.
 *
 * It speaks the OpenAI streaming protocol internally: it builds the same
 * `chat.completion.chunk` objects a server would send (text in several deltas;
 * the tool call's id and name first, then its arguments in pieces; then the
 * finish_reason) and decodes them with the same ChatStreamDecoder as the HTTP
 * client, so the hang-up path downstream is the real one. Every answer is marked
 * as a demo: model `voxbridge-demo-echo` and `demo: true` on the `done` event.
 */
import { abortError } from './http';
import type { ChatEvent, ChatMessage, ChatProvider, ChatRequest } from './chat';
import { ChatStreamDecoder } from './chatDecoder';

export interface DemoPolicyConfig {
  /** Name of the hang-up tool (LLMConfig.FunctionMap MatchFunction; default 'hangup'). */
  HangupFunction?: string;
  /** Delay between streamed chunks, like a real server (default 15 ms; 0 = none). */
  ChunkDelayMs?: number;
}

export const DEMO_MODEL = 'voxbridge-demo-echo';
export const DEMO_GOODBYE = 'Goodbye, thanks for calling.';
const BYE = /\b(good[\s-]?bye|bye(?:[\s-]?bye)?)\b/i;

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user') return (m.content ?? '').replace(/\s+/g, ' ').trim();
  }
  return '';
}

/** Cuts text into deltas of about `words` words, keeping the spaces. */
function pieces(text: string, words = 2): string[] {
  const tokens = text.match(/\S+\s*/g) ?? [];
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i += words) out.push(tokens.slice(i, i + words).join(''));
  return out;
}

let callSeq = 0;

export class DemoEchoPolicy implements ChatProvider {
  readonly kind = 'demo';

  constructor(private readonly config: DemoPolicyConfig = {}) {}

  /** The chunk objects of the answer to `request`, as an OpenAI server would stream them. */
  answerChunks(request: ChatRequest): Record<string, unknown>[] {
    const heard = lastUserText(request.messages);
    const goodbye = BYE.test(heard);
    let text: string;
    if (goodbye) text = DEMO_GOODBYE;
    else if (heard === '') text = 'I did not catch that. Could you say it again?';
    else text = `You said: ${heard.length > 300 ? heard.slice(0, 300) + '…' : heard}`;

    const id = `chatcmpl-demo-${++callSeq}`;
    const chunk = (delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> => ({
      id,
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model: DEMO_MODEL,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    const out = [chunk({ role: 'assistant', content: '' })];
    for (const p of pieces(text)) out.push(chunk({ content: p }));
    if (!goodbye) {
      out.push(chunk({}, 'stop'));
      return out;
    }
    const name = this.config.HangupFunction ?? 'hangup';
    const callId = `call_demo_${callSeq}`;
    out.push(chunk({ tool_calls: [{ index: 0, id: callId, type: 'function', function: { name, arguments: '' } }] }));
    for (const a of ['{"reason"', ': "user said', ' goodbye"', '}']) {
      out.push(chunk({ tool_calls: [{ index: 0, function: { arguments: a } }] }));
    }
    out.push(chunk({}, 'tool_calls'));
    return out;
  }

  async *streamChat(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent, void, undefined> {
    if (signal.aborted) throw abortError();
    const delay = this.config.ChunkDelayMs ?? 15;
    const decoder = new ChatStreamDecoder({ demo: true });
    for (const c of this.answerChunks(request)) {
      if (delay > 0) await sleep(delay, signal);
      if (signal.aborted) throw abortError();
      for (const ev of decoder.push(c)) {
        yield ev;
        if (signal.aborted) throw abortError();
      }
    }
    yield* decoder.finish();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError());
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
