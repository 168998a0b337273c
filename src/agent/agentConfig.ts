/**
 * StartVoiceChat's body → a validated AgentConfig. Field names follow the hosted
 * services (PascalCase); every rejection is an InvalidParameterError whose code
 * names the field (`InvalidParameter.InterruptSpeechDuration`), never a silent clamp.
 */
import { InvalidParameterError } from '../errors';
import type { ChatTool } from '../providers/chat';
import { INTERRUPT_DURATION_MAX, INTERRUPT_DURATION_MIN, type InterruptSettings } from './interruptPolicy';
import type { Priority, SamePriorityOption } from './speechHandle';

export interface LlmSettings {
  mode: 'OpenAI' | 'Demo';
  url?: string;
  model: string;
  apiKey?: string;
  systemPrompt?: string;
  windowSize: number;
  /** LLM function name that means "hang up" (FunctionMap Function=hangup). */
  hangupFunction?: string;
  tools: ChatTool[];
  temperature?: number;
  maxTokens?: number;
  headers?: Record<string, string>;
}

export interface TtsSettings {
  provider: 'espeak' | 'openai';
  url?: string;
  apiKey?: string;
  model?: string;
  voice?: string;
  speed?: number;
  /** PCM rate the OpenAI-compatible server streams (OpenAI: 24000). */
  sourceSampleRate?: number;
}

export interface AsrSettings {
  provider: 'pocketsphinx' | 'openai';
  url?: string;
  apiKey?: string;
  model?: string;
  language?: string;
  /** Silence after the user's last speech that ends the turn (ASRConfig.VADConfig.SilenceTime, ms). */
  endOfTurnMs: number;
}

/** Default end-of-turn silence: long enough for a pause at a comma, short enough to feel quick. */
export const END_OF_TURN_DEFAULT_MS = 600;
export const END_OF_TURN_MIN_MS = 200;
export const END_OF_TURN_MAX_MS = 5000;

export interface IdleSettings {
  timeoutMs: number;
  mode: 'TTS' | 'LLM';
  text: string;
  priority: Priority;
  maxCount: number;
}

export interface AgentConfig {
  roomId: string;
  taskId: string;
  agentUserId: string;
  targetUserIds: string[];
  welcomeMessage?: string;
  llm: LlmSettings;
  tts: TtsSettings;
  asr: AsrSettings;
  interrupt: InterruptSettings;
  idle?: IdleSettings;
}

type Obj = Record<string, unknown>;

export function bad(field: string, message: string): InvalidParameterError {
  return new InvalidParameterError(`InvalidParameter.${field}`, `${field}: ${message}`);
}
function missing(field: string): InvalidParameterError {
  return new InvalidParameterError(`MissingParameter.${field}`, `${field} is required`);
}

