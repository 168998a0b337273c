/**
 * Telephony settings (SIP user agent, AudioSocket server, stored agent configs
 * for inbound calls): types, defaults and validation. src/config.ts reads the raw
 * values (file < env < flags) and hands them here; every problem names the
 * setting and where its value came from, like the rest of the configuration.
 */
import { parseStartVoiceChat } from '../agent/agentConfig';
import { isVoxError } from '../errors';

export type SipTransportName = 'udp' | 'tcp';
export type SipCodecName = 'PCMU' | 'PCMA' | 'opus';

export interface SipTrunk {
  /** Name used by StartAIAgentOutboundCall (`Gateway`) and in logs. */
  name: string;
  host: string;
  port: number;
  transport: SipTransportName;
  /** Digest credentials (REGISTER and challenged INVITEs). */
  username?: string;
  password?: string;
  /** Digest user when it differs from the From user (authorization user). */
  authUsername?: string;
  /** SIP domain for From/To/Request-URI (default: host). */
  domain: string;
  /** Register the bridge's contact at this trunk. */
  register: boolean;
  registerExpires: number;
  /** From user of outbound calls (default: username, else "voxbridge"). */
  fromUser: string;
  /** Stored agent for calls arriving from this trunk when no number matches. */
  agent?: string;
}

export interface SipSettings {
  enabled: boolean;
  host: string;
  /** 0 = any free port (the same port for UDP and TCP). */
  port: number;
  transports: SipTransportName[];
  /** Address put in Via/Contact/SDP (default: mediasoup.announcedIp, else host). */
  publicAddress: string | null;
  /** Port range for call RTP (kept apart from the mediasoup workers' range). */
  rtpMinPort: number;
  rtpMaxPort: number;
  /** Codec preference order offered/accepted. */
  codecs: SipCodecName[];
  /** Dialed user part → stored agent name; "*" matches any number. */
  numbers: Record<string, string>;
  trunks: SipTrunk[];
  /** OPTIONS keep-alive to each trunk, seconds (0 = off). */
  optionsIntervalSec: number;
  /** Limits on what a peer can make us hold. */
  maxMessageBytes: number;
  maxCalls: number;
}

export interface AudioSocketSettings {
  enabled: boolean;
  host: string;
  port: number;
  /** Stored agent that answers AudioSocket calls. */
  agent: string;
}

export interface TelephonySettings {
  sip: SipSettings;
  audioSocket: AudioSocketSettings;
  /** Stored agent configurations: name → StartVoiceChat-style body (RoomId optional). */
  agents: Record<string, Record<string, unknown>>;
}

/** The embedded default: the demo echo agent with espeak-ng and pocketsphinx. */
export const DEFAULT_AGENTS: Record<string, Record<string, unknown>> = {
  default: {
    AgentConfig: { WelcomeMessage: 'Hello, this is the voxbridge demo agent.' },
    Config: { LLMConfig: { Mode: 'Demo', FunctionMap: [{ Function: 'hangup', MatchFunction: 'hangup' }] } },
  },
};

export interface RawValue {
  value: unknown;
  from: string;
}

