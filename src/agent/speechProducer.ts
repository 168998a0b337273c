/**
 * Fills a SpeechHandle: either fixed text through TTS, or an LLM answer streamed
 * sentence by sentence into TTS so speech starts before the answer is complete.
 * Everything runs under the handle's AbortSignal: an interrupt aborts the LLM
 * and TTS requests at once. Tool calls are collected; the caller decides what a
 * hang-up means.
 */
import { isAbortError, ProviderError } from '../errors';
import type { ChatMessage, ChatProvider, ChatTool, ToolCall } from '../providers/chat';
import { SentenceSplitter } from '../providers/sentences';
import type { TtsProvider } from '../providers/tts';
import type { SpeechHandle } from './speechHandle';

export interface ProducerTimings {
  /** ms from start to the LLM's first text or tool call. */
  llmFirstTokenMs?: number;
  /** ms from start to the first TTS audio in the handle. */
  ttsFirstAudioMs?: number;
}

export interface ProducerResult {
  ok: boolean;
  aborted: boolean;
  error?: ProviderError;
  toolCalls: ToolCall[];
  text: string;
  timings: ProducerTimings;
}

export interface SubtitleSink {
  /** Streaming text of the sentence being formed (end=false), then the whole sentence (end=true). */
  (text: string, end: boolean): void;
}

/**
 * How far ahead of playback a TTS stream is read (ms of audio in the handle).
 * Enough to hide the next sentence's first-byte delay; beyond it the stream waits.
 */
export const TTS_LOOKAHEAD_MS = 3000;

/** Runs TTS for sentences one after another into the handle, as they come. */
class TtsPipe {
  private chain: Promise<void> = Promise.resolve();
  private failed: unknown = null;
  firstAudioAt: number | null = null;
  private readonly lookAhead: number;

  constructor(
    private readonly tts: TtsProvider,
    private readonly handle: SpeechHandle,
  ) {
    this.lookAhead = Math.round((TTS_LOOKAHEAD_MS * handle.sampleRate) / 1000);
  }

  say(sentence: string): void {
    this.chain = this.chain.then(async () => {
      if (this.failed || this.handle.signal.aborted) return;
      this.handle.addText(sentence);
      try {
        for await (const pcm of this.tts.synthesize(sentence, { sampleRate: this.handle.sampleRate, signal: this.handle.signal })) {
          if (this.firstAudioAt === null) this.firstAudioAt = performance.now();
          this.handle.pushAudio(pcm);
          const room = this.handle.waitForRoom(this.lookAhead);
          if (room) await room;
        }
      } catch (e) {
        this.failed = e;
      }
    });
  }

  async done(): Promise<void> {
    await this.chain;
    if (this.failed) throw this.failed;
  }
}

function asProviderError(e: unknown, code: string): ProviderError {
  return e instanceof ProviderError ? e : new ProviderError(code, (e as Error)?.message ?? String(e), { cause: e });
}

/** Speaks fixed text (split into sentences so long text starts sooner). */
export async function produceTts(handle: SpeechHandle, tts: TtsProvider, text: string, subtitle: SubtitleSink): Promise<ProducerResult> {
  const started = performance.now();
  const pipe = new TtsPipe(tts, handle);
  const splitter = new SentenceSplitter();
  const sentences = [...splitter.push(text)];
  const rest = splitter.flush();
  if (rest) sentences.push(rest);
  for (const s of sentences) {
    subtitle(s, true);
    pipe.say(s);
  }
  try {
    await pipe.done();
    handle.endInput();
    return { ok: true, aborted: false, toolCalls: [], text, timings: { ttsFirstAudioMs: pipe.firstAudioAt ? pipe.firstAudioAt - started : undefined } };
  } catch (e) {
    if (isAbortError(e) || handle.signal.aborted) return { ok: false, aborted: true, toolCalls: [], text, timings: {} };
    const err = asProviderError(e, 'Provider.TTS.Failed');
    handle.fail(err.code);
    return { ok: false, aborted: false, error: err, toolCalls: [], text, timings: {} };
  }
}

/** Streams an LLM answer into TTS. */
export async function produceLlm(
  handle: SpeechHandle,
  chat: ChatProvider,
  tts: TtsProvider,
  messages: ChatMessage[],
  tools: ChatTool[],
  subtitle: SubtitleSink,
): Promise<ProducerResult> {
  const started = performance.now();
  const timings: ProducerTimings = {};
  const pipe = new TtsPipe(tts, handle);
  const splitter = new SentenceSplitter();
  const toolCalls: ToolCall[] = [];
  let text = '';
  try {
    const stream = chat.streamChat({ messages, tools: tools.length ? tools : undefined }, handle.signal);
    for await (const ev of stream) {
      if (timings.llmFirstTokenMs === undefined && ev.type !== 'done') timings.llmFirstTokenMs = performance.now() - started;
      if (ev.type === 'text') {
        text += ev.delta;
        for (const s of splitter.push(ev.delta)) {
          subtitle(s, true);
          pipe.say(s);
        }
        const partial = splitter.pending.trim();
        if (partial) subtitle(partial, false);
      } else if (ev.type === 'tool_call') {
        toolCalls.push({ index: ev.index, id: ev.id, name: ev.name, arguments: ev.arguments });
      }
    }
    const rest = splitter.flush();
    if (rest) {
      subtitle(rest, true);
      pipe.say(rest);
    }
    await pipe.done();
    timings.ttsFirstAudioMs = pipe.firstAudioAt ? pipe.firstAudioAt - started : undefined;
    handle.endInput();
    return { ok: true, aborted: false, toolCalls, text, timings };
  } catch (e) {
    if (isAbortError(e) || handle.signal.aborted) return { ok: false, aborted: true, toolCalls, text, timings };
    const err = asProviderError(e, 'Provider.Failed');
    handle.fail(err.code);
    return { ok: false, aborted: false, error: err, toolCalls, text, timings };
  }
}