export function obj(v: unknown, field: string, required = false): Obj | undefined {
  if (v === undefined || v === null) {
    if (required) throw missing(field);
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(field, 'must be an object');
  return v as Obj;
}

export function str(v: unknown, field: string, opts: { required?: boolean; max?: number; pattern?: RegExp } = {}): string | undefined {
  if (v === undefined || v === null || v === '') {
    if (opts.required) throw missing(field);
    return undefined;
  }
  if (typeof v !== 'string') throw bad(field, 'must be a string');
  if (opts.max !== undefined && v.length > opts.max) throw bad(field, `must be at most ${opts.max} characters (got ${v.length})`);
  if (opts.pattern && !opts.pattern.test(v)) throw bad(field, `has invalid characters (allowed: ${opts.pattern.source})`);
  return v;
}

export function num(v: unknown, field: string, min: number, max: number, opts: { integer?: boolean } = {}): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v))) {
    throw bad(field, `must be ${opts.integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
  if (v < min || v > max) throw bad(field, `must be in [${min}, ${max}] (got ${v})`);
  return v;
}

export function bool(v: unknown, field: string, def: boolean): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw bad(field, 'must be true or false');
  return v;
}

export function oneOf<T extends string>(v: unknown, field: string, values: readonly T[], def: T): T {
  if (v === undefined || v === null || v === '') return def;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw bad(field, `must be one of ${values.join(', ')}`);
  return v as T;
}

export const ID_PATTERN = /^[A-Za-z0-9_.@:-]+$/;
export const PRIORITIES = ['High', 'Medium', 'Low'] as const;
export const SAME_PRIORITY_OPTIONS = ['ClearAndInterrupt', 'Enqueue'] as const;

export function priorityOf(v: unknown): Priority {
  return oneOf(v, 'Priority', PRIORITIES, 'Medium');
}
export function samePriorityOf(v: unknown): SamePriorityOption {
  return oneOf(v, 'SamePriorityOption', SAME_PRIORITY_OPTIONS, 'ClearAndInterrupt');
}

function url(v: unknown, field: string, required: boolean): string | undefined {
  const s = str(v, field, { required, max: 2048 });
  if (s === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw bad(field, 'must be an absolute http(s) URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad(field, 'must be an http(s) URL');
  return s;
}

function parseLlm(v: unknown): LlmSettings {
  const o = obj(v, 'LLMConfig') ?? {};
  const mode = oneOf(o.Mode, 'Mode', ['OpenAI', 'Demo'] as const, o.Url ? 'OpenAI' : 'Demo');
  const systemMessages = o.SystemMessages;
  let systemPrompt = str(o.SystemPrompt, 'SystemPrompt', { max: 20000 });
  if (systemMessages !== undefined) {
    if (!Array.isArray(systemMessages) || !systemMessages.every((m) => typeof m === 'string')) throw bad('SystemMessages', 'must be an array of strings');
    systemPrompt = [systemPrompt, ...(systemMessages as string[])].filter(Boolean).join('\n');
  }
  let hangupFunction: string | undefined;
  if (o.FunctionMap !== undefined) {
    if (!Array.isArray(o.FunctionMap)) throw bad('FunctionMap', 'must be an array of {Function, MatchFunction}');
    for (const [i, entry] of (o.FunctionMap as unknown[]).entries()) {
      const e = obj(entry, `FunctionMap[${i}]`, true)!;
      const fn = str(e.Function, 'FunctionMap.Function', { required: true });
      if (fn !== 'hangup') throw bad('FunctionMap.Function', `unknown built-in function "${fn}"; supported: hangup`);
      hangupFunction = str(e.MatchFunction, 'FunctionMap.MatchFunction', { required: true, max: 64, pattern: /^[A-Za-z0-9_-]+$/ });
    }
  }
  let tools: ChatTool[] = [];
  if (o.Tools !== undefined) {
    if (!Array.isArray(o.Tools)) throw bad('Tools', 'must be an array of OpenAI tool definitions');
    tools = o.Tools as ChatTool[];
    for (const t of tools) if (!t || t.type !== 'function' || typeof t.function?.name !== 'string') throw bad('Tools', 'each tool must be {type:"function", function:{name,...}}');
  }
  if (hangupFunction && !tools.some((t) => t.function.name === hangupFunction)) {
    // Tell the model it may end the call, so FunctionMap works without hand-written tools.
    tools.push({
      type: 'function',
      function: {
        name: hangupFunction,
        description: 'End the call. Say your closing words in the same answer; the call ends after they are spoken.',
        parameters: { type: 'object', properties: { reason: { type: 'string' } } },
      },
    });
  }
  let headers: Record<string, string> | undefined;
  if (o.Headers !== undefined) {
    const h = obj(o.Headers, 'Headers')!;
    for (const [k, val] of Object.entries(h)) if (typeof val !== 'string') throw bad('Headers', `header ${k} must be a string`);
    headers = h as Record<string, string>;
  }
  return {
    mode,
    url: url(o.Url, 'Url', mode === 'OpenAI'),
    model: str(o.ModelName, 'ModelName', { max: 256 }) ?? (mode === 'Demo' ? 'voxbridge-demo-echo' : 'gpt-4o-mini'),
    apiKey: str(o.APIKey, 'APIKey', { max: 4096 }),
    systemPrompt,
    windowSize: num(o.WindowSize, 'WindowSize', 0, 100, { integer: true }) ?? 10,
    hangupFunction,
    tools,
    temperature: num(o.Temperature, 'Temperature', 0, 2),
    maxTokens: num(o.MaxTokens, 'MaxTokens', 1, 32768, { integer: true }),
    headers,
  };
}

function parseTts(v: unknown): TtsSettings {
  const o = obj(v, 'TTSConfig') ?? {};
  const provider = oneOf(o.Provider, 'TTSConfig.Provider', ['espeak', 'openai'] as const, o.Url ? 'openai' : 'espeak');
  return {
    provider,
    url: url(o.Url, 'TTSConfig.Url', provider === 'openai'),
    apiKey: str(o.APIKey, 'TTSConfig.APIKey', { max: 4096 }),
    model: str(o.Model, 'TTSConfig.Model', { max: 256 }),
    voice: str(o.Voice, 'TTSConfig.Voice', { max: 128 }),
    speed: num(o.Speed, 'TTSConfig.Speed', 0.25, 4),
    sourceSampleRate: num(o.SampleRate, 'TTSConfig.SampleRate', 8000, 48000, { integer: true }),
  };
}

function parseAsr(o: Obj): AsrSettings {
  const provider = oneOf(o.Provider, 'ASRConfig.Provider', ['pocketsphinx', 'openai'] as const, o.Url ? 'openai' : 'pocketsphinx');
  const vad = obj(o.VADConfig, 'ASRConfig.VADConfig') ?? {};
  return {
    endOfTurnMs: num(vad.SilenceTime, 'ASRConfig.VADConfig.SilenceTime', END_OF_TURN_MIN_MS, END_OF_TURN_MAX_MS, { integer: true }) ?? END_OF_TURN_DEFAULT_MS,
    provider,
    url: url(o.Url, 'ASRConfig.Url', provider === 'openai'),
    apiKey: str(o.APIKey, 'ASRConfig.APIKey', { max: 4096 }),
    model: str(o.Model, 'ASRConfig.Model', { max: 256 }),
    language: str(o.Language, 'ASRConfig.Language', { max: 16 }),
  };
}

/** InterruptMode 0 (voice interrupts) / 1 (off), with optional InterruptSpeechDuration D. */
export function parseInterrupt(mode: unknown, asrConfig: Obj): InterruptSettings {
  if (mode !== undefined && mode !== 0 && mode !== 1) throw bad('InterruptMode', 'must be 0 (voice interrupts the agent) or 1 (off: manual interrupt only)');
  const ic = obj(asrConfig.InterruptConfig, 'InterruptConfig') ?? {};
  const d = ic.InterruptSpeechDuration;
  if (d !== undefined && d !== null && d !== 0) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < INTERRUPT_DURATION_MIN || d > INTERRUPT_DURATION_MAX) {
      throw bad('InterruptSpeechDuration', `must be an integer number of ms in [${INTERRUPT_DURATION_MIN}, ${INTERRUPT_DURATION_MAX}] (or 0 for immediate); got ${JSON.stringify(d)}`);
    }
  }
  if (mode === 1) return { mode: 'off', durationMs: 0 };
  return typeof d === 'number' && d > 0 ? { mode: 'duration', durationMs: d } : { mode: 'immediate', durationMs: 0 };
}

function parseIdle(v: unknown): IdleSettings | undefined {
  const o = obj(v, 'IdleConfig');
  if (!o) return undefined;
  const mode = oneOf(o.Mode, 'IdleConfig.Mode', ['TTS', 'LLM'] as const, 'TTS');
  return {
    timeoutMs: (num(o.TimeoutSeconds, 'IdleConfig.TimeoutSeconds', 1, 3600) ?? 10) * 1000,
    mode,
    text: str(o.Text, 'IdleConfig.Text', { required: true, max: mode === 'TTS' ? 300 : 4000 })!,
    priority: oneOf(o.Priority, 'IdleConfig.Priority', PRIORITIES, 'Medium'),
    maxCount: num(o.MaxCount, 'IdleConfig.MaxCount', 1, 100, { integer: true }) ?? 1,
  };
}

let taskSeq = 0;

export function parseStartVoiceChat(body: Obj): AgentConfig {
  const roomId = str(body.RoomId, 'RoomId', { required: true, max: 128, pattern: ID_PATTERN })!;
  const agent = obj(body.AgentConfig, 'AgentConfig') ?? {};
  const config = obj(body.Config, 'Config') ?? {};
  const asrObj = obj(config.ASRConfig, 'ASRConfig') ?? {};
  let targets: string[] = [];
  if (agent.TargetUserIds !== undefined) {
    if (!Array.isArray(agent.TargetUserIds) || !agent.TargetUserIds.every((u) => typeof u === 'string' && ID_PATTERN.test(u))) {
      throw bad('TargetUserIds', 'must be an array of user ids');
    }
    targets = agent.TargetUserIds as string[];
  }
  return {
    roomId,
    taskId: str(body.TaskId, 'TaskId', { max: 128, pattern: ID_PATTERN }) ?? `task-${Date.now().toString(36)}-${++taskSeq}`,
    agentUserId: str(agent.UserId, 'AgentConfig.UserId', { max: 128, pattern: ID_PATTERN }) ?? 'voxbridge-agent',
    targetUserIds: targets,
    welcomeMessage: str(agent.WelcomeMessage, 'WelcomeMessage', { max: 300 }),
    llm: parseLlm(config.LLMConfig),
    tts: parseTts(config.TTSConfig),
    asr: parseAsr(asrObj),
    interrupt: parseInterrupt(config.InterruptMode, asrObj),
    idle: parseIdle(config.IdleConfig ?? agent.IdleConfig),
  };
}
