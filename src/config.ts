/**
 * Bridge configuration: embedded defaults < JSON file (--config / VOXBRIDGE_CONFIG)
 * < environment variables < command-line flags. Validated once at start; every
 * problem is reported with the field, the value and where it came from.
 */
import fs from 'node:fs';
import os from 'node:os';
import crypto from 'node:crypto';
import { parseTelephony, TELEPHONY_ENV, TELEPHONY_SECTIONS, type TelephonySettings } from './transports/telephonyConfig';


/** The agent's room audio is made this far ahead and sent on time by the native pacer. */
export const DEFAULT_AUDIO_LEAD_MS = 40;
export const DEFAULT_AUDIO_AHEAD_MS = 100;
export interface MediasoupConfig {
  /** Number of mediasoup worker processes (default: one per core). */
  numWorkers: number;
  logLevel: 'debug' | 'warn' | 'error' | 'none';
  rtcMinPort: number;
  rtcMaxPort: number;
  /** IP the WebRTC/Plain transports listen on. */
  listenIp: string;
  /** Public IP announced in ICE candidates / SDP when listening on 0.0.0.0. */
  announcedIp: string | null;
}

export interface BridgeConfig {
  host: string;
  port: number;
  /** Key for the control API (Authorization: Bearer <key> or X-Api-Key). */
  apiKey: string;
  /** True when apiKey was generated at start (printed once so the user can call the API). */
  apiKeyGenerated: boolean;
  /** Secret that signs room join tokens. */
  tokenSecret: string;
  maxSessions: number;
  shutdownTimeoutMs: number;
  /** The web page's demo routes (demo token, built-in demo agent): 'auto' = on when listening on loopback. */
  demo: 'auto' | 'on' | 'off';
  mediasoup: MediasoupConfig;
  /** SIP user agent, AudioSocket server, stored agents for calls (src/transports/telephonyConfig.ts). */
  telephony: TelephonySettings;
  /**
   * Records what each session's barge-in detector is given (user audio with arrival
   * times, the far-end reference) into this directory, for replay with
   * bench/vad/tap.ts (src/agent/vadTap.ts). Off (null) by default.
   */
  vadTapDir: string | null;
  /** Regular expression: the RoomIds whose sessions are recorded (all by default). */
  vadTapRooms: string;
  /**
   * How far ahead of its send time the agent's room audio is made (ms): the native
   * pacer sends each frame on time from its own thread, so the event loop can be held
   * up this long without a late frame. 0 sends at the clock tick (the TS path).
   */
  agentAudioLeadMs: number;
  /**
   * With a lead: while the agent's speech is buffered (TTS faster than real time), its
   * frames are also made up to this far beyond the current frame period (ms), so a hold
   * of the event loop up to lead + this long leaves no late frame. It adds no latency;
   * an interrupt drops the frames queued ahead. The last frame of a speech is still made
   * on its own tick. 0: one frame per period.
   */
  agentAudioAheadMs: number;
  /** The pacer thread's scheduling: 'realtime' (SCHED_FIFO, lowest priority), 'high' (nice -10) or 'normal'; falls back where not permitted. */
  pacerPriority: 'realtime' | 'high' | 'normal';
  /**
   * Where room users' voices are read, decoded and judged (VAD, barge-in): 'thread' =
   * the addon's receive thread, which stops the agent's voice the moment the deciding
   * packet arrives; 'loop' = the event loop. 'thread' needs the addon (else 'loop').
   */
  roomVoiceInput: 'thread' | 'loop';
  /** The receive thread's scheduling: 'high' (nice -10, where permitted) or 'normal'. */
  voiceThreadPriority: 'high' | 'normal';
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super('invalid configuration:\n  - ' + problems.join('\n  - '));
  }
}

type Source = 'default' | 'file' | 'env' | 'flag';
interface Raw {
  value: unknown;
  from: string;
}