/** Reads the telephony keys from `get` (flat dotted names) and validates them. */
export function parseTelephony(
  get: (key: string) => RawValue | undefined,
  defaults: { host: string; announcedIp: string | null },
  problems: string[],
): TelephonySettings {
  const p = (key: string, r: RawValue, why: string): void => {
    problems.push(`"${key}" ${why} (got ${JSON.stringify(r.value)?.slice(0, 200)} from ${r.from})`);
  };
  const boolean = (key: string, def: boolean): boolean => {
    const r = get(key);
    if (!r) return def;
    if (typeof r.value === 'boolean') return r.value;
    if (r.value === 'true' || r.value === '1') return true;
    if (r.value === 'false' || r.value === '0') return false;
    p(key, r, 'must be true or false');
    return def;
  };
  const int = (key: string, def: number, min: number, max: number): number => {
    const r = get(key);
    if (!r) return def;
    const n = typeof r.value === 'number' ? r.value : typeof r.value === 'string' && /^\d+$/.test(r.value.trim()) ? Number(r.value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      p(key, r, `must be an integer in [${min}, ${max}]`);
      return def;
    }
    return n;
  };
  const string = (key: string, def: string, check?: (s: string) => string | null): string => {
    const r = get(key);
    if (!r) return def;
    if (typeof r.value !== 'string' || !r.value) {
      p(key, r, 'must be a non-empty string');
      return def;
    }
    const why = check?.(r.value);
    if (why) p(key, r, why);
    return r.value;
  };
  const json = (key: string): { r: RawValue; v: unknown } | undefined => {
    const r = get(key);
    if (!r) return undefined;
    if (typeof r.value !== 'string') return { r, v: r.value };
    try {
      return { r, v: JSON.parse(r.value) };
    } catch (e) {
      p(key, r, `must be JSON (${(e as Error).message})`);
      return undefined;
    }
  };
  const list = <T extends string>(key: string, def: T[], allowed: readonly T[]): T[] => {
    const r = get(key);
    if (!r) return def;
    const items = Array.isArray(r.value) ? r.value : typeof r.value === 'string' ? r.value.split(',').map((s) => s.trim()) : null;
    if (!items || !items.length || !items.every((i) => typeof i === 'string' && (allowed as readonly string[]).includes(i))) {
      p(key, r, `must be a list of ${allowed.join(', ')}`);
      return def;
    }
    return [...new Set(items as T[])];
  };
  const host = (s: string): string | null => (/^[A-Za-z0-9.:-]+$/.test(s) ? null : 'must be a host name or IP address');

  // Stored agents first: numbers and trunks refer to them.
  let agents = DEFAULT_AGENTS;
  const ja = json('telephony.agents');
  if (ja) {
    if (!ja.v || typeof ja.v !== 'object' || Array.isArray(ja.v)) p('telephony.agents', ja.r, 'must be an object of name → StartVoiceChat-style body');
    else {
      agents = {};
      for (const [name, body] of Object.entries(ja.v as Record<string, unknown>)) {
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
          p('telephony.agents', ja.r, `has an invalid agent name ${JSON.stringify(name)}`);
          continue;
        }
        if (!body || typeof body !== 'object' || Array.isArray(body)) {
          p(`telephony.agents.${name}`, ja.r, 'must be an object (a StartVoiceChat body)');
          continue;
        }
        try {
          parseStartVoiceChat({ RoomId: 'config-check', ...(body as Record<string, unknown>) });
        } catch (e) {
          p(`telephony.agents.${name}`, ja.r, `is not a valid agent config: ${isVoxError(e) ? `${e.code}: ${e.message}` : String(e)}`);
          continue;
        }
        agents[name] = body as Record<string, unknown>;
      }
    }
  }
  const agentRef = (key: string, name: string, r: RawValue | undefined): void => {
    if (!agents[name]) problems.push(`"${key}" names an unknown stored agent ${JSON.stringify(name)} (from ${r?.from ?? 'default'}); known: ${Object.keys(agents).join(', ')}`);
  };

  let numbers: Record<string, string> = { '*': Object.keys(agents)[0] ?? 'default' };
  const jn = json('sip.numbers');
  if (jn) {
    if (!jn.v || typeof jn.v !== 'object' || Array.isArray(jn.v) || !Object.values(jn.v).every((v) => typeof v === 'string')) {
      p('sip.numbers', jn.r, 'must be an object of dialed number → stored agent name');
    } else {
      numbers = jn.v as Record<string, string>;
      for (const [num, a] of Object.entries(numbers)) {
        if (!/^(\*|[A-Za-z0-9+_.!~*'()&=$,;?/%-]{1,64})$/.test(num)) p('sip.numbers', jn.r, `has an invalid number ${JSON.stringify(num)}`);
        agentRef(`sip.numbers.${num}`, a, jn.r);
      }
    }
  } else if (!agents[numbers['*']]) numbers = {};

  const trunks: SipTrunk[] = [];
  const jt = json('sip.trunks');
  if (jt) {
    if (!Array.isArray(jt.v)) p('sip.trunks', jt.r, 'must be an array of trunks');
    else {
      for (const [i, t] of (jt.v as unknown[]).entries()) {
        const k = `sip.trunks[${i}]`;
        if (!t || typeof t !== 'object' || Array.isArray(t)) {
          p(k, jt.r, 'must be an object');
          continue;
        }
        const o = t as Record<string, unknown>;
        const bad = (field: string, why: string): void => p(`${k}.${field}`, { value: o[field], from: jt.r.from }, why);
        const s = (field: string, required = false): string | undefined => {
          const v = o[field];
          if (v === undefined || v === null) {
            if (required) bad(field, 'is required');
            return undefined;
          }
          if (typeof v !== 'string' || !v || v.length > 256 || /[\s<>"]/.test(v)) {
            bad(field, 'must be a non-empty string without spaces');
            return undefined;
          }
          return v;
        };
        const name = s('name', true) ?? `trunk${i}`;
        const h = s('host', true) ?? '';
        if (h && host(h)) bad('host', host(h)!);
        const port = o.port === undefined ? 5060 : o.port;
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) bad('port', 'must be an integer in [1, 65535]');
        const transport = o.transport === undefined ? 'udp' : o.transport;
        if (transport !== 'udp' && transport !== 'tcp') bad('transport', 'must be "udp" or "tcp"');
        const username = s('username');
        const password = o.password === undefined ? undefined : typeof o.password === 'string' ? o.password : (bad('password', 'must be a string'), undefined);
        const register = o.register === undefined ? false : o.register;
        if (typeof register !== 'boolean') bad('register', 'must be true or false');
        if (register === true && (!username || password === undefined)) bad('register', 'needs username and password');
        const expires = o.registerExpires === undefined ? 300 : o.registerExpires;
        if (typeof expires !== 'number' || !Number.isInteger(expires) || expires < 30 || expires > 86400) bad('registerExpires', 'must be an integer in [30, 86400]');
        const agent = s('agent');
        if (agent) agentRef(`${k}.agent`, agent, jt.r);
        if (trunks.some((x) => x.name === name)) bad('name', 'is used by another trunk');
        trunks.push({
          name,
          host: h,
          port: port as number,
          transport: transport as SipTransportName,
          username,
          password,
          authUsername: s('authUsername'),
          domain: s('domain') ?? h,
          register: register === true,
          registerExpires: expires as number,
          fromUser: s('fromUser') ?? username ?? 'voxbridge',
          agent,
        });
      }
    }
  }

  const sip: SipSettings = {
    enabled: boolean('sip.enabled', false),
    host: string('sip.host', defaults.host, host),
    port: int('sip.port', 5060, 0, 65535),
    transports: list('sip.transports', ['udp', 'tcp'], ['udp', 'tcp'] as const),
    publicAddress: get('sip.publicAddress') ? string('sip.publicAddress', '', host) : defaults.announcedIp,
    rtpMinPort: int('sip.rtpMinPort', 30000, 1024, 65535),
    rtpMaxPort: int('sip.rtpMaxPort', 30999, 1024, 65535),
    codecs: list('sip.codecs', ['PCMU', 'PCMA', 'opus'], ['PCMU', 'PCMA', 'opus'] as const),
    numbers,
    trunks,
    optionsIntervalSec: int('sip.optionsIntervalSec', 30, 0, 3600),
    maxMessageBytes: int('sip.maxMessageBytes', 16384, 1024, 65535),
    maxCalls: int('sip.maxCalls', 100, 1, 10000),
  };
  if (sip.rtpMinPort > sip.rtpMaxPort) problems.push(`"sip.rtpMinPort" (${sip.rtpMinPort}) must not exceed "sip.rtpMaxPort" (${sip.rtpMaxPort})`);
  const audioSocket: AudioSocketSettings = {
    enabled: boolean('audioSocket.enabled', false),
    host: string('audioSocket.host', defaults.host, host),
    port: int('audioSocket.port', 9092, 0, 65535),
    agent: string('audioSocket.agent', Object.keys(agents)[0] ?? 'default'),
  };
  if (audioSocket.enabled) agentRef('audioSocket.agent', audioSocket.agent, get('audioSocket.agent'));
  return { sip, audioSocket, agents };
}

/** Flat setting names → environment variables (merged into config.ts's table). */
export const TELEPHONY_ENV: Record<string, string> = {
  'sip.enabled': 'VOXBRIDGE_SIP_ENABLED',
  'sip.host': 'VOXBRIDGE_SIP_HOST',
  'sip.port': 'VOXBRIDGE_SIP_PORT',
  'sip.transports': 'VOXBRIDGE_SIP_TRANSPORTS',
  'sip.publicAddress': 'VOXBRIDGE_SIP_PUBLIC_ADDRESS',
  'sip.rtpMinPort': 'VOXBRIDGE_SIP_RTP_MIN_PORT',
  'sip.rtpMaxPort': 'VOXBRIDGE_SIP_RTP_MAX_PORT',
  'sip.codecs': 'VOXBRIDGE_SIP_CODECS',
  'sip.numbers': 'VOXBRIDGE_SIP_NUMBERS',
  'sip.trunks': 'VOXBRIDGE_SIP_TRUNKS',
  'sip.optionsIntervalSec': 'VOXBRIDGE_SIP_OPTIONS_INTERVAL_SEC',
  'sip.maxMessageBytes': 'VOXBRIDGE_SIP_MAX_MESSAGE_BYTES',
  'sip.maxCalls': 'VOXBRIDGE_SIP_MAX_CALLS',
  'audioSocket.enabled': 'VOXBRIDGE_AUDIOSOCKET_ENABLED',
  'audioSocket.host': 'VOXBRIDGE_AUDIOSOCKET_HOST',
  'audioSocket.port': 'VOXBRIDGE_AUDIOSOCKET_PORT',
  'audioSocket.agent': 'VOXBRIDGE_AUDIOSOCKET_AGENT',
  'telephony.agents': 'VOXBRIDGE_TELEPHONY_AGENTS',
};

/** Top-level keys of the config file whose members are flattened to `key.member`. */
export const TELEPHONY_SECTIONS = ['sip', 'audioSocket', 'telephony'];
