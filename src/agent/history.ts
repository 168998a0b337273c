/**
 * Conversation history of one agent: what the user said and what the agent was
 * heard saying (cut at the playback position on interrupt). The LLM context is
 * SystemPrompt, then the last WindowSize messages, then the new question.
 */
import type { ChatMessage } from '../providers/chat';

export interface HistoryEntry {
  role: 'user' | 'assistant';
  content: string;
  at: number;
  /** The answer was cut short; content is what was played. */
  interrupted?: boolean;
  /** Where it came from: 'asr', 'llm', 'tts', 'welcome', 'idle', 'api', 'human'. */
  source: string;
}

export class History {
  private readonly entries: HistoryEntry[] = [];

  constructor(private readonly maxEntries = 1000) {}

  add(e: Omit<HistoryEntry, 'at'>): void {
    if (!e.content.trim()) return;
    this.entries.push({ ...e, at: Date.now() });
    if (this.entries.length > this.maxEntries) this.entries.splice(0, this.entries.length - this.maxEntries);
  }

  all(): readonly HistoryEntry[] {
    return this.entries;
  }

  /** SystemPrompt, the last `windowSize` messages, then `question` (if any). */
  context(systemPrompt: string | undefined, windowSize: number, question?: string): ChatMessage[] {
    const msgs: ChatMessage[] = [];
    if (systemPrompt) msgs.push({ role: 'system', content: systemPrompt });
    const window = windowSize > 0 ? this.entries.slice(-windowSize) : [];
    for (const e of window) msgs.push({ role: e.role, content: e.content });
    if (question !== undefined) msgs.push({ role: 'user', content: question });
    return msgs;
  }
}