const ENV: Record<string, string> = {
  host: 'VOXBRIDGE_HOST',
  port: 'VOXBRIDGE_PORT',
  apiKey: 'VOXBRIDGE_API_KEY',
  tokenSecret: 'VOXBRIDGE_TOKEN_SECRET',
  maxSessions: 'VOXBRIDGE_MAX_SESSIONS',
  shutdownTimeoutMs: 'VOXBRIDGE_SHUTDOWN_TIMEOUT_MS',
  demo: 'VOXBRIDGE_DEMO',
  vadTapDir: 'VOXBRIDGE_VAD_TAP_DIR',
  vadTapRooms: 'VOXBRIDGE_VAD_TAP_ROOMS',
  agentAudioLeadMs: 'VOXBRIDGE_AGENT_AUDIO_LEAD_MS',
  agentAudioAheadMs: 'VOXBRIDGE_AGENT_AUDIO_AHEAD_MS',
  pacerPriority: 'VOXBRIDGE_PACER_PRIORITY',
  roomVoiceInput: 'VOXBRIDGE_ROOM_VOICE_INPUT',
  voiceThreadPriority: 'VOXBRIDGE_VOICE_THREAD_PRIORITY',
  'mediasoup.numWorkers': 'VOXBRIDGE_WORKERS',
  'mediasoup.logLevel': 'VOXBRIDGE_MEDIASOUP_LOG_LEVEL',
  'mediasoup.rtcMinPort': 'VOXBRIDGE_RTC_MIN_PORT',
  'mediasoup.rtcMaxPort': 'VOXBRIDGE_RTC_MAX_PORT',
  'mediasoup.listenIp': 'VOXBRIDGE_LISTEN_IP',
  'mediasoup.announcedIp': 'VOXBRIDGE_ANNOUNCED_IP',
  ...TELEPHONY_ENV,
};

const KNOWN = new Set(Object.keys(ENV));

