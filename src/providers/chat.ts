/**
 * Types of the chat (LLM) provider interface, in the OpenAI chat-completions shape.
 * The HTTP client (llm.ts) and the embedded demo policy (demo.ts) both produce
 * `ChatEvent`s through the same decoder (chatDecoder.ts).
 */

export interface ChatToolCallRef {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  name?: string;
  tool_calls?: ChatToolCallRef[];
  tool_call_id?: string;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ChatTool[];
  /** OpenAI `tool_choice` passed through as is ('auto', 'none', or an object). */
  toolChoice?: unknown;
}

/** One complete tool call of an answer. `arguments` is the raw JSON text ('{}' when empty). */
export interface ToolCall {
  index: number;
  id: string;
  name: string;
  arguments: string;
}

export type ChatEvent =
  | { type: 'text'; delta: string }
  | ({ type: 'tool_call' } & ToolCall)
  | {
      type: 'done';
      /** `finish_reason` of the answer ('stop', 'tool_calls', 'length', ...), null if none was sent. */
      finishReason: string | null;
      toolCalls: ToolCall[];
      /** `model` reported by the server. */
      model?: string;
      /** True for answers of the embedded demo policy (not a real LLM). */
      demo?: boolean;
    };

export interface ChatProvider {
  /** Short name for logs and metrics ('openai', 'demo'). */
  readonly kind: string;
  /**
   * Streams one answer. Text deltas are yielded as they arrive; each tool call is
   * yielded once complete; the last event is `done`. Failures are thrown as
   * ProviderError; an aborted signal throws an AbortError (see isAbortError) and
   * releases the connection.
   */
  streamChat(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent, void, undefined>;
}