function flatten(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && (key === 'mediasoup' || TELEPHONY_SECTIONS.includes(key))) Object.assign(out, flatten(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  configFile?: string;
  flags?: Record<string, unknown>;
}

/** Loads and validates; throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions = {}): BridgeConfig {
  const env = opts.env ?? process.env;
  const raw = new Map<string, Raw>();
  const problems: string[] = [];
  const set = (key: string, value: unknown, src: Source, detail: string): void => {
    raw.set(key, { value, from: src === 'default' ? 'default' : `${src} ${detail}` });
  };

  const file = opts.configFile ?? env.VOXBRIDGE_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError([`config file ${file}: ${(e as Error).message}`]);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError([`config file ${file}: must contain a JSON object`]);
    for (const [k, v] of Object.entries(flatten(parsed as Record<string, unknown>))) {
      if (!KNOWN.has(k)) problems.push(`"${k}" (file ${file}): unknown setting; known: ${[...KNOWN].join(', ')}`);
      else set(k, v, 'file', file);
    }
  }
  for (const [key, name] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') set(key, v, 'env', name);
  }
  for (const [k, v] of Object.entries(opts.flags ?? {})) {
    if (v === undefined) continue;
    if (!KNOWN.has(k)) problems.push(`"${k}" (flag): unknown setting`);
    else set(k, v, 'flag', `--${k}`);
  }

  const get = (k: string): Raw | undefined => raw.get(k);
  const int = (k: string, def: number, min: number, max: number): number => {
    const r = get(k);
    if (!r) return def;
    const n = typeof r.value === 'number' ? r.value : typeof r.value === 'string' && /^-?\d+$/.test(r.value.trim()) ? Number(r.value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`"${k}" must be an integer in [${min}, ${max}] (got ${JSON.stringify(r.value)} from ${r.from})`);
      return def;
    }
    return n;
  };
  const str = (k: string, def: string, check?: (s: string) => string | null): string => {
    const r = get(k);
    if (!r) return def;
    if (typeof r.value !== 'string' || r.value.length === 0) {
      problems.push(`"${k}" must be a non-empty string (got ${JSON.stringify(r.value)} from ${r.from})`);
      return def;
    }
    const why = check?.(r.value);
    if (why) problems.push(`"${k}" ${why} (got ${JSON.stringify(r.value)} from ${r.from})`);
    return r.value;
  };
  const ip = (s: string): string | null => (/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(s) ? null : 'must be an IP address');

  const apiKeyRaw = get('apiKey');
  const base: Omit<BridgeConfig, 'telephony'> = {
    host: str('host', '127.0.0.1'),
    port: int('port', 8080, 0, 65535),
    apiKey: str('apiKey', ''),
    apiKeyGenerated: false,
    tokenSecret: str('tokenSecret', ''),
    maxSessions: int('maxSessions', 200, 1, 100000),
    shutdownTimeoutMs: int('shutdownTimeoutMs', 5000, 100, 600000),
    // VOXBRIDGE_DEMO=1/0 (the earlier spelling) still works.
    demo: ({ '1': 'on', '0': 'off' } as Record<string, 'on' | 'off'>)[String(get('demo')?.value)] ??
      (str('demo', 'auto', (v) => (['auto', 'on', 'off'].includes(v) ? null : 'must be auto, on or off')) as BridgeConfig['demo']),
    vadTapDir: get('vadTapDir') ? str('vadTapDir', '') : null,
    vadTapRooms: str('vadTapRooms', '', (v) => {
      try {
        new RegExp(v);
        return null;
      } catch (e) {
        return `must be a regular expression (${(e as Error).message})`;
      }
    }),
    agentAudioLeadMs: int('agentAudioLeadMs', DEFAULT_AUDIO_LEAD_MS, 0, 200),
    agentAudioAheadMs: int('agentAudioAheadMs', DEFAULT_AUDIO_AHEAD_MS, 0, 300),
    pacerPriority: str('pacerPriority', 'realtime', (v) => (['realtime', 'high', 'normal'].includes(v) ? null : 'must be realtime, high or normal')) as BridgeConfig['pacerPriority'],
    roomVoiceInput: str('roomVoiceInput', 'thread', (v) => (['thread', 'loop'].includes(v) ? null : 'must be thread or loop')) as BridgeConfig['roomVoiceInput'],
    voiceThreadPriority: str('voiceThreadPriority', 'high', (v) => (['high', 'normal'].includes(v) ? null : 'must be high or normal')) as BridgeConfig['voiceThreadPriority'],
    mediasoup: {
      numWorkers: int('mediasoup.numWorkers', Math.max(1, os.availableParallelism?.() ?? os.cpus().length), 1, 256),
      logLevel: str('mediasoup.logLevel', 'warn', (s) =>
        ['debug', 'warn', 'error', 'none'].includes(s) ? null : 'must be one of debug, warn, error, none',
      ) as MediasoupConfig['logLevel'],
      rtcMinPort: int('mediasoup.rtcMinPort', 40000, 1024, 65535),
      rtcMaxPort: int('mediasoup.rtcMaxPort', 49999, 1024, 65535),
      listenIp: str('mediasoup.listenIp', '127.0.0.1', ip),
      announcedIp: get('mediasoup.announcedIp') ? str('mediasoup.announcedIp', '', ip) : null,
    },
  };
  const cfg: BridgeConfig = { ...base, telephony: parseTelephony(get, { host: base.host, announcedIp: base.mediasoup.announcedIp }, problems) };
  if (cfg.mediasoup.rtcMinPort > cfg.mediasoup.rtcMaxPort) {
    problems.push(`"mediasoup.rtcMinPort" (${cfg.mediasoup.rtcMinPort}) must not exceed "mediasoup.rtcMaxPort" (${cfg.mediasoup.rtcMaxPort})`);
  }
  if (apiKeyRaw && cfg.apiKey.length < 16) problems.push(`"apiKey" must be at least 16 characters (from ${apiKeyRaw.from})`);
  if (problems.length) throw new ConfigError(problems);
  if (!cfg.apiKey) {
    cfg.apiKey = crypto.randomBytes(18).toString('base64url');
    cfg.apiKeyGenerated = true;
  }
  if (!cfg.tokenSecret) cfg.tokenSecret = crypto.randomBytes(32).toString('base64url');
  return cfg;
}
